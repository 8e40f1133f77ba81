package ivr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/pii"
)

// Handler serves the telephone API: operators' queue log-in and state, the live picture
// and its event stream, call records, recordings, hand-offs and the rates.
type Handler struct {
	ctrl *Controller // nil on an instance that does not run the controller
	live *Live
	db   *gorm.DB
	cfg  config.IVR
	// prompts are the prompt texts (nil: not offered here).
	prompts *Prompts
	ops     map[string]string
	loc     *time.Location
	log     *slog.Logger
	// audit records supervisors' listen-ins (nil: not recorded).
	audit *audit.Log
	// stopping ends event streams at shutdown (nil: never).
	stopping <-chan struct{}
}

// HandlerOptions build a Handler.
type HandlerOptions struct {
	Controller *Controller
	Live       *Live
	DB         *gorm.DB
	Settings   config.IVR
	// Prompts are the prompt texts an administrator rewords; nil: the routes answer 503.
	Prompts  *Prompts
	Location *time.Location
	Log      *slog.Logger
	// Audit, when set, records every listen-in, whisper and barge-in.
	Audit *audit.Log
	// Stopping, when set, is closed when the server begins to shut down: open event
	// streams end then instead of holding the shutdown until its timeout.
	Stopping <-chan struct{}
}

// NewHandler returns the API handler.
func NewHandler(o HandlerOptions) *Handler {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	h := &Handler{ctrl: o.Controller, live: o.Live, db: o.DB, cfg: o.Settings, prompts: o.Prompts, ops: map[string]string{}, loc: o.Location, log: o.Log, stopping: o.Stopping, audit: o.Audit}
	for _, s := range o.Settings.Operators {
		name, dial, _ := config.ParseNamedDial(s)
		h.ops[name] = dial
	}
	return h
}

// Routes lists the endpoints; g is /api/v1 behind the auth middleware.
func (h *Handler) Routes(g *gin.RouterGroup) {
	desk := auth.Require(auth.RoleOperator, auth.RoleSupervisor)
	g.POST("/ivr/agents/me/login", desk, h.handle(h.login))
	g.POST("/ivr/agents/me/logout", desk, h.handle(h.logout))
	g.POST("/ivr/agents/me/state", desk, h.handle(h.state))
	g.GET("/ivr/live", desk, h.handle(h.liveSnapshot))
	g.GET("/ivr/events", desk, h.handle(h.events))
	g.GET("/ivr/calls", desk, h.handle(h.calls))
	g.GET("/ivr/calls/:id", desk, h.handle(h.call))
	g.GET("/ivr/calls/:id/recording", desk, h.handle(h.recording))
	g.POST("/ivr/calls/:id/transfer", desk, h.handle(h.transfer))
	g.POST("/ivr/calls/:id/control", desk, h.handle(h.control))
	g.POST("/ivr/calls/:id/monitor", auth.Require(auth.RoleSupervisor), h.handle(h.monitor))
	g.GET("/ivr/stats", desk, h.handle(h.stats))
	admin := auth.Require(auth.RoleAdmin)
	g.GET("/ivr/prompts", admin, h.handle(h.promptTexts))
	g.PUT("/ivr/prompts", admin, h.handle(h.savePromptTexts))
}

func (h *Handler) promptTexts(c *gin.Context) error {
	if h.prompts == nil {
		return api.Errorf(api.ErrUnavailable, "prompts_off", "the prompt texts are not available on this instance")
	}
	list, err := h.prompts.List(c.Request.Context())
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"prompts": list})
	return nil
}

// savePromptTexts rewords prompts: {"prompts": {"welcome-mayor": "您好……"}}; prompts not
// named keep their text. The answer names what changed and what must follow: the audio
// is rendered by `rexian prompts` and installed on every Asterisk node.
func (h *Handler) savePromptTexts(c *gin.Context) error {
	if h.prompts == nil {
		return api.Errorf(api.ErrUnavailable, "prompts_off", "the prompt texts are not available on this instance")
	}
	var in struct {
		Prompts map[string]string `json:"prompts"`
	}
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	list, changed, err := h.prompts.Save(c.Request.Context(), auth.Current(c), in.Prompts)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"prompts": list, "changed": changed, "next": PromptsNextStep})
	return nil
}

