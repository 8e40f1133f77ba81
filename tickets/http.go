package tickets

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/idempotency"
)

// Handler serves the tickets REST API.
type Handler struct {
	store *Store
	log   *slog.Logger
}

// NewHandler returns the API handler over store.
func NewHandler(store *Store, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{store: store, log: log}
}

// Routes lists every endpoint of the tickets API; g is /api/v1 behind the auth middleware.
func (h *Handler) Routes(g *gin.RouterGroup) {
	staff := auth.Require(auth.RoleOperator, auth.RoleSupervisor, auth.RoleDepartment, auth.RoleIntegrator)
	admin := auth.Require(auth.RoleAdmin)
	g.POST("/tickets", auth.Require(auth.RoleOperator, auth.RoleSupervisor, auth.RoleIntegrator), h.handle(h.create))
	g.GET("/tickets", staff, h.handle(h.list))
	g.GET("/tickets/:number", staff, h.handle(h.get))
	g.GET("/tickets/:number/duplicates", auth.Require(auth.RoleOperator, auth.RoleSupervisor), h.handle(h.duplicates))
	g.POST("/tickets/:number/attachments", auth.Require(auth.RoleOperator, auth.RoleSupervisor, auth.RoleDepartment), h.handle(h.attach))
	g.GET("/tickets/:number/attachments/:id", staff, h.handle(h.attachment))
	g.POST("/tickets/:number/:action", auth.Require(auth.RoleOperator, auth.RoleSupervisor, auth.RoleDepartment), h.handle(h.act))

	g.GET("/departments", staff, h.handle(h.departments))
	g.POST("/departments", admin, h.handle(h.saveDepartment))
	g.GET("/categories", staff, h.handle(h.categories))
	g.POST("/categories", admin, h.handle(h.saveCategory))
	g.GET("/refusal-reasons", staff, h.handle(h.refusalReasons))
	g.PUT("/refusal-reasons", admin, h.handle(h.saveRefusalReasons))
}

func (h *Handler) handle(f api.HandlerFunc) gin.HandlerFunc { return api.Handle(h.log, f) }

func (h *Handler) create(c *gin.Context) error {
	var in NewTicket
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	var v *View
	var err error
	if number, done := idempotency.Done(c.Request.Context()); done {
		// The first request with this Idempotency-Key registered it; its answer was lost.
		v, err = h.store.Find(c.Request.Context(), auth.Current(c), number)
	} else {
		v, err = h.store.Create(c.Request.Context(), auth.Current(c), in)
	}
	if err != nil {
		return err
	}
	c.Header("Location", "/api/v1/tickets/"+v.Number)
	c.JSON(http.StatusCreated, v)
	return nil
}

func (h *Handler) get(c *gin.Context) error {
	v, err := h.store.Find(c.Request.Context(), auth.Current(c), c.Param("number"))
	if err != nil {
		return err
	}
	if err := h.store.RecordView(c.Request.Context(), auth.Current(c), "the API", v.Number); err != nil {
		return err
	}
	c.JSON(http.StatusOK, v)
	return nil
}

func (h *Handler) list(c *gin.Context) error {
	page, err := api.ParsePage(c)
	if err != nil {
		return err
	}
	f, err := h.parseFilter(c)
	if err != nil {
		return err
	}
	items, more, err := h.store.List(c.Request.Context(), auth.Current(c), f, page)
	if err != nil {
		return err
	}
	if err := h.store.RecordListView(c.Request.Context(), auth.Current(c), "the API's ticket list", items); err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"tickets": items, "page": page.Page, "per_page": page.PerPage, "has_more": more})
	return nil
}

func (h *Handler) parseFilter(c *gin.Context) (Filter, error) {
	f := Filter{
		Department:      c.Query("department"),
		LeadDepartment:  c.Query("lead_department"),
		District:        c.Query("district"),
		Category:        c.Query("category"),
		Channel:         Channel(c.Query("channel")),
		Text:            c.Query("q"),
		Phone:           c.Query("phone"),
		Event:           Action(strings.TrimSpace(c.Query("event"))),
		EventDepartment: c.Query("event_department"),
	}
	if s := c.Query("status"); s != "" {
		for _, x := range strings.Split(s, ",") {
			f.Status = append(f.Status, Status(strings.TrimSpace(x)))
		}
	}
	for name, dst := range map[string]**bool{"overdue": &f.Overdue, "open": &f.Open, "on_time": &f.OnTime} {
		if s := c.Query(name); s != "" {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return f, invalid("invalid_"+name, "%s must be true or false, not %q", name, s)
			}
			*dst = &b
		}
	}
	if s := c.Query("extension_pending"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return f, invalid("invalid_extension_pending", "extension_pending must be true or false, not %q", s)
		}
		f.ExtensionPending = b
	}
	for name, dst := range map[string]**time.Time{"from": &f.From, "to": &f.To, "event_from": &f.EventFrom, "event_to": &f.EventTo} {
		if s := c.Query(name); s != "" {
			t, err := parseTime(s, h.store.opts.Location)
			if err != nil {
				return f, invalid("invalid_"+name, "%s must be an RFC 3339 time or a date (2026-01-31), not %q", name, s)
			}
			*dst = &t
		}
	}
	return f, nil
}

