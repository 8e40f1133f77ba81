package open311

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// TokenAuthenticator checks an integrator token; *auth.Service is the real one.
type TokenAuthenticator interface {
	AuthenticateToken(ctx context.Context, bearer string) (*auth.Token, error)
}

// Options configure the API.
type Options struct {
	Store  *tickets.Store
	Tokens TokenAuthenticator // nil: only Keys are accepted
	Log    *slog.Logger
	// JurisdictionID is the one jurisdiction served; empty accepts any or none.
	JurisdictionID string
	// Keys are api_keys accepted besides integrator tokens.
	Keys []string
	// PublicChannels are the channels whose tickets the read endpoints show (default:
	// open311 only). "*" shows all.
	PublicChannels []tickets.Channel
	Now            func() time.Time
}

// Handler serves /open311/v2/.
type Handler struct {
	opts Options
	log  *slog.Logger
}

// keyPrincipal registers the tickets posted with a configured key.
var keyPrincipal = &auth.Principal{Name: "open311", DisplayName: "Open311", Role: auth.RoleIntegrator}

// reader is who the public read endpoints read as: they show only what the code below
// picks out, never a whole ticket.
var reader = &auth.Principal{Name: "open311", DisplayName: "Open311", Role: auth.RoleIntegrator}

// NewHandler returns the API.
func NewHandler(opts Options) (*Handler, error) {
	if opts.Store == nil {
		return nil, errors.New("open311: a ticket store is required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if len(opts.PublicChannels) == 0 {
		opts.PublicChannels = []tickets.Channel{tickets.ChannelOpen311}
	}
	for _, ch := range opts.PublicChannels {
		if ch != "*" && !ch.Valid() {
			return nil, errors.New("open311: unknown public channel " + string(ch))
		}
	}
	for _, k := range opts.Keys {
		if len(k) < 16 {
			return nil, errors.New("open311: every api key must be at least 16 characters long")
		}
	}
	return &Handler{opts: opts, log: opts.Log.With("component", "open311")}, nil
}

// maxBody bounds a posted request: form fields only, photos come as media_url.
const maxBody = 64 << 10

// Routes mounts the API. The specification's paths put the format in the last segment
// (services.json, requests/123.xml), which a router's parameters cannot split, so one
// catch-all per method dispatches by path here.
func (h *Handler) Routes(r gin.IRouter) {
	r.GET("/open311/v2/*path", h.dispatch)
	r.POST("/open311/v2/*path", h.dispatch)
}

func (h *Handler) dispatch(c *gin.Context) {
	path := strings.TrimPrefix(c.Param("path"), "/")
	dir, file := "", path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir, file = path[:i], path[i+1:]
	}
	f := formatJSON
	name := file
	if i := strings.LastIndexByte(file, '.'); i >= 0 {
		name = file[:i]
		switch ext := file[i+1:]; ext {
		case "json":
		case "xml":
			f = formatXML
		default:
			writeError(c, formatJSON, errorf(http.StatusNotFound, "unknown format "+ext+"; use .json or .xml"))
			return
		}
	} else {
		writeError(c, formatJSON, errorf(http.StatusNotFound, "the path must end in .json or .xml"))
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)
	if err := c.Request.ParseForm(); err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			writeError(c, f, errorf(http.StatusRequestEntityTooLarge, "the request body is over the limit of 64 KiB"))
			return
		}
		writeError(c, f, errorf(http.StatusBadRequest, "the request body is not a valid form: "+err.Error()))
		return
	}
	if err := api.CheckForm(c.Request.Form, nil); err != nil {
		writeError(c, f, errorf(http.StatusBadRequest, err.Error()))
		return
	}
	if err := h.checkJurisdiction(c); err != nil {
		writeError(c, f, err)
		return
	}
	post := c.Request.Method == http.MethodPost
	var err *specError
	switch {
	case dir == "" && name == "services" && !post:
		err = h.services(c, f)
	case dir == "services" && name != "" && !post:
		err = h.serviceDefinition(c, f, name)
	case dir == "" && name == "requests" && post:
		err = h.postRequest(c, f)
	case dir == "" && name == "requests":
		err = h.listRequests(c, f)
	case dir == "requests" && name != "" && !post:
		err = h.getRequest(c, f, name)
	case dir == "tokens" && name != "" && !post:
		err = h.getToken(c, f, name)
	case post:
		err = errorf(http.StatusMethodNotAllowed, "POST is allowed only on requests."+string(f))
	default:
		err = errorf(http.StatusNotFound, "no such Open311 resource: "+path)
	}
	if err != nil {
		writeError(c, f, err)
	}
}

func (h *Handler) checkJurisdiction(c *gin.Context) *specError {
	j := strings.TrimSpace(c.Request.FormValue("jurisdiction_id"))
	if j == "" || h.opts.JurisdictionID == "" || j == h.opts.JurisdictionID {
		return nil
	}
	return errorf(http.StatusNotFound, "jurisdiction_id "+j+" is not served here; this server serves "+h.opts.JurisdictionID)
}

// principal checks the api_key and returns who posts with it.
func (h *Handler) principal(ctx context.Context, key string) (*auth.Principal, *specError) {
	key = strings.TrimSpace(key)
	if key == "" {
		return nil, errorf(http.StatusForbidden, "api_key is required to post a service request")
	}
	for _, k := range h.opts.Keys {
		if subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 {
			return keyPrincipal, nil
		}
	}
	if h.opts.Tokens != nil && strings.HasPrefix(key, auth.TokenPrefix) {
		t, err := h.opts.Tokens.AuthenticateToken(ctx, key)
		switch {
		case errors.Is(err, api.ErrUnauthorized):
		case err != nil:
			h.log.ErrorContext(ctx, "api_key check failed", "err", err)
			return nil, errorf(http.StatusServiceUnavailable, "the api_key cannot be checked now; try again later")
		case t.Role == auth.RoleIntegrator || t.Role == auth.RoleAdmin:
			p := t.Principal()
			if !p.HasScope(auth.ScopeOpen311) {
				return nil, errorf(http.StatusForbidden, "this api_key lacks scope open311; an administrator can issue a token that has it")
			}
			return p, nil
		}
	}
	return nil, errorf(http.StatusForbidden, "api_key is invalid")
}

// serverError logs a failure that is not the client's and answers without details.
func (h *Handler) serverError(ctx context.Context, what string, err error) *specError {
	if errors.Is(err, api.ErrUnavailable) {
		return errorf(http.StatusServiceUnavailable, "service temporarily unavailable; try again later")
	}
	h.log.ErrorContext(ctx, what, "err", err)
	return errorf(http.StatusInternalServerError, "internal error; the failure has been logged")
}
