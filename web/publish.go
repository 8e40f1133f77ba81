package web

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/dashboards"
	"github.com/rexian/rexian/tickets"
)

// publishPage previews a completed ticket's question and answer as 百姓直通车 will
// show them, personal data removed, for the supervisor to edit and publish.
type publishPage struct {
	base
	T                       *tickets.View
	Title, Question, Answer string
}

func (h *Handler) showPublish(c *gin.Context) {
	h.renderPublish(c, http.StatusOK, h.base(c, "发布到百姓直通车"), nil)
}

// renderPublish shows the preview: the ticket's own wording redacted, or what the
// supervisor typed (redacted again) when publishing failed.
func (h *Handler) renderPublish(c *gin.Context, status int, b base, typed *dashboards.PublishRequest) {
	v, err := h.publishable(c)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	b.Nav = "tickets"
	page := publishPage{base: b, T: v, Title: v.Title, Question: v.Content, Answer: v.Answer}
	if typed != nil {
		page.Title, page.Question, page.Answer = typed.Title, typed.Question, typed.Answer
	}
	name := v.Citizen.Name
	page.Title = dashboards.Redact(page.Title, name)
	page.Question = dashboards.Redact(page.Question, name)
	page.Answer = dashboards.Redact(page.Answer, name)
	h.render(c, status, "publish", page)
}

// publishable is the ticket when the viewer may publish it.
func (h *Handler) publishable(c *gin.Context) (*tickets.View, error) {
	if h.opts.Cards == nil {
		return nil, api.Errorf(api.ErrUnavailable, "dashboards_off", "百姓直通车未启用。")
	}
	p := auth.Current(c)
	if !p.Is(auth.RoleSupervisor) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "only supervisors publish answers")
	}
	v, err := h.opts.Tickets.Find(c.Request.Context(), p, c.Param("number"))
	if err != nil {
		return nil, err
	}
	if v.Status != tickets.StatusCompleted {
		return nil, api.Errorf(api.ErrConflict, "not_completed", "只有已办结的工单可以发布到百姓直通车。")
	}
	return v, nil
}

func (h *Handler) publish(c *gin.Context) {
	number := tickets.NormalizeNumber(c.Param("number"))
	in := dashboards.PublishRequest{Ticket: number, Title: strings.TrimSpace(c.PostForm("title")),
		Question: strings.TrimSpace(c.PostForm("question")), Answer: strings.TrimSpace(c.PostForm("answer"))}
	if _, err := h.publishable(c); err != nil {
		h.fail(c, h.base(c, "发布到百姓直通车"), err)
		return
	}
	if _, err := h.opts.Cards.Publish(c.Request.Context(), auth.Current(c), in); err != nil {
		b := h.base(c, "发布到百姓直通车")
		b.Error = message(err)
		h.renderPublish(c, statusOf(err), b, &in)
		return
	}
	redirect(c, "/console/tickets/"+number, "publish")
}