// parseTime accepts RFC 3339 or a bare date, which is midnight in the city's zone.
func parseTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.ParseInLocation("2006-01-02", s, loc)
}

func (h *Handler) act(c *gin.Context) error {
	var req ActionRequest
	if err := api.BindJSON(c, &req); err != nil {
		return err
	}
	v, err := h.store.Act(c.Request.Context(), auth.Current(c), c.Param("number"), Action(c.Param("action")), req)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, v)
	return nil
}

func (h *Handler) duplicates(c *gin.Context) error {
	nums, err := h.store.Similar(c.Request.Context(), auth.Current(c), c.Param("number"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"possible_duplicates": nums})
	return nil
}

func (h *Handler) attach(c *gin.Context) error {
	limit := h.store.opts.AttachmentMaxBytes
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit+1<<20) // room for the multipart framing
	fh, err := c.FormFile("file")
	if err != nil {
		if strings.Contains(err.Error(), "request body too large") {
			return api.Errorf(api.ErrTooLarge, "attachment_too_large", "attachment is over the limit of %d bytes", limit)
		}
		return invalid("no_file", "send the file as multipart/form-data in the field \"file\": %v", err)
	}
	if fh.Size > limit {
		return api.Errorf(api.ErrTooLarge, "attachment_too_large", "attachment %q is %d bytes; the limit is %d", fh.Filename, fh.Size, limit)
	}
	// A retry whose first try stored the file (and then lost its answer) gets that one.
	if v, ok, err := h.store.LinkedAttachment(c.Request.Context(), auth.Current(c), c.Param("number")); err != nil || ok {
		if err == nil {
			c.JSON(http.StatusCreated, v)
		}
		return err
	}
	f, err := fh.Open()
	if err != nil {
		return fmt.Errorf("open upload: %w", err)
	}
	defer f.Close()
	v, err := h.store.AddAttachment(c.Request.Context(), auth.Current(c), c.Param("number"), fh.Filename, f)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, v)
	return nil
}

func (h *Handler) attachment(c *gin.Context) error {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil {
		return api.Errorf(api.ErrNotFound, "attachment_not_found", "no attachment %q", c.Param("id"))
	}
	a, f, err := h.store.OpenAttachment(c.Request.Context(), auth.Current(c), c.Param("number"), id)
	if err != nil {
		return err
	}
	defer f.Close()
	c.Header("Content-Type", a.ContentType)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Disposition", fmt.Sprintf("attachment; filename*=UTF-8''%s", url.PathEscape(a.FileName)))
	http.ServeContent(c.Writer, c.Request, "", a.CreatedAt, f)
	return nil
}

func (h *Handler) departments(c *gin.Context) error {
	ds, err := h.store.Departments(c.Request.Context())
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"departments": ds})
	return nil
}

func (h *Handler) saveDepartment(c *gin.Context) error {
	var in DepartmentInput
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	v, err := h.store.SaveDepartment(c.Request.Context(), in)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, v)
	return nil
}

func (h *Handler) categories(c *gin.Context) error {
	cs, err := h.store.Categories(c.Request.Context())
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"categories": cs})
	return nil
}

func (h *Handler) saveCategory(c *gin.Context) error {
	var in CategoryInput
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	v, err := h.store.SaveCategory(c.Request.Context(), in)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, v)
	return nil
}

func (h *Handler) refusalReasons(c *gin.Context) error {
	rs, err := h.store.RefusalReasons(c.Request.Context())
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"refusal_reasons": rs})
	return nil
}

// saveRefusalReasons replaces the list: {"refusal_reasons": [{"code": "outside_remit",
// "name": "不属于本市管辖范围"}]}, in the order offered.
func (h *Handler) saveRefusalReasons(c *gin.Context) error {
	var in struct {
		RefusalReasons []RefusalReason `json:"refusal_reasons"`
	}
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	rs, err := h.store.SaveRefusalReasons(c.Request.Context(), auth.Current(c), in.RefusalReasons)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"refusal_reasons": rs})
	return nil
}