// PromptsNextStep is what has to follow a rewording before callers hear it.
const PromptsNextStep = "run `rexian prompts` with rexian's configuration and copy the files to the sounds folder of every Asterisk node (deploy/asterisk/README.md)"

func (h *Handler) handle(f api.HandlerFunc) gin.HandlerFunc { return api.Handle(h.log, f) }

// LoginRequest is an operator joining the queue.
type LoginRequest struct {
	// Phone is the dial string of the operator's phone (PJSIP/8001, Local/8001@agents);
	// empty takes the one configured for the user under ivr.operators.
	Phone string `json:"phone"`
	// Skills limit which queues ring the operator; empty means all.
	Skills []string `json:"skills"`
}

// errNoController: nothing runs the telephone controller.
func errNoController() error {
	return api.Errorf(api.ErrUnavailable, "ivr_off", "the telephone controller is not running on any instance (set REXIAN_ARI_URL)")
}

// command sends cmd to the instance that controls the calls. When none listens (the
// moment of a take-over) the command is refused with 503 and Retry-After rather than
// lost: nothing was done, and the operator tries again.
func (h *Handler) command(ctx context.Context, cmd command) error {
	err := h.live.send(ctx, cmd)
	switch {
	case errors.Is(err, errNoReceiver):
		return api.Errorf(api.ErrUnavailable, "no_controller_now",
			"no instance controls the telephone at this moment (a take-over after a failure takes a few seconds); nothing was done: try again shortly")
	case err != nil:
		return api.Errorf(api.ErrUnavailable, "live_down", "the live store is unreachable: %v", err)
	}
	return nil
}

// local reports whether this instance's controller keeps the queue: it then answers
// from its own state; a standby (or an instance without telephony) asks the live store
// and sends commands to the one that controls the calls.
func (h *Handler) local() bool { return h.ctrl != nil && h.ctrl.Controlling() }

// controllerRunning reports whether this instance or another runs the controller.
func (h *Handler) controllerRunning(ctx context.Context) bool {
	if h.local() {
		return true
	}
	s, err := h.live.Snapshot(ctx)
	return err == nil && s != nil
}

func (h *Handler) login(c *gin.Context) error {
	var in LoginRequest
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	p := auth.Current(c)
	in.Phone = strings.TrimSpace(in.Phone)
	if in.Phone == "" {
		in.Phone = h.ops[p.Name]
	}
	if in.Phone == "" {
		return api.Errorf(api.ErrInvalid, "no_phone", "name the phone to ring (e.g. PJSIP/8001): none is configured for %s under ivr.operators", p.Name)
	}
	if !config.ValidDialString(in.Phone) || len(in.Phone) > 128 {
		return api.Errorf(api.ErrInvalid, "invalid_phone", "%q is not a dial string (Tech/resource, e.g. PJSIP/8001)", in.Phone)
	}
	skills := make([]string, 0, len(in.Skills))
	known := map[string]bool{}
	for _, q := range h.cfg.Queues {
		known[q.Skill] = true
	}
	for _, s := range in.Skills {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !known[s] {
			return api.Errorf(api.ErrInvalid, "unknown_skill", "skill %q is not used by any queue", s)
		}
		skills = append(skills, s)
	}
	name := p.DisplayName
	if name == "" {
		name = p.Name
	}
	ctx := c.Request.Context()
	if h.local() {
		a := h.ctrl.acd.login(p.Name, name, in.Phone, skills)
		c.JSON(http.StatusOK, a)
		return nil
	}
	if !h.controllerRunning(ctx) {
		return errNoController()
	}
	if err := h.command(ctx, command{Op: "login", User: p.Name, Name: name, Phone: in.Phone, Skills: skills}); err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, Agent{User: p.Name, Name: name, Phone: in.Phone, Skills: skills, State: AgentReady})
	return nil
}

func (h *Handler) logout(c *gin.Context) error {
	p := auth.Current(c)
	if h.local() {
		if !h.ctrl.acd.logout(p.Name) {
			return api.Errorf(api.ErrNotFound, "not_logged_in", "%s is not logged into the queue", p.Name)
		}
		c.Status(http.StatusNoContent)
		return nil
	}
	if !h.controllerRunning(c.Request.Context()) {
		return errNoController()
	}
	if err := h.command(c.Request.Context(), command{Op: "logout", User: p.Name}); err != nil {
		return err
	}
	c.Status(http.StatusAccepted)
	return nil
}

