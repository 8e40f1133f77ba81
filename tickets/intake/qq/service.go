package qq

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/tickets"
)

// Options configure the QQ channel.
type Options struct {
	Store *tickets.Store
	Live  *live.Store
	Log   *slog.Logger
	Now   func() time.Time
	// APIURL is the OneBot HTTP API; empty to call the API over reverse WebSockets only.
	APIURL string
	// AccessToken is sent to the API and required on the reverse WebSocket (and, when no
	// Secret is set, on event posts as a bearer token).
	AccessToken string
	// Secret verifies event posts' X-Signature (HMAC-SHA1 of the body).
	Secret string
	// Category is the category code QQ reports are registered under (default TS).
	Category      string
	Timeout       time.Duration
	ImageMaxBytes int64
	// HTTPClient calls the API and fetches images; default a client with timeouts.
	HTTPClient *http.Client
}

// Service is the QQ channel: the event endpoints, the bot and the reply worker.
type Service struct {
	opts    Options
	log     *slog.Logger
	hub     *hub
	api     *API
	bot     *Bot
	replies *Replier
	base    context.Context // lives until Close; events are handled under it
	stop    context.CancelFunc
}

// New builds the channel.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Live == nil {
		return nil, errors.New("qq: a ticket store and a live store are required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Category == "" {
		opts.Category = "TS"
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	log := opts.Log.With("component", "qq")
	if opts.Secret == "" && opts.AccessToken == "" {
		log.Warn("qq: neither secret nor access_token is set: anybody who reaches /onebot/v11 can post events")
	}
	h := newHub()
	a := &API{BaseURL: opts.APIURL, AccessToken: opts.AccessToken, Client: opts.HTTPClient, hub: h}
	replies := NewReplier(opts.Store, a, log, opts.Now)
	bot := NewBot(BotOptions{Store: opts.Store, Live: opts.Live, Send: a, Log: log, Category: opts.Category,
		Timeout: opts.Timeout, Fetch: imageFetcher{Client: opts.HTTPClient, MaxBytes: opts.ImageMaxBytes}, Replies: replies})
	base, stop := context.WithCancel(context.Background())
	return &Service{opts: opts, log: log, hub: h, api: a, bot: bot, replies: replies, base: base, stop: stop}, nil
}

// Replies is the reply worker's pass.
func (s *Service) Replies() *Replier { return s.replies }

// Close ends the reverse WebSocket connections and the events being handled.
func (s *Service) Close() {
	s.hub.closeAll()
	s.stop()
}

// Routes mounts the event endpoints.
func (s *Service) Routes(r gin.IRouter) {
	r.POST("/onebot/v11/events", s.post)
	r.GET("/onebot/v11/ws", s.websocket)
	// Implementations configured with separate API and event sockets use these; the role
	// header says which is which.
	r.GET("/onebot/v11/ws/api", s.websocket)
	r.GET("/onebot/v11/ws/event", s.websocket)
}

// eventTimeout bounds the handling of one event (a registration fetches images).
const eventTimeout = 2 * time.Minute

// post receives an event by HTTP POST.
func (s *Service) post(c *gin.Context) {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, maxEventBytes+1))
	if err != nil {
		api.WriteError(c, s.log, api.Errorf(api.ErrInvalid, "unreadable_body", "the event body could not be read: %v", err))
		return
	}
	if len(body) > maxEventBytes {
		api.WriteError(c, s.log, api.Errorf(api.ErrTooLarge, "event_too_large", "the event is over %d bytes", maxEventBytes))
		return
	}
	switch {
	case s.opts.Secret != "":
		if !validSignature(s.opts.Secret, body, c.GetHeader("X-Signature")) {
			s.log.WarnContext(c, "qq event with a missing or forged signature refused", "client", c.ClientIP())
			api.WriteError(c, s.log, api.Errorf(api.ErrForbidden, "bad_signature", "X-Signature does not match the body"))
			return
		}
	case s.opts.AccessToken != "":
		if !s.tokenOK(c) {
			api.WriteError(c, s.log, api.Errorf(api.ErrForbidden, "bad_token", "the access token is missing or wrong"))
			return
		}
	}
	ev, err := DecodeEvent(body)
	if err != nil {
		api.WriteError(c, s.log, api.Errorf(api.ErrInvalid, "invalid_event", "%v", err))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), eventTimeout)
	defer cancel()
	if err := s.bot.Handle(ctx, ev); err != nil {
		s.log.ErrorContext(ctx, "qq event not handled", "self_id", ev.SelfID, "user_id", ev.UserID, "message_id", ev.MessageID, "err", err)
		api.WriteError(c, s.log, api.Errorf(api.ErrUnavailable, "not_handled", "the event could not be handled"))
		return
	}
	c.Status(http.StatusNoContent)
}

