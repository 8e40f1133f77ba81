package dashboards

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
)

//go:embed templates/*.html
var templateFS embed.FS

// pages are the printable bulletins and reports and the public answers, parsed once.
// html/template escapes everything that comes from tickets.
var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"pct": func(v *float64) string {
		if v == nil {
			return "—"
		}
		return strconv.FormatFloat(*v*100, 'f', 2, 64) + "%"
	},
	"secs": func(v *float64) string {
		if v == nil {
			return "—"
		}
		return strconv.FormatFloat(*v, 'f', 1, 64) + "秒"
	},
	"date":     func(t time.Time) string { return t.Format("2006年1月2日") },
	"lastDay":  func(t time.Time) string { return t.AddDate(0, 0, -1).Format("2006年1月2日") },
	"datetime": func(t time.Time) string { return t.Format("2006-01-02 15:04") },
	"inc":      func(i int) int { return i + 1 },
}).ParseFS(templateFS, "templates/*.html"))

// render runs the page template name into w; it renders into a buffer first so that a
// template error becomes a clean 500, never half a page.
func render(w io.Writer, name string, data any) error {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("dashboards: render %s: %w", name, err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// RenderBulletin writes b as a printable HTML page.
func RenderBulletin(w io.Writer, b *Bulletin) error { return render(w, "bulletin.html", b) }

// RenderBrief writes a report draft as a printable HTML page.
func RenderBrief(w io.Writer, b *Brief) error { return render(w, "brief.html", b) }

func (h *Handler) html(c *gin.Context, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := render(&buf, name, data); err != nil {
		return err
	}
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
	return nil
}

func (h *Handler) publicAnswers(c *gin.Context) error {
	page, err := api.ParsePage(c)
	if err != nil {
		return h.html(c, http.StatusBadRequest, "notfound.html", "页码不正确。")
	}
	page.PerPage = 20
	items, more, err := h.svc.PublishedAnswers(c.Request.Context(), page)
	if err != nil {
		return err
	}
	data := struct {
		Answers    []Answer
		Prev, Next int
	}{Answers: items}
	if page.Page > 1 {
		data.Prev = page.Page - 1
	}
	if more {
		data.Next = page.Page + 1
	}
	return h.html(c, http.StatusOK, "answers.html", data)
}

func (h *Handler) publicAnswer(c *gin.Context) error {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil {
		return h.html(c, http.StatusNotFound, "notfound.html", "没有这条内容。")
	}
	a, err := h.svc.PublishedAnswer(c.Request.Context(), id)
	if errors.Is(err, api.ErrNotFound) {
		return h.html(c, http.StatusNotFound, "notfound.html", "没有这条内容，或已撤下。")
	}
	if err != nil {
		return err
	}
	return h.html(c, http.StatusOK, "answer.html", a)
}

// bulletin serves GET /dashboards/bulletins/{kind}?date=…&format=json|xlsx|html.
func (h *Handler) bulletin(c *gin.Context) error {
	at := h.svc.now()
	if s := c.Query("date"); s != "" {
		d, err := time.ParseInLocation(time.DateOnly, s, h.svc.Location())
		if err != nil {
			return api.Errorf(api.ErrInvalid, "invalid_date", "date must look like 2026-11-26, not %q", s)
		}
		at = d
	}
	format := c.DefaultQuery("format", "json")
	if format != "json" && format != "xlsx" && format != "html" {
		return api.Errorf(api.ErrInvalid, "invalid_format", "format must be json, xlsx or html, not %q", format)
	}
	b, err := h.svc.Bulletin(c.Request.Context(), auth.Current(c), BulletinKind(c.Param("kind")), at)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("bulletin-%s-%s", b.Kind, b.Period.From.Format("20060102"))
	switch format {
	case "xlsx":
		var buf bytes.Buffer
		if err := WriteBulletinXLSX(&buf, b); err != nil {
			return err
		}
		c.Header("Content-Disposition", `attachment; filename="`+name+`.xlsx"`)
		c.Data(http.StatusOK, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", buf.Bytes())
		return nil
	case "html":
		return h.html(c, http.StatusOK, "bulletin.html", b)
	}
	c.JSON(http.StatusOK, b)
	return nil
}

// brief serves POST /dashboards/briefs (?format=html for the printable page).
func (h *Handler) brief(c *gin.Context) error {
	var in BriefRequest
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	format := c.DefaultQuery("format", "json")
	if format != "json" && format != "html" {
		return api.Errorf(api.ErrInvalid, "invalid_format", "format must be json or html, not %q", format)
	}
	b, err := h.svc.DraftBrief(c.Request.Context(), auth.Current(c), in)
	if err != nil {
		return err
	}
	if format == "html" {
		return h.html(c, http.StatusOK, "brief.html", b)
	}
	c.JSON(http.StatusOK, b)
	return nil
}