// StateRequest switches an operator between ready and not ready (paused). Ready also
// ends a wrap-up early.
type StateRequest struct {
	State string `json:"state"` // ready or paused
	// Reason is one of ivr.pause_reasons (小休, 培训, 会议, 就餐 by default); empty
	// takes the first.
	Reason string `json:"reason"`
}

func (h *Handler) state(c *gin.Context) error {
	var in StateRequest
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	if in.State != string(AgentReady) && in.State != string(AgentPaused) {
		return api.Errorf(api.ErrInvalid, "invalid_state", "state must be ready or paused, not %q", in.State)
	}
	in.Reason = strings.TrimSpace(in.Reason)
	if in.State == string(AgentReady) {
		in.Reason = ""
	} else if reasons := h.cfg.Reasons(); in.Reason == "" {
		in.Reason = reasons[0]
	} else if !slices.Contains(reasons, in.Reason) && in.Reason != PauseUnreachable && in.Reason != PauseNoAnswer {
		// The controller's own reasons are accepted too: a browser phone that has not
		// registered yet joins as unreachable.
		return api.Errorf(api.ErrInvalid, "invalid_reason", "reason must be one of %s, not %q", strings.Join(reasons, ", "), in.Reason)
	}
	p := auth.Current(c)
	if h.local() {
		a, ok := h.ctrl.acd.setState(p.Name, in.State == string(AgentReady), in.Reason)
		if !ok {
			return api.Errorf(api.ErrConflict, "not_logged_in", "%s is not logged into the queue: log in first", p.Name)
		}
		c.JSON(http.StatusOK, a)
		return nil
	}
	if !h.controllerRunning(c.Request.Context()) {
		return errNoController()
	}
	op := "ready"
	if in.State == string(AgentPaused) {
		op = "pause"
	}
	if err := h.command(c.Request.Context(), command{Op: op, User: p.Name, Reason: in.Reason}); err != nil {
		return err
	}
	c.Status(http.StatusAccepted)
	return nil
}

func (h *Handler) liveSnapshot(c *gin.Context) error {
	s, err := h.ctrl.Picture(c.Request.Context(), h.live)
	if err != nil {
		return api.Errorf(api.ErrUnavailable, "live_down", "the live store is unreachable: %v", err)
	}
	if s == nil {
		return errNoController()
	}
	c.JSON(http.StatusOK, maskedSnapshot(auth.Current(c), s))
	return nil
}

// maskedSnapshot is the live picture as p may see it: the waiting callers' numbers
// masked for a principal not shown citizens' numbers (a wall screen's token without scope
// personal:read). The desk's own people see them: they answer those calls.
func maskedSnapshot(p *auth.Principal, s *Snapshot) *Snapshot {
	if s == nil || p.SeesPersonal() {
		return s
	}
	out := *s
	out.Waiting = slices.Clone(s.Waiting)
	for i := range out.Waiting {
		out.Waiting[i].Caller = phone.Mask(out.Waiting[i].Caller)
	}
	return &out
}

// maskedMessage is a live message as p may see it (see maskedSnapshot): the caller's
// number of a call or screen-pop masked, and the citizens of the screen-pop's tickets.
func maskedMessage(p *auth.Principal, m Message) Message {
	if p.SeesPersonal() {
		return m
	}
	m.Snapshot = maskedSnapshot(p, m.Snapshot)
	if m.Call != nil {
		ev := *m.Call
		ev.Caller = phone.Mask(ev.Caller)
		m.Call = &ev
	}
	if m.Pop != nil {
		pop := *m.Pop
		pop.Caller = phone.Mask(pop.Caller)
		pop.Tickets = slices.Clone(pop.Tickets)
		for i := range pop.Tickets {
			pop.Tickets[i].CitizenPhone = phone.Mask(pop.Tickets[i].CitizenPhone)
		}
		m.Pop = &pop
	}
	return m
}

