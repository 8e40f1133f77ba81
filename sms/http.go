package sms

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/idempotency"
	"github.com/rexian/rexian/phone"
)

// Handler serves the outbox's and the notices' REST API.
type Handler struct {
	svc   *Service
	log   *slog.Logger
	audit *audit.Log
}

// WithAudit has every showing of citizens' unmasked numbers recorded in log.
func (h *Handler) WithAudit(log *audit.Log) *Handler {
	h.audit = log
	return h
}

// shown records that the principal of c was shown the unmasked numbers of the records
// ids of a kind, through via; one shown them masked records nothing. An error means the
// view was not recorded: the handler then shows nothing.
func (h *Handler) shown(c *gin.Context, kind, kinds, via string, ids []string) error {
	if masked(auth.Current(c)) {
		return nil
	}
	return h.audit.RecordViewed(c.Request.Context(), kind, kinds, via, ids...)
}

// idsOf names the records of a list, for the record of its view.
func idsOf[T any](items []T, id func(T) uint64) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = strconv.FormatUint(id(it), 10)
	}
	return out
}

// numberSearch refuses a search by a citizen's number to a principal shown numbers
// masked: finding what was sent to a number is reading personal data.
func numberSearch(c *gin.Context, number string) error {
	if number != "" && masked(auth.Current(c)) {
		return api.Errorf(api.ErrForbidden, "insufficient_scope",
			"searching by phone number needs scope %s; this token lacks it", auth.ScopePersonal)
	}
	return nil
}

// NewHandler returns the API handler over svc.
func NewHandler(svc *Service, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{svc: svc, log: log}
}

// Routes lists every endpoint; g is /api/v1 behind the auth middleware. Department users
// have no access: the outbox is the central desk's.
func (h *Handler) Routes(g *gin.RouterGroup) {
	desk := auth.Require(auth.RoleOperator, auth.RoleSupervisor)
	admin := auth.Require(auth.RoleAdmin)
	listKeepers := auth.Require(auth.RoleSupervisor)
	g.POST("/sms/measure", desk, h.handle(h.measure))
	g.POST("/sms/messages", desk, h.handle(h.send))
	g.GET("/sms/messages", desk, h.handle(h.messages))
	g.GET("/sms/messages/:id", desk, h.handle(h.message))
	g.GET("/sms/templates", desk, h.handle(h.templates))
	g.POST("/sms/templates", admin, h.handle(h.createTemplate))
	g.GET("/sms/templates/:name", desk, h.handle(h.template))
	g.PUT("/sms/templates/:name", admin, h.handle(h.updateTemplate))
	g.DELETE("/sms/templates/:name", admin, h.handle(h.deleteTemplate))
	g.GET("/sms/suppressions", listKeepers, h.handle(h.suppressions))
	g.POST("/sms/suppressions", listKeepers, h.handle(h.suppress))
	g.DELETE("/sms/suppressions/:phone", listKeepers, h.handle(h.unsuppress))
	g.GET("/sms/inbound", desk, h.handle(h.inbound))
	g.GET("/sms/material-items", desk, h.handle(h.materialItems))
	g.PUT("/sms/material-items/:code", admin, h.handle(h.saveMaterialItem))
	g.DELETE("/sms/material-items/:code", admin, h.handle(h.deleteMaterialItem))
	g.GET("/sms/synonyms", desk, h.handle(h.synonyms))
	g.PUT("/sms/synonyms", admin, h.handle(h.saveSynonyms))
	g.POST("/sms/materials-notices", desk, h.handle(h.materialsNotice))

	notices := auth.Require(auth.RoleIntegrator, auth.RoleOperator)
	g.POST("/notices/application-confirmations", notices, h.handle(h.createNotice))
	g.POST("/notices/application-confirmations/bulk", notices, h.handle(h.bulkNotices))
	g.GET("/notices/application-confirmations/:number", auth.Require(auth.RoleIntegrator, auth.RoleOperator, auth.RoleSupervisor), h.handle(h.notice))
}

func (h *Handler) handle(f api.HandlerFunc) gin.HandlerFunc { return api.Handle(h.log, f) }

