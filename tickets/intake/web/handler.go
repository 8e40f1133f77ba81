package web

import (
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/tickets"
)

// Options configure the web channel. Zero values take the defaults noted on each field.
type Options struct {
	Store *tickets.Store
	Live  *live.Store // nil: limits and used tokens are kept in this process only
	Log   *slog.Logger
	Now   func() time.Time
	// Secret signs the form tokens. Every instance behind one address must share it; when
	// empty a random key is made, which is right for a single instance.
	Secret string
	// MinFillTime is how old a form token must be before it is accepted (default 3s);
	// MaxFormAge how old it may be (default 4h).
	MinFillTime time.Duration
	MaxFormAge  time.Duration
	// SubmitLimit is how many reports one address may send per window (default 5 per hour).
	SubmitLimit Limit
	// LookupLimit is how many failed status look-ups one address may have per window
	// (default 10 per hour, sliding), whatever numbers it tries.
	LookupLimit Limit
	// LookupPairLimit is how many failed look-ups of one ticket number one address may
	// have per window (default 5 per hour, sliding). There is deliberately no limit per
	// number alone: it would let a stranger lock the citizen out of their own ticket.
	LookupPairLimit Limit
	// MaxPhotos (default 3) and PhotoMaxBytes (default 5 MiB) bound the photos of a report.
	MaxPhotos     int
	PhotoMaxBytes int64
	// DefaultCategory is the category code of a report whose sender chose none; empty
	// makes the choice required.
	DefaultCategory string
	// Audit records the status page's refusals (a client over a look-up limit); nil
	// records nothing.
	Audit *audit.Log
}

// Handler serves the report form and the status page.
type Handler struct {
	opts     Options
	log      *slog.Logger
	tokens   *formTokens
	submits  *windowLimiter
	lookIP   *windowLimiter // per client address
	lookPair *windowLimiter // per ticket number and client address
	refusals refusalLog
	pages    map[string]*template.Template

	dirMu sync.Mutex
	dir   *directoryView
}

// actor is who registers web tickets. It acts as a desk operator: registration and
// attaching the photos are desk actions, and the timeline shows "operator:web".
var actor = &auth.Principal{Name: "web", DisplayName: "网上诉求", Role: auth.RoleOperator}

//go:embed templates/*.html
var templateFS embed.FS

// formScript makes the township list follow the chosen banner/district. The form works
// without it: the townships are then one list grouped by district, and the store refuses
// a township outside the district with a message.
//
//go:embed report.js
var formScript []byte

func serveScript(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=3600")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, "text/javascript; charset=utf-8", formScript)
}

// NewHandler checks opts and parses the pages.
func NewHandler(opts Options) (*Handler, error) {
	if opts.Store == nil {
		return nil, errors.New("web: a ticket store is required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MinFillTime <= 0 {
		opts.MinFillTime = 3 * time.Second
	}
	if opts.MaxFormAge <= 0 {
		opts.MaxFormAge = 4 * time.Hour
	}
	if opts.SubmitLimit == (Limit{}) {
		opts.SubmitLimit = Limit{N: 5, Window: time.Hour}
	}
	if opts.LookupLimit == (Limit{}) {
		opts.LookupLimit = Limit{N: 10, Window: time.Hour}
	}
	if opts.LookupPairLimit == (Limit{}) {
		opts.LookupPairLimit = Limit{N: 5, Window: time.Hour}
	}
	if opts.MaxPhotos <= 0 {
		opts.MaxPhotos = 3
	}
	if opts.PhotoMaxBytes <= 0 {
		opts.PhotoMaxBytes = 5 << 20
	}
	key := []byte(opts.Secret)
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("web: form token key: %w", err)
		}
	} else if len(key) < 16 {
		return nil, errors.New("web: the form token secret must be at least 16 characters long")
	}
	log := opts.Log.With("component", "web_form")
	h := &Handler{
		opts:     opts,
		log:      log,
		tokens:   &formTokens{key: key, minAge: opts.MinFillTime, maxAge: opts.MaxFormAge, store: opts.Live, used: map[string]time.Time{}},
		submits:  newWindowLimiter(opts.Live, "submits", opts.SubmitLimit, log),
		lookIP:   newSlidingLimiter(opts.Live, "lookup_failures_addr", opts.LookupLimit, log),
		lookPair: newSlidingLimiter(opts.Live, "lookup_failures_pair", opts.LookupPairLimit, log),
		pages:    map[string]*template.Template{},
	}
	funcs := template.FuncMap{
		"datetime": func(v any) string {
			var t time.Time
			switch x := v.(type) {
			case time.Time:
				t = x
			case *time.Time:
				if x != nil {
					t = *x
				}
			}
			if t.IsZero() {
				return ""
			}
			return t.Format("2006-01-02 15:04")
		},
	}
	for _, page := range []string{"report", "done", "status"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parse %s page: %w", page, err)
		}
		h.pages[page] = t
	}
	return h, nil
}

// Routes mounts the pages. They sit outside /api/v1 and need no login.
func (h *Handler) Routes(r gin.IRouter) {
	r.GET("/report", h.showReport)
	r.GET("/report.js", serveScript)
	r.POST("/report", h.submitReport)
	r.GET("/status", h.showStatus)
	r.POST("/status", h.lookUp)
}

func (h *Handler) now() time.Time { return h.opts.Now() }

// render writes a page. The headers keep the pages from being framed, from loading
// anything but themselves, and from being cached (they carry personal data and tokens).
func (h *Handler) render(c *gin.Context, status int, page string, data any) {
	w := c.Writer
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := h.pages[page].Execute(w, data); err != nil {
		// The status line has gone out; all that is left is to log it.
		h.log.ErrorContext(c.Request.Context(), "render page", "page", page, "err", err)
	}
}

// renderPlainError is the last resort when even a page cannot be built.
func renderPlainError(c *gin.Context, status int, msg string) {
	c.Data(status, "text/plain; charset=utf-8", []byte(msg))
}