// events streams live messages as server-sent events: the picture, calls, and screen-pops
// for the operator (supervisors see every screen-pop).
func (h *Handler) events(c *gin.Context) error {
	p := auth.Current(c)
	msgs, cancel := h.live.Hub().Subscribe()
	defer cancel()
	c.Header("Cache-Control", "no-store")
	c.Header("X-Accel-Buffering", "no") // nginx must not hold events back
	// Start with the current picture, so a screen needs no second request.
	if h.local() {
		s := h.ctrl.Snapshot()
		c.SSEvent("snapshot", maskedMessage(p, Message{Type: "snapshot", At: s.At, Snapshot: &s}))
	} else if s, err := h.live.Snapshot(c.Request.Context()); err == nil && s != nil {
		c.SSEvent("snapshot", maskedMessage(p, Message{Type: "snapshot", At: s.At, Snapshot: s}))
	}
	c.Writer.Flush()
	keepAlive := time.NewTicker(20 * time.Second)
	defer keepAlive.Stop()
	ctx := c.Request.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.stopping:
			return nil // the client reconnects to another instance or after the restart
		case <-keepAlive.C:
			_, _ = io.WriteString(c.Writer, ": keep-alive\n\n")
			c.Writer.Flush()
		case m, ok := <-msgs:
			if !ok {
				return nil
			}
			if m.For != "" && m.For != p.Name && !p.Is(auth.RoleSupervisor) {
				continue
			}
			c.SSEvent(m.Type, maskedMessage(p, m))
			c.Writer.Flush()
		}
	}
}

func (h *Handler) calls(c *gin.Context) error {
	page, err := api.ParsePage(c)
	if err != nil {
		return err
	}
	p := auth.Current(c)
	if c.Query("caller") != "" && !p.SeesPersonal() {
		return api.Errorf(api.ErrForbidden, "insufficient_scope",
			"searching calls by the caller's number needs scope %s; this token lacks it", auth.ScopePersonal)
	}
	recs, more, err := ListCalls(c.Request.Context(), h.db, h.loc, c.Request.URL.Query(), page)
	if err != nil {
		return err
	}
	if err := ShowCallers(c.Request.Context(), h.audit, p, "the API's call list", recs); err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"calls": recs, "page": page.Page, "per_page": page.PerPage, "has_more": more})
	return nil
}

// callsQuery is the call records that query asks for, with the filters of GET
// /ivr/calls: from, to, hotline, caller, operator, ticket, direction, outcome, ended and
// in_target. The consoles' call list and its download use it too, so that a figure's
// link lists in the console exactly what the API would.
func callsQuery(ctx context.Context, db *gorm.DB, loc *time.Location, query url.Values) (*gorm.DB, error) {
	q, err := periodFilter(db.WithContext(ctx).Model(&Record{}), loc, query)
	if err != nil {
		return nil, err
	}
	if v := query.Get("caller"); v != "" {
		// Sealed at rest: found through its blind index.
		q = q.Where(pii.Is(db, "caller", "caller_idx", v))
	}
	for _, k := range []string{"operator", "ticket_number"} {
		key := k
		if k == "ticket_number" {
			key = "ticket"
		}
		if v := query.Get(key); v != "" {
			q = q.Where(k+" = ?", v)
		}
	}
	return listFilter(query, q)
}

// ListCalls is one page of the call records query asks for (see callsQuery), newest
// first, and whether more follow.
func ListCalls(ctx context.Context, db *gorm.DB, loc *time.Location, query url.Values, page api.Page) ([]Record, bool, error) {
	q, err := callsQuery(ctx, db, loc, query)
	if err != nil {
		return nil, false, err
	}
	var recs []Record
	if err := q.Order("id DESC").Offset(page.Offset()).Limit(page.PerPage + 1).Find(&recs).Error; err != nil {
		return nil, false, fmt.Errorf("list calls: %w", err)
	}
	more := len(recs) > page.PerPage
	if more {
		recs = recs[:page.PerPage]
	}
	return recs, more, nil
}