// requestKey is a message's idempotency key: the body's, else one made from the request's
// Idempotency-Key header (per caller and route), so that a retry after the server died
// mid-answer finds the message its first try queued instead of sending a second; the
// header's kept answer covers every other retry.
func requestKey(c *gin.Context, body string) string {
	if k := strings.TrimSpace(body); k != "" {
		return k
	}
	h := c.GetHeader(idempotency.Header)
	if h == "" {
		return ""
	}
	p := auth.Current(c)
	sum := sha256.Sum256(fmt.Appendf(nil, "%d/%d\n%s\n%s", p.UserID, p.TokenID, c.FullPath(), h))
	return "header:" + hex.EncodeToString(sum[:16])
}

// masked reports whether p sees phone numbers masked: integrators (machine clients, whose
// token leaking must not leak citizens' numbers), departments, and any token without
// scope personal:read.
func masked(p *auth.Principal) bool {
	return !p.SeesPersonal() || p.Role == auth.RoleIntegrator
}

// MeasureRequest is a text, or a template and its variables, to measure.
type MeasureRequest struct {
	Text      string            `json:"text"`
	Kind      Kind              `json:"kind"`
	Template  string            `json:"template"`
	Variables map[string]string `json:"variables"`
}

// Measurement is how a text goes on the air.
type Measurement struct {
	Text     string `json:"text"` // with the signature, as it would be sent
	Coding   Coding `json:"coding"`
	Parts    int    `json:"parts"`
	Chars    int    `json:"chars"`
	PerPart  int    `json:"per_part"`
	MaxParts int    `json:"max_parts"`
	Fits     bool   `json:"fits"`
}

// MeasureMessage renders and measures a text as it would be sent, signature included.
func (s *Service) MeasureMessage(ctx context.Context, in MeasureRequest) (Measurement, error) {
	kind := in.Kind
	if kind == "" {
		kind = KindFreeText
	}
	text, err := s.compose(ctx, NewMessage{Kind: kind, Text: in.Text, Template: in.Template, Variables: in.Variables})
	if err != nil {
		return Measurement{}, err
	}
	coding, parts, chars := Measure(text)
	per := ucs2Single
	switch {
	case coding == CodingGSM7 && parts > 1:
		per = gsm7Part
	case coding == CodingGSM7:
		per = gsm7Single
	case parts > 1:
		per = ucs2Part
	}
	return Measurement{Text: text, Coding: coding, Parts: parts, Chars: chars, PerPart: per, MaxParts: s.opts.MaxParts,
		Fits: parts <= s.opts.MaxParts}, nil
}

func (h *Handler) measure(c *gin.Context) error {
	var in MeasureRequest
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	m, err := h.svc.MeasureMessage(c.Request.Context(), in)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, m)
	return nil
}

// sendRequest is an operator's free-text message.
type sendRequest struct {
	To             string            `json:"to"`
	Text           string            `json:"text"`
	Template       string            `json:"template"`
	Variables      map[string]string `json:"variables"`
	Ticket         string            `json:"ticket"`
	IdempotencyKey string            `json:"idempotency_key"`
}

func (h *Handler) send(c *gin.Context) error {
	var in sendRequest
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	p := auth.Current(c)
	key := ""
	if k := requestKey(c, in.IdempotencyKey); k != "" {
		key = "api:" + k
	}
	msg, created, err := h.svc.Enqueue(c.Request.Context(), NewMessage{Kind: KindFreeText, To: in.To, Text: in.Text,
		Template: in.Template, Variables: in.Variables, TicketNumber: strings.TrimSpace(in.Ticket), IdempotencyKey: key,
		CreatedBy: p.Actor()})
	if err != nil {
		return err
	}
	return h.writeMessage(c, msg.ID, created)
}

func (h *Handler) writeMessage(c *gin.Context, id uint64, created bool) error {
	v, err := h.svc.Message(c.Request.Context(), id, masked(auth.Current(c)))
	if err == nil && !created {
		err = h.shown(c, "sms", "sms", "the API", []string{strconv.FormatUint(id, 10)})
	}
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		c.Header("Location", fmt.Sprintf("/api/v1/sms/messages/%d", id))
	}
	c.JSON(status, v)
	return nil
}

