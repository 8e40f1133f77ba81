package dashboards

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/idempotency"
)

// Handler serves the dashboards API on /api/v1/dashboards and the public page of
// published answers on /answers.
type Handler struct {
	svc *Service
	log *slog.Logger
}

// NewHandler returns the handler over svc.
func NewHandler(svc *Service, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{svc: svc, log: log}
}

// Routes lists every endpoint of the dashboards API; g is /api/v1 behind the auth
// middleware. The service checks roles again, and narrows what a department sees.
func (h *Handler) Routes(g *gin.RouterGroup) {
	sup := auth.Require(auth.RoleSupervisor)
	supOrDept := auth.Require(auth.RoleSupervisor, auth.RoleDepartment)
	d := g.Group("/dashboards")
	d.GET("/figures", sup, h.handle(h.figures))
	d.GET("/rates", sup, h.handle(h.rates))
	d.GET("/standard", sup, h.handle(h.standard))
	d.GET("/overdue", supOrDept, h.handle(h.overdue))
	d.POST("/overdue/:number/urge", sup, h.handle(h.urge))
	d.GET("/supervisions", sup, h.handle(h.supervisions))
	d.POST("/supervisions", sup, h.handle(h.createSupervision))
	d.GET("/supervisions/:id", sup, h.handle(h.supervision))
	d.PUT("/supervisions/:id", sup, h.handle(h.updateSupervision))
	d.DELETE("/supervisions/:id", sup, h.handle(h.deleteSupervision))
	d.GET("/cards", supOrDept, h.handle(h.cards))
	d.GET("/bulletins/:kind", sup, h.handle(h.bulletin))
	d.POST("/briefs", sup, h.handle(h.brief))
	d.GET("/answers", sup, h.handle(h.answers))
	d.POST("/answers", sup, h.handle(h.publish))
	d.DELETE("/answers/:id", sup, h.handle(h.withdraw))
	g.POST("/cards/:id/acknowledge", auth.Require(auth.RoleDepartment), h.handle(h.acknowledgeCard))
}

// PublicRoutes mounts the published answers (百姓直通车), which need no login.
func (h *Handler) PublicRoutes(e *gin.Engine) {
	e.GET("/answers", h.handle(h.publicAnswers))
	e.GET("/answers/:id", h.handle(h.publicAnswer))
}

func (h *Handler) handle(f api.HandlerFunc) gin.HandlerFunc { return api.Handle(h.log, f) }

// period reads ?period=today|week|month|quarter|year (the one containing ?date, default
// today) or ?period=custom&from=2026-01-01&to=2026-01-31.
func (h *Handler) period(c *gin.Context) (Period, error) {
	at := h.svc.now()
	if s := c.Query("date"); s != "" {
		d, err := time.ParseInLocation(time.DateOnly, s, h.svc.Location())
		if err != nil {
			return Period{}, api.Errorf(api.ErrInvalid, "invalid_date", "date must look like 2026-11-26, not %q", s)
		}
		at = d
	}
	kind := PeriodKind(c.Query("period"))
	if kind == "" && (c.Query("from") != "" || c.Query("to") != "") {
		kind = PeriodCustom
	}
	return PeriodOf(kind, at, c.Query("from"), c.Query("to"), h.svc.Location())
}

func idParam(c *gin.Context) (uint64, error) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		return 0, api.Errorf(api.ErrNotFound, "not_found", "no %s with id %q", "record", c.Param("id"))
	}
	return id, nil
}

func (h *Handler) figures(c *gin.Context) error {
	p, err := h.period(c)
	if err != nil {
		return err
	}
	set, err := h.svc.Figures(c.Request.Context(), auth.Current(c), p, Group(c.Query("group")))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, set)
	return nil
}

func (h *Handler) rates(c *gin.Context) error {
	p, err := h.period(c)
	if err != nil {
		return err
	}
	r, err := h.svc.Ranking(c.Request.Context(), auth.Current(c), p)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, r)
	return nil
}