// EachCall hands every call record query asks for to fn, newest first, batch by batch
// (keyed on the id, so that a long list is read in bounded steps without offsets).
func EachCall(ctx context.Context, db *gorm.DB, loc *time.Location, query url.Values, fn func([]Record) error) error {
	const batch = 1000
	var last uint64
	for {
		q, err := callsQuery(ctx, db, loc, query)
		if err != nil {
			return err
		}
		if last > 0 {
			q = q.Where("id < ?", last)
		}
		var recs []Record
		if err := q.Order("id DESC").Limit(batch).Find(&recs).Error; err != nil {
			return fmt.Errorf("read calls: %w", err)
		}
		if len(recs) == 0 {
			return nil
		}
		if err := fn(recs); err != nil {
			return err
		}
		if len(recs) < batch {
			return nil
		}
		last = recs[len(recs)-1].ID
	}
}

// filter applies from, to and hotline.
func (h *Handler) filter(c *gin.Context, q *gorm.DB) (*gorm.DB, error) {
	return periodFilter(q, h.loc, c.Request.URL.Query())
}

// periodFilter applies from, to (the arrival time) and hotline.
func periodFilter(q *gorm.DB, loc *time.Location, query url.Values) (*gorm.DB, error) {
	for _, name := range []string{"from", "to"} {
		s := query.Get(name)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			if t, err = time.ParseInLocation("2006-01-02", s, loc); err != nil {
				return nil, api.Errorf(api.ErrInvalid, "invalid_"+name, "%s must be an RFC 3339 time or a date (2026-01-31), not %q", name, s)
			}
		}
		if name == "from" {
			q = q.Where("arrived_at >= ?", t.UTC())
		} else {
			q = q.Where("arrived_at < ?", t.UTC())
		}
	}
	if v := query.Get("hotline"); v != "" {
		q = q.Where("hotline = ?", v)
	}
	return q, nil
}

// Directions are the directions a call record has.
var Directions = []string{"inbound", "callback", "survey"}

// Outcomes are the outcomes a finished call may have: the inbound and call-back ones,
// then the survey calls' ("survey_" and how the survey call went).
var Outcomes = []Outcome{OutcomeAnswered, OutcomeAbandonedMenu, OutcomeAbandonedQueue, OutcomeVoicemail, OutcomeBusy,
	OutcomeStatusLookup, OutcomeCallback, OutcomeNoMessage, OutcomeFailed, OutcomeFallback,
	"survey_" + Outcome(SurveyAnswered), "survey_" + Outcome(SurveyNoAnswer), "survey_" + Outcome(SurveyBusy),
	"survey_" + Outcome(SurveyFailed), "survey_" + Outcome(SurveyHungUp), "survey_" + Outcome(SurveyNoKey)}

// listFilter applies the list's direction, outcome (one or a comma-separated list: any
// of them), ended (an outcome is set) and in_target, with which the dashboards' call
// figures link to exactly the calls they count.
func listFilter(query url.Values, q *gorm.DB) (*gorm.DB, error) {
	if v := query.Get("direction"); v != "" {
		if !slices.Contains(Directions, v) {
			return nil, api.Errorf(api.ErrInvalid, "invalid_direction", "direction must be one of %s, not %q", strings.Join(Directions, ", "), v)
		}
		q = q.Where("direction = ?", v)
	}
	if v := query.Get("outcome"); v != "" {
		var in []Outcome
		for _, x := range strings.Split(v, ",") {
			o := Outcome(strings.TrimSpace(x))
			if !slices.Contains(Outcomes, o) {
				valid := make([]string, len(Outcomes))
				for i, o := range Outcomes {
					valid[i] = string(o)
				}
				return nil, api.Errorf(api.ErrInvalid, "invalid_outcome", "outcome %q is not one of %s (several: comma-separated)", o, strings.Join(valid, ", "))
			}
			in = append(in, o)
		}
		q = q.Where("outcome IN ?", in)
	}
	for _, name := range []string{"ended", "in_target"} {
		v := query.Get(name)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, api.Errorf(api.ErrInvalid, "invalid_"+name, "%s must be true or false, not %q", name, v)
		}
		switch {
		case name == "ended" && b:
			q = q.Where("outcome <> ''")
		case name == "ended":
			q = q.Where("(outcome = '' OR outcome IS NULL)")
		default:
			q = q.Where("in_target = ?", b)
		}
	}
	return q, nil
}