func (h *Handler) messages(c *gin.Context) error {
	page, err := api.ParsePage(c)
	if err != nil {
		return err
	}
	f := MessageFilter{Status: Status(c.Query("status")), Kind: Kind(c.Query("kind")), Recipient: c.Query("recipient"), Ticket: c.Query("ticket")}
	if err := numberSearch(c, f.Recipient); err != nil {
		return err
	}
	items, more, err := h.svc.Messages(c.Request.Context(), f, page, masked(auth.Current(c)))
	if err == nil {
		err = h.shown(c, "sms", "sms", "the API's SMS list", idsOf(items, func(m MessageView) uint64 { return m.ID }))
	}
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"messages": items, "page": page.Page, "per_page": page.PerPage, "has_more": more})
	return nil
}

func (h *Handler) message(c *gin.Context) error {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil {
		return api.Errorf(api.ErrNotFound, "message_not_found", "no message %q", c.Param("id"))
	}
	return h.writeMessage(c, id, false)
}

func (h *Handler) templates(c *gin.Context) error {
	ts, err := h.svc.Templates(c.Request.Context())
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"templates": ts, "signature": h.svc.opts.Signature})
	return nil
}

func (h *Handler) template(c *gin.Context) error {
	t, err := h.svc.Template(c.Request.Context(), c.Param("name"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, t)
	return nil
}

func (h *Handler) createTemplate(c *gin.Context) error {
	var in TemplateInput
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	if _, err := h.svc.Template(c.Request.Context(), strings.TrimSpace(in.Name)); err == nil {
		return api.Errorf(api.ErrConflict, "template_exists", "template %q exists; change it with PUT /sms/templates/%s", in.Name, in.Name)
	} else if !errors.Is(err, api.ErrNotFound) {
		return err
	}
	t, err := h.svc.SaveTemplate(c.Request.Context(), auth.Current(c).Actor(), in)
	if err != nil {
		return err
	}
	c.Header("Location", "/api/v1/sms/templates/"+t.Name)
	c.JSON(http.StatusCreated, t)
	return nil
}

// templateUpdate is a changed template body (and, for an added template, its kind).
type templateUpdate struct {
	Kind Kind   `json:"kind"`
	Body string `json:"body"`
}

func (h *Handler) updateTemplate(c *gin.Context) error {
	var in templateUpdate
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	name := c.Param("name")
	old, err := h.svc.Template(c.Request.Context(), name)
	if err != nil {
		return err
	}
	if in.Kind == "" {
		in.Kind = old.Kind
	}
	t, err := h.svc.SaveTemplate(c.Request.Context(), auth.Current(c).Actor(), TemplateInput{Name: name, Kind: in.Kind, Body: in.Body})
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, t)
	return nil
}

func (h *Handler) deleteTemplate(c *gin.Context) error {
	if err := h.svc.DeleteTemplate(c.Request.Context(), c.Param("name")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (h *Handler) suppressions(c *gin.Context) error {
	page, err := api.ParsePage(c)
	if err != nil {
		return err
	}
	items, more, err := h.svc.Suppressions(c.Request.Context(), page)
	if err != nil {
		return err
	}
	shown, hide := make([]string, len(items)), masked(auth.Current(c))
	for i := range items {
		shown[i] = phone.Mask(items[i].Phone)
		if hide {
			items[i].Phone = shown[i]
		}
	}
	// The list has no ids of its own to name: the record names the numbers masked.
	if err := h.shown(c, "sms_opt_out", "sms_opt_outs", "the API's opt-out list", shown); err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"suppressions": items, "page": page.Page, "per_page": page.PerPage, "has_more": more})
	return nil
}

type suppressRequest struct {
	Phone string `json:"phone"`
	Note  string `json:"note"`
}

func (h *Handler) suppress(c *gin.Context) error {
	var in suppressRequest
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	v, err := h.svc.Suppress(c.Request.Context(), auth.Current(c).Actor(), in.Phone, in.Note)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, v)
	return nil
}

func (h *Handler) unsuppress(c *gin.Context) error {
	if err := h.svc.Unsuppress(c.Request.Context(), c.Param("phone")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (h *Handler) inbound(c *gin.Context) error {
	page, err := api.ParsePage(c)
	if err != nil {
		return err
	}
	f := InboundFilter{From: c.Query("from"), Route: Route(c.Query("route")), Ticket: c.Query("ticket")}
	if err := numberSearch(c, f.From); err != nil {
		return err
	}
	items, more, err := h.svc.InboundMessages(c.Request.Context(), f, page, masked(auth.Current(c)))
	if err == nil {
		err = h.shown(c, "sms_inbound", "sms_inbound", "the API's inbound SMS list", idsOf(items, func(m InboundView) uint64 { return m.ID }))
	}
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"inbound": items, "page": page.Page, "per_page": page.PerPage, "has_more": more})
	return nil
}

