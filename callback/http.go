package callback

import (
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/phone"
)

// Handler serves the surveys' REST API: the list (and the manual callback list), answers
// recorded by hand, and the figures.
type Handler struct {
	svc   *Service
	log   *slog.Logger
	audit *audit.Log
}

// WithAudit has every showing of citizens' unmasked phone numbers recorded in log.
func (h *Handler) WithAudit(log *audit.Log) *Handler {
	h.audit = log
	return h
}

// shown records that p was shown the unmasked phone numbers of surveys, through via;
// p shown them masked records nothing. An error means the view was not recorded: the
// handler then shows nothing.
func (h *Handler) shown(c *gin.Context, p *auth.Principal, via string, surveys ...View) error {
	if !p.SeesPersonal() {
		return nil
	}
	var ids []string
	for _, v := range surveys {
		if v.Phone != "" {
			ids = append(ids, strconv.FormatUint(v.ID, 10))
		}
	}
	return h.audit.RecordViewed(c.Request.Context(), "survey", "surveys", via, ids...)
}

// NewHandler returns the API handler over svc.
func NewHandler(svc *Service, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{svc: svc, log: log}
}

// Routes lists every endpoint; g is /api/v1 behind the auth middleware.
func (h *Handler) Routes(g *gin.RouterGroup) {
	desk := auth.Require(auth.RoleOperator, auth.RoleSupervisor)
	g.GET("/callback/surveys", desk, h.handle(h.surveys))
	g.GET("/callback/manual", desk, h.handle(h.manual))
	g.GET("/callback/surveys/:id", desk, h.handle(h.survey))
	g.POST("/callback/surveys/:id/answer", desk, h.handle(h.answer))
	g.GET("/callback/stats", auth.Require(auth.RoleSupervisor, auth.RoleOperator), h.handle(h.stats))
}

func (h *Handler) handle(f api.HandlerFunc) gin.HandlerFunc { return api.Handle(h.log, f) }

// filter reads the list's query: status, result (one or a comma-separated list),
// ticket, since, and what the dashboards' survey links ask for: from and to (completion
// time, [from, to)), department, district, category, channel and counted.
func (h *Handler) filter(c *gin.Context) (Filter, error) {
	return ParseFilter(c.Request.URL.Query(), h.svc.opts.Location)
}

// ParseFilter reads a survey list's query (see Handler.filter); the consoles' survey
// list and its download read theirs with it, so that they list what the API would.
func ParseFilter(query url.Values, loc *time.Location) (Filter, error) {
	f := Filter{Status: Status(query.Get("status")), Ticket: strings.TrimSpace(query.Get("ticket")),
		Department: query.Get("department"), District: query.Get("district"), Category: query.Get("category"), Channel: query.Get("channel")}
	if f.Status != "" && !f.Status.Valid() {
		return f, api.Errorf(api.ErrInvalid, "invalid_status", "status %q is not one of %v", f.Status, Statuses)
	}
	if v := query.Get("result"); v != "" {
		for _, x := range strings.Split(v, ",") {
			r := Result(strings.TrimSpace(x))
			if !r.Valid() {
				return f, api.Errorf(api.ErrInvalid, "invalid_result", "result %q is not one of %v", r, Results)
			}
			f.Results = append(f.Results, r)
		}
	}
	for _, x := range []struct {
		name string
		dst  **time.Time
	}{{"since", &f.Since}, {"from", &f.From}, {"to", &f.To}} {
		if v := query.Get(x.name); v != "" {
			t, err := parseTime(x.name, v, loc)
			if err != nil {
				return f, err
			}
			*x.dst = &t
		}
	}
	if v := query.Get("counted"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, api.Errorf(api.ErrInvalid, "invalid_counted", "counted must be true or false, not %q", v)
		}
		f.Counted = &b
	}
	return f, nil
}

func (h *Handler) list(c *gin.Context, f Filter) error {
	page, err := api.ParsePage(c)
	if err != nil {
		return err
	}
	// A token without scope personal:read sees the numbers masked.
	p := auth.Current(c)
	out, more, err := h.svc.Surveys(c.Request.Context(), f, page, !p.SeesPersonal())
	if err == nil {
		err = h.shown(c, p, "the API's survey list", out...)
	}
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"surveys": out, "page": page.Page, "per_page": page.PerPage, "has_more": more})
	return nil
}

func (h *Handler) surveys(c *gin.Context) error {
	f, err := h.filter(c)
	if err != nil {
		return err
	}
	return h.list(c, f)
}

func (h *Handler) manual(c *gin.Context) error {
	f, err := h.filter(c)
	if err != nil {
		return err
	}
	f.Status = StatusManual
	return h.list(c, f)
}

func surveyID(c *gin.Context) (uint64, error) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		return 0, api.Errorf(api.ErrInvalid, "invalid_id", "survey id %q is not a positive whole number", c.Param("id"))
	}
	return id, nil
}

func (h *Handler) survey(c *gin.Context) error {
	id, err := surveyID(c)
	if err != nil {
		return err
	}
	p := auth.Current(c)
	v, err := h.svc.Find(c.Request.Context(), id, !p.SeesPersonal())
	if err == nil {
		err = h.shown(c, p, "the API", v)
	}
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, v)
	return nil
}

func (h *Handler) answer(c *gin.Context) error {
	id, err := surveyID(c)
	if err != nil {
		return err
	}
	var in ManualAnswer
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	p := auth.Current(c)
	v, err := h.svc.Record(c.Request.Context(), p, id, in)
	if err != nil {
		return err
	}
	if !p.SeesPersonal() {
		v.Phone = phone.Mask(v.Phone)
	} else if err := h.shown(c, p, "the API's answer", v); err != nil {
		// The answer is recorded; only its echo is withheld.
		return err
	}
	c.JSON(http.StatusOK, v)
	return nil
}

func (h *Handler) stats(c *gin.Context) error {
	loc := h.svc.opts.Location
	now := h.svc.now().In(loc)
	f := StatsFilter{Group: Group(c.DefaultQuery("group", string(GroupDepartment))),
		From: time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc), To: now.Add(time.Second)}
	if v := c.Query("from"); v != "" {
		t, err := parseTime("from", v, loc)
		if err != nil {
			return err
		}
		f.From = t
	}
	if v := c.Query("to"); v != "" {
		t, err := parseTime("to", v, loc)
		if err != nil {
			return err
		}
		if len(v) == len("2006-01-02") { // a date names the whole day
			t = t.AddDate(0, 0, 1)
		}
		f.To = t
	}
	st, err := h.svc.Stats(c.Request.Context(), f)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, st)
	return nil
}

// parseTime reads RFC 3339 or a date (midnight in the city's zone).
func parseTime(field, v string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", v, loc); err == nil {
		return t, nil
	}
	return time.Time{}, api.Errorf(api.ErrInvalid, "invalid_time", "%s %q is neither a date (2026-11-26) nor an RFC 3339 time", field, v)
}