func (h *Handler) record(c *gin.Context) (*Record, error) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil {
		return nil, api.Errorf(api.ErrInvalid, "invalid_id", "call id must be a number, not %q", c.Param("id"))
	}
	var rec Record
	err = h.db.WithContext(c.Request.Context()).First(&rec, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, api.Errorf(api.ErrNotFound, "call_not_found", "no call %d", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read call %d: %w", id, err)
	}
	return &rec, nil
}

// ownCall reads the call of the path, which only its operator or a supervisor may act on.
func (h *Handler) ownCall(c *gin.Context) (*Record, error) {
	rec, err := h.record(c)
	if err != nil {
		return nil, err
	}
	if p := auth.Current(c); rec.Operator != p.Name && !p.Is(auth.RoleSupervisor) {
		return nil, api.Errorf(api.ErrForbidden, "not_your_call", "only the operator on call %d or a supervisor can act on it", rec.ID)
	}
	return rec, nil
}

func (h *Handler) call(c *gin.Context) error {
	rec, err := h.record(c)
	if err != nil {
		return err
	}
	one := []Record{*rec}
	if err := ShowCallers(c.Request.Context(), h.audit, auth.Current(c), "the API", one); err != nil {
		return err
	}
	c.JSON(http.StatusOK, one[0])
	return nil
}

// ShowCallers readies recs' callers' numbers for p: masked for a principal not shown
// citizens' numbers (a token without scope personal:read), else recorded in the audit
// log as seen, through via. An error means the view was not recorded: the caller then
// shows nothing.
func ShowCallers(ctx context.Context, log *audit.Log, p *auth.Principal, via string, recs []Record) error {
	var ids []string
	for i := range recs {
		if recs[i].Caller == "" {
			continue
		}
		if !p.SeesPersonal() {
			recs[i].Caller = phone.Mask(recs[i].Caller)
			continue
		}
		ids = append(ids, strconv.FormatUint(recs[i].ID, 10))
	}
	return log.RecordViewed(ctx, "call", "calls", via, ids...)
}

// recording streams a call's audio from Asterisk: the voice message, or with
// ?kind=conversation the bridge recording.
func (h *Handler) recording(c *gin.Context) error {
	rec, err := h.record(c)
	if err != nil {
		return err
	}
	name := rec.Voicemail
	if c.Query("kind") == "conversation" || name == "" {
		name = rec.Recording
	}
	if name == "" {
		return api.Errorf(api.ErrNotFound, "no_recording", "call %d has no recording", rec.ID)
	}
	if h.ctrl == nil {
		return errNoController()
	}
	n := h.ctrl.nodeNamed(rec.Node)
	if n == nil {
		return api.Errorf(api.ErrUnavailable, "node_unknown", "the Asterisk node %q that holds the recording is not configured here", rec.Node)
	}
	body, ctype, err := n.rest.recordingFile(c.Request.Context(), name)
	if gone(err) {
		return api.Errorf(api.ErrNotFound, "recording_gone", "Asterisk no longer has recording %s", name)
	}
	if err != nil {
		return api.Errorf(api.ErrUnavailable, "asterisk_down", "cannot fetch the recording from Asterisk: %v", err)
	}
	defer body.Close()
	if ctype == "" {
		ctype = "audio/wav"
	}
	c.Header("Content-Disposition", fmt.Sprintf("inline; filename=\"call-%d.wav\"", rec.ID))
	c.DataFromReader(http.StatusOK, -1, ctype, body, nil)
	return nil
}

// TransferRequest hands the caller to an emergency number.
type TransferRequest struct {
	Target string `json:"target"` // 110, 119, 120 (ivr.emergency)
}

func (h *Handler) transfer(c *gin.Context) error {
	var in TransferRequest
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	rec, err := h.ownCall(c)
	if err != nil {
		return err
	}
	p := auth.Current(c)
	if rec.EndedAt != nil {
		return api.Errorf(api.ErrConflict, "call_ended", "call %d has ended", rec.ID)
	}
	if h.local() {
		err := h.ctrl.transfer(rec.ID, in.Target, p.Actor())
		switch {
		case errors.Is(err, errUnknownTarget):
			return api.Errorf(api.ErrInvalid, "unknown_target", "%v", err)
		case errors.Is(err, ErrNoCall):
			return api.Errorf(api.ErrConflict, "call_ended", "call %d is not in progress", rec.ID)
		case err != nil:
			return err
		}
		c.JSON(http.StatusAccepted, gin.H{"call_id": rec.ID, "target": in.Target})
		return nil
	}
	if !h.controllerRunning(c.Request.Context()) {
		return errNoController()
	}
	if err := h.command(c.Request.Context(), command{Op: "transfer", User: p.Actor(), CallID: rec.ID, Target: in.Target}); err != nil {
		return err
	}
	c.JSON(http.StatusAccepted, gin.H{"call_id": rec.ID, "target": in.Target})
	return nil
}