// validSignature checks "sha1=<hex HMAC-SHA1 of body>".
func validSignature(secret string, body []byte, header string) bool {
	got, ok := strings.CutPrefix(strings.TrimSpace(header), "sha1=")
	if !ok {
		return false
	}
	sum, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(sum, m.Sum(nil))
}

// Sign is the X-Signature value for body, as a OneBot implementation computes it.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return "sha1=" + hex.EncodeToString(m.Sum(nil))
}

// tokenOK checks "Authorization: Bearer <token>" (or Token <token>, or ?access_token=).
func (s *Service) tokenOK(c *gin.Context) bool {
	got := c.Query("access_token")
	if h := c.GetHeader("Authorization"); h != "" {
		scheme, cred, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "Token") {
			got = strings.TrimSpace(cred)
		}
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.AccessToken)) == 1
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:  4096,
	WriteBufferSize: 4096,
	// Bots are not browsers; the access token, not the origin, is what admits them.
	CheckOrigin: func(*http.Request) bool { return true },
}

// websocket accepts a reverse WebSocket from a OneBot implementation (roles Universal,
// API or Event). Events are handled in order on their own goroutine, so that the read
// loop stays free to deliver the answers of the API calls that handling makes.
func (s *Service) websocket(c *gin.Context) {
	if s.opts.AccessToken != "" && !s.tokenOK(c) {
		status := http.StatusForbidden
		if c.GetHeader("Authorization") == "" && c.Query("access_token") == "" {
			status = http.StatusUnauthorized
		}
		c.AbortWithStatusJSON(status, api.Body{Error: api.BodyError{Code: "bad_token", Message: "the access token is missing or wrong"}})
		return
	}
	self, err := strconv.ParseInt(c.GetHeader("X-Self-ID"), 10, 64)
	if err != nil || self <= 0 {
		api.WriteError(c, s.log, api.Errorf(api.ErrInvalid, "no_self_id", "the X-Self-ID header must carry the bot's QQ number"))
		return
	}
	role := c.GetHeader("X-Client-Role")
	conn, err := upgrader.Upgrade(c.Writer, c.Request, nil)
	if err != nil {
		return // the upgrader has answered
	}
	log := s.log.With("self_id", self, "role", role)
	ws := newWSConn(conn, ID(self), log)
	s.hub.add(ws, role != "Event")
	log.Info("onebot connected")
	defer func() {
		s.hub.remove(ws)
		ws.close()
		log.Info("onebot disconnected")
	}()
	conn.SetReadLimit(maxEventBytes)

	events := make(chan *Event, 256)
	handled := make(chan struct{})
	go func() {
		defer close(handled)
		for ev := range events {
			s.handle(ev)
		}
	}()
	defer func() { close(events); <-handled }()
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		var probe struct {
			PostType string          `json:"post_type"`
			Echo     json.RawMessage `json:"echo"`
		}
		if json.Unmarshal(data, &probe) == nil && probe.PostType == "" && len(probe.Echo) > 0 {
			var r apiResponse
			if err := json.Unmarshal(data, &r); err == nil {
				ws.answer(r)
			}
			continue
		}
		ev, err := DecodeEvent(data)
		if err != nil {
			log.Warn("onebot frame is not an event", "err", err)
			continue
		}
		select {
		case events <- ev:
		default:
			// A burst: handle this one aside rather than stall the API answers.
			go s.handle(ev)
		}
	}
}

func (s *Service) handle(ev *Event) {
	ctx, cancel := context.WithTimeout(s.base, eventTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("qq event handling panicked", "self_id", ev.SelfID, "message_id", ev.MessageID, "panic", fmt.Sprint(r))
		}
	}()
	if err := s.bot.Handle(ctx, ev); err != nil {
		s.log.ErrorContext(ctx, "qq event not handled", "self_id", ev.SelfID, "user_id", ev.UserID, "message_id", ev.MessageID, "err", err)
	}
}