func (h *Handler) standard(c *gin.Context) error {
	p, err := h.period(c)
	if err != nil {
		return err
	}
	r, err := h.svc.Standard(c.Request.Context(), auth.Current(c), p)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, r)
	return nil
}

func (h *Handler) overdue(c *gin.Context) error {
	page, err := api.ParsePage(c)
	if err != nil {
		return err
	}
	items, more, err := h.svc.Overdue(c.Request.Context(), auth.Current(c), c.Query("department"), page)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"tickets": items, "page": page.Page, "per_page": page.PerPage, "has_more": more})
	return nil
}

func (h *Handler) urge(c *gin.Context) error {
	var in UrgeRequest
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	v, err := h.svc.Urge(c.Request.Context(), auth.Current(c), c.Param("number"), in)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, v)
	return nil
}

func (h *Handler) supervisions(c *gin.Context) error {
	page, err := api.ParsePage(c)
	if err != nil {
		return err
	}
	items, more, err := h.svc.Supervisions(c.Request.Context(), auth.Current(c), c.Query("ticket"), page)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"supervisions": items, "page": page.Page, "per_page": page.PerPage, "has_more": more})
	return nil
}

func (h *Handler) createSupervision(c *gin.Context) error {
	var in SupervisionInput
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	var sv *Supervision
	var err error
	if ref, done := idempotency.Done(c.Request.Context()); done && strings.HasPrefix(ref, "supervision:") {
		// The first try with this Idempotency-Key recorded it; its answer was lost.
		id, perr := strconv.ParseUint(strings.TrimPrefix(ref, "supervision:"), 10, 64)
		if perr != nil {
			return fmt.Errorf("idempotency key linked to %q: %w", ref, perr)
		}
		sv, err = h.svc.Supervision(c.Request.Context(), auth.Current(c), id)
	} else {
		sv, err = h.svc.CreateSupervision(c.Request.Context(), auth.Current(c), in)
	}
	if err != nil {
		return err
	}
	c.Header("Location", "/api/v1/dashboards/supervisions/"+strconv.FormatUint(sv.ID, 10))
	c.JSON(http.StatusCreated, sv)
	return nil
}

func (h *Handler) supervision(c *gin.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	sv, err := h.svc.Supervision(c.Request.Context(), auth.Current(c), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, sv)
	return nil
}

func (h *Handler) updateSupervision(c *gin.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	var in SupervisionInput
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	sv, err := h.svc.UpdateSupervision(c.Request.Context(), auth.Current(c), id, in)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, sv)
	return nil
}

func (h *Handler) deleteSupervision(c *gin.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	if err := h.svc.DeleteSupervision(c.Request.Context(), auth.Current(c), id); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (h *Handler) cards(c *gin.Context) error {
	b, err := h.svc.Board(c.Request.Context(), auth.Current(c), c.Query("month"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, b)
	return nil
}

func (h *Handler) acknowledgeCard(c *gin.Context) error {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		return api.Errorf(api.ErrNotFound, "card_not_found", "no card %q", c.Param("id"))
	}
	v, err := h.svc.AcknowledgeCard(c.Request.Context(), auth.Current(c), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, v)
	return nil
}

func (h *Handler) answers(c *gin.Context) error {
	page, err := api.ParsePage(c)
	if err != nil {
		return err
	}
	items, more, err := h.svc.PublishedAnswers(c.Request.Context(), page)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"answers": items, "page": page.Page, "per_page": page.PerPage, "has_more": more})
	return nil
}

func (h *Handler) publish(c *gin.Context) error {
	var in PublishRequest
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	a, err := h.svc.Publish(c.Request.Context(), auth.Current(c), in)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, a)
	return nil
}

func (h *Handler) withdraw(c *gin.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	if err := h.svc.Withdraw(c.Request.Context(), auth.Current(c), id); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}