// Stats are the supervisors' call figures for a period.
type Stats struct {
	Calls      int64 `json:"calls"`
	Answered   int64 `json:"answered"`    // talked to a person
	Abandoned  int64 `json:"abandoned"`   // hung up in the menu or the queue
	Voicemails int64 `json:"voicemails"`  // left a voice message
	Busy       int64 `json:"busy"`        // met all lines busy
	SelfServed int64 `json:"self_served"` // status lookups
	Callbacks  int64 `json:"callbacks"`
	// InTarget: answered by a person within the target (15 s) of entering the queue, as
	// GB/T 33358 counts; InTargetArrival: within the target of the call's arrival.
	InTarget        int64 `json:"answered_in_target"`
	InTargetArrival int64 `json:"answered_in_target_from_arrival"`
	// AnswerRate (接通率): calls that reached a person or left a message, over calls;
	// ServiceLevel: answered by a person within the target, over calls that wanted a
	// person (ServiceLevelArrival: the same counted from the arrival).
	AnswerRate          float64 `json:"answer_rate"`
	AbandonRate         float64 `json:"abandon_rate"`
	ServiceLevel        float64 `json:"service_level"`
	ServiceLevelArrival float64 `json:"service_level_from_arrival"`
	AvgWaitSeconds      float64 `json:"avg_wait_seconds"`
}

func (h *Handler) stats(c *gin.Context) error {
	q := h.db.WithContext(c.Request.Context()).Model(&Record{}).Where("direction = ?", "inbound").Where("outcome <> ''")
	q, err := h.filter(c, q)
	if err != nil {
		return err
	}
	var rows []struct {
		Outcome         string
		N               int64
		InTarget        int64
		InTargetArrival int64
		WaitSum         int64
	}
	err = q.Select("outcome, COUNT(*) AS n, SUM(CASE WHEN in_target THEN 1 ELSE 0 END) AS in_target, " +
		"SUM(CASE WHEN in_target_arrival THEN 1 ELSE 0 END) AS in_target_arrival, SUM(wait_ms) AS wait_sum").
		Group("outcome").Scan(&rows).Error
	if err != nil {
		return fmt.Errorf("call stats: %w", err)
	}
	var s Stats
	var waitSum int64
	for _, r := range rows {
		s.Calls += r.N
		s.InTarget += r.InTarget
		s.InTargetArrival += r.InTargetArrival
		switch Outcome(r.Outcome) {
		case OutcomeAnswered:
			s.Answered += r.N
			waitSum += r.WaitSum
		case OutcomeAbandonedMenu, OutcomeAbandonedQueue:
			s.Abandoned += r.N
		case OutcomeVoicemail:
			s.Voicemails += r.N
		case OutcomeBusy:
			s.Busy += r.N
		case OutcomeStatusLookup:
			s.SelfServed += r.N
		case OutcomeCallback:
			s.Callbacks += r.N
		}
	}
	if s.Calls > 0 {
		s.AnswerRate = float64(s.Answered+s.Voicemails+s.SelfServed+s.Callbacks) / float64(s.Calls)
		s.AbandonRate = float64(s.Abandoned) / float64(s.Calls)
	}
	if wanted := s.Answered + s.Abandoned + s.Voicemails + s.Busy + s.Callbacks; wanted > 0 {
		s.ServiceLevel = float64(s.InTarget) / float64(wanted)
		s.ServiceLevelArrival = float64(s.InTargetArrival) / float64(wanted)
	}
	if s.Answered > 0 {
		s.AvgWaitSeconds = float64(waitSum) / float64(s.Answered) / 1000
	}
	c.JSON(http.StatusOK, s)
	return nil
}