// materialItems lists every item, or with ?q= the active ones a search finds (see
// Service.SearchMaterialItems).
func (h *Handler) materialItems(c *gin.Context) error {
	var items []MaterialItemView
	var err error
	if q, ok := c.GetQuery("q"); ok {
		items, err = h.svc.SearchMaterialItems(c.Request.Context(), q)
	} else {
		items, err = h.svc.MaterialItems(c.Request.Context())
	}
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
	return nil
}

func (h *Handler) saveMaterialItem(c *gin.Context) error {
	var in MaterialItemInput
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	if in.Code != "" && in.Code != c.Param("code") {
		return api.Errorf(api.ErrInvalid, "code_mismatch", "the body's code %q differs from the path's %q", in.Code, c.Param("code"))
	}
	in.Code = c.Param("code")
	v, err := h.svc.SaveMaterialItem(c.Request.Context(), auth.Current(c).Actor(), in)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, v)
	return nil
}

func (h *Handler) deleteMaterialItem(c *gin.Context) error {
	if err := h.svc.DeleteMaterialItem(c.Request.Context(), c.Param("code")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (h *Handler) materialsNotice(c *gin.Context) error {
	var in MaterialsNoticeInput
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	in.IdempotencyKey = requestKey(c, in.IdempotencyKey)
	msg, created, err := h.svc.SendMaterialsNotice(c.Request.Context(), auth.Current(c), in)
	if err != nil {
		return err
	}
	return h.writeMessage(c, msg.ID, created)
}

func (h *Handler) createNotice(c *gin.Context) error {
	var in NoticeInput
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	p := auth.Current(c)
	v, created, err := h.svc.CreateNotice(c.Request.Context(), p.Actor(), in, masked(p))
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		c.Header("Location", "/api/v1/notices/application-confirmations/"+v.ApplicationNumber)
	}
	c.JSON(status, v)
	return nil
}

func (h *Handler) notice(c *gin.Context) error {
	v, err := h.svc.Notice(c.Request.Context(), c.Param("number"), masked(auth.Current(c)))
	if err == nil {
		err = h.shown(c, "sms_notice", "sms_notices", "the API", []string{v.ApplicationNumber})
	}
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, v)
	return nil
}

// bulkNotices takes a CSV file as multipart/form-data (field "file") or as a text/csv
// body.
func (h *Handler) bulkNotices(c *gin.Context) error {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 9<<20)
	ctype, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	var r io.Reader
	switch ctype {
	case "multipart/form-data":
		fh, err := c.FormFile("file")
		if err != nil {
			return api.Errorf(api.ErrInvalid, "no_file", "send the CSV file in the multipart field \"file\": %v", err)
		}
		f, err := fh.Open()
		if err != nil {
			return fmt.Errorf("open upload: %w", err)
		}
		defer f.Close()
		r = f
	case "text/csv", "text/plain", "application/csv":
		r = c.Request.Body
	default:
		return api.Errorf(api.ErrInvalid, "unsupported_content_type",
			"send the CSV as text/csv or as multipart/form-data (field \"file\"), not %q", c.GetHeader("Content-Type"))
	}
	res, err := h.svc.ImportNotices(c.Request.Context(), auth.Current(c).Actor(), r)
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return api.Errorf(api.ErrTooLarge, "upload_too_large", "the CSV file is over 8 MiB; split it")
		}
		return err
	}
	c.JSON(http.StatusOK, res)
	return nil
}

func (h *Handler) synonyms(c *gin.Context) error {
	syns, err := h.svc.Synonyms(c.Request.Context())
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"synonyms": syns})
	return nil
}

// saveSynonyms replaces the list: {"synonyms": [{"term": "社保", "words": ["社会保险"]}]}.
func (h *Handler) saveSynonyms(c *gin.Context) error {
	var in struct {
		Synonyms []Synonym `json:"synonyms"`
	}
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	if err := h.svc.SaveSynonyms(c.Request.Context(), auth.Current(c).Actor(), in.Synonyms); err != nil {
		return err
	}
	return h.synonyms(c)
}
