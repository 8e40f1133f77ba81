package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// newTicketPage is the registration form (受理).
type newTicketPage struct {
	base
	Dir  *directory
	Form url.Values
	// Suggestion is the chosen category's default department, the dispatch suggestion.
	Suggestion string
}

func (h *Handler) showNewTicket(c *gin.Context) {
	form := url.Values{}
	for _, k := range []string{"phone", "call", "category", "content"} {
		if v := c.Query(k); v != "" {
			form.Set(k, v)
		}
	}
	h.renderNewTicket(c, http.StatusOK, h.base(c, "登记工单"), form)
}

func (h *Handler) renderNewTicket(c *gin.Context, status int, b base, form url.Values) {
	dir, err := h.directory(c.Request.Context())
	if err != nil {
		h.fail(c, b, err)
		return
	}
	b.Nav = "new"
	page := newTicketPage{base: b, Dir: dir, Form: form}
	if dep := dir.defaults[form.Get("category")]; dep != "" {
		page.Suggestion = dir.name(dep)
	}
	h.render(c, status, "ticket_new", page)
}

// createTicket registers the ticket and, with the "dispatch" button, dispatches it in
// the same transaction: to the chosen department, or to the category's default one.
func (h *Handler) createTicket(c *gin.Context) {
	form := c.Request.PostForm // parsed and checked by the session middleware
	in := tickets.NewTicket{
		Channel:  tickets.Channel(form.Get("channel")),
		Citizen:  tickets.NewCitizen{Name: form.Get("name"), Phone: form.Get("phone"), Anonymous: form.Get("anonymous") == "1"},
		Title:    form.Get("title"),
		Content:  form.Get("content"),
		Category: form.Get("category"),
		Urgency:  tickets.Urgency(form.Get("urgency")),
		Location: tickets.NewLocation{District: form.Get("district"), Township: form.Get("township"), Address: form.Get("address")},
	}
	if call := strings.TrimSpace(form.Get("call")); call != "" {
		if _, err := strconv.ParseUint(call, 10, 64); err == nil {
			in.Ref = "call:" + call // the telephone controller finds the ticket of a call by it
		}
	}
	if form.Get("do") == "dispatch" {
		in.Dispatch = &tickets.DispatchRequest{}
		if d := strings.TrimSpace(form.Get("department")); d != "" {
			in.Dispatch.Departments = []string{d}
		}
	}
	v, err := h.opts.Tickets.Create(c.Request.Context(), auth.Current(c), in)
	if err != nil {
		b := h.base(c, "登记工单")
		b.Error = message(err)
		h.renderNewTicket(c, statusOf(err), b, form)
		return
	}
	flash := "created"
	if in.Dispatch != nil {
		flash = "dispatched"
	}
	redirect(c, "/console/tickets/"+v.Number, flash)
}

// deskTicketPage is a ticket as the central desk sees it, with every action the
// workflow allows the viewer now (T.Actions).
type deskTicketPage struct {
	base
	T   *tickets.View
	Dir *directory
	// Duplicates are the possible duplicates shown beside the ticket while it can be
	// merged.
	Duplicates []tickets.Duplicate
	Reasons    []tickets.RefusalReason
	Suggestion string
	Form       url.Values
	Audio      string // the voice message to play, if any
	// Publish says the viewer may publish the answer to 百姓直通车.
	Publish bool
	// Materials links to the knowledge base, whose materials SMS is noted on the ticket.
	Materials bool
}

func (h *Handler) showDeskTicket(c *gin.Context) {
	h.renderDeskTicket(c, http.StatusOK, h.base(c, "工单"), url.Values{})
}

func (h *Handler) renderDeskTicket(c *gin.Context, status int, b base, form url.Values) {
	ctx := c.Request.Context()
	p := auth.Current(c)
	v, err := h.opts.Tickets.Find(ctx, p, c.Param("number"))
	if err != nil {
		h.fail(c, b, err)
		return
	}
	if err := h.opts.Tickets.RecordView(ctx, p, "the console's ticket page", v.Number); err != nil {
		h.fail(c, b, err)
		return
	}
	dir, err := h.directory(ctx)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	b.Title, b.Nav = "工单 "+v.Number, "tickets"
	h.nameActors(ctx, v, dir)
	var reasons []tickets.RefusalReason
	if slices.Contains(v.Actions, tickets.ActRefuse) {
		if reasons, err = h.opts.Tickets.RefusalReasons(ctx); err != nil {
			h.fail(c, b, err)
			return
		}
	}
	page := deskTicketPage{base: b, T: v, Dir: dir, Form: form, Audio: audioOf(v), Reasons: reasons,
		Publish: h.opts.Cards != nil && p.Is(auth.RoleSupervisor) && v.Status == tickets.StatusCompleted, Materials: h.opts.SMS != nil}
	if dep := dir.defaults[v.Category.Code]; dep != "" {
		page.Suggestion = dir.name(dep)
	}
	// Duplicates are looked for only while the ticket can still be merged: one indexed
	// query on the caller's number.
	if slices.Contains(v.Actions, tickets.ActMerge) && v.Citizen.Phone != "" {
		dups, err := h.opts.Tickets.SimilarTickets(ctx, p, v.Number)
		if err != nil {
			h.log.WarnContext(ctx, "desk: similar tickets", "ticket", v.Number, "err", err)
		}
		page.Duplicates = dups
	}
	h.render(c, status, "desk_ticket", page)
}

// audioOf is where a ticket's voice message plays from: an audio attachment, else the
// recording of the call the ticket came from.
func audioOf(v *tickets.View) string {
	for _, a := range v.Attachments {
		if strings.HasPrefix(a.ContentType, "audio/") {
			return a.URL
		}
	}
	if id, ok := strings.CutPrefix(v.ExternalRef, "call:"); ok && v.Channel == tickets.ChannelVoicemail {
		if _, err := strconv.ParseUint(id, 10, 64); err == nil {
			return "/api/v1/ivr/calls/" + id + "/recording"
		}
	}
	return ""
}

// deskAct takes any workflow action from the desk's ticket page; the store decides
// whether the viewer may (the same rules that chose the page's controls).
func (h *Handler) deskAct(c *gin.Context) {
	action := tickets.Action(c.Param("action"))
	if action == "publish" { // not a workflow step: the dashboards' published answers
		h.publish(c)
		return
	}
	if !slices.Contains(tickets.Actions, action) {
		h.fail(c, h.base(c, ""), api.Errorf(api.ErrNotFound, "unknown_action", "no such action %q", action))
		return
	}
	number := tickets.NormalizeNumber(c.Param("number"))
	form := c.Request.PostForm
	req, err := h.actionRequest(action, form)
	if err == nil && h.needsConfirmation(c, action, form, "/console/tickets/"+number) {
		return
	}
	if err == nil {
		err = h.act(c.Request.Context(), auth.Current(c), number, action, req)
	}
	if err != nil {
		b := h.base(c, "工单")
		b.Error = message(err)
		form.Set("failed", string(action))
		h.renderDeskTicket(c, statusOf(err), b, form)
		return
	}
	flash := string(action)
	if action == tickets.ActAcceptReturn && len(req.Departments) > 0 {
		flash = "accept_return_dispatch"
	}
	redirect(c, "/console/tickets/"+number, flash)
}

// actionRequest reads an action's fields from a ticket page's form. "department" names
// the department an action is about (whose return, whose extension, whom to urge, the
// sub-unit to hand down to); "to" is where a dispatch sends the ticket.
func (h *Handler) actionRequest(action tickets.Action, form url.Values) (tickets.ActionRequest, error) {
	req := tickets.ActionRequest{Note: form.Get("note"), Answer: form.Get("answer"), Reply: form.Get("reply"),
		Reason: form.Get("reason"), Department: strings.TrimSpace(form.Get("department")), Into: strings.TrimSpace(form.Get("into"))}
	req.Version, _ = strconv.Atoi(form.Get("version"))
	if to := strings.TrimSpace(form.Get("to")); to != "" {
		req.Departments = []string{to}
	}
	if action == tickets.ActRequestExtension {
		s := strings.TrimSpace(form.Get("until"))
		if s == "" {
			return req, api.Errorf(api.ErrInvalid, "empty_until", "until is required")
		}
		until, err := time.ParseInLocation("2006-01-02T15:04", s, h.opts.Location)
		if err != nil {
			if until, err = time.ParseInLocation("2006-01-02", s, h.opts.Location); err == nil {
				until = until.Add(24*time.Hour - time.Minute) // the end of that day
			}
		}
		if err != nil {
			return req, api.Errorf(api.ErrInvalid, "invalid_until", "期限“%s”不是日期时间（例如 2026-12-31T17:30）。", s)
		}
		req.Until = &until
	}
	return req, nil
}

func (h *Handler) act(ctx context.Context, p *auth.Principal, number string, action tickets.Action, req tickets.ActionRequest) error {
	_, err := h.opts.Tickets.Act(ctx, p, number, action, req)
	return err
}

// listPage is a list of tickets with a search box.
type listPage struct {
	base
	Q        string
	Status   string
	From, To string // the registration dates asked for, as the date fields show them (2026-01-31)
	Tickets  []tickets.Summary
	More     bool
	Page     int
	// Filters say in words which filters apply (the desk's list, opened from a figure);
	// Hidden carries those the form has no field for to the next search, and Next is the
	// next page's address with every filter.
	Filters []string
	Hidden  []hiddenField
	Next    string
	// Download is the whole list as a workbook, for a supervisor.
	Download string
}

type hiddenField struct{ Name, Value string }

// newListPage is a list page showing what was asked for.
func newListPage(c *gin.Context, b base, f tickets.Filter, items []tickets.Summary, more bool, page api.Page) listPage {
	p := listPage{base: b, Q: c.Query("q"), Status: c.Query("status"), From: c.Query("from"), To: c.Query("to"),
		Tickets: items, More: more, Page: page.Page}
	q := filterQuery(c)
	for _, k := range filterParams {
		if v := q.Get(k); v != "" && k != "status" && k != "from" && k != "to" {
			p.Hidden = append(p.Hidden, hiddenField{k, v})
		}
	}
	if p.Q != "" {
		q.Set("q", p.Q)
	}
	q.Set("page", strconv.Itoa(page.Page+1))
	p.Next = "?" + q.Encode()
	return p
}

func (h *Handler) deskSearch(c *gin.Context) {
	page, f, err := listQuery(c, h.opts.Location)
	b := h.base(c, "工单查询")
	b.Nav = "tickets"
	if err != nil {
		h.fail(c, b, err)
		return
	}
	ctx := c.Request.Context()
	items, more, err := h.opts.Tickets.List(ctx, auth.Current(c), f, page)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	if err := h.opts.Tickets.RecordListView(ctx, auth.Current(c), "the console's ticket search", items); err != nil {
		h.fail(c, b, err)
		return
	}
	p := newListPage(c, b, f, items, more, page)
	// A list opened from a figure asks by RFC 3339 times; the date fields show their days.
	p.From, p.To = dateOf(f.From, false, h.opts.Location), dateOf(f.To, true, h.opts.Location)
	if p.Filters, err = h.describeFilter(ctx, f); err != nil {
		h.fail(c, b, err)
		return
	}
	if auth.Current(c).Is(auth.RoleSupervisor) {
		q := c.Request.URL.Query()
		q.Del("page")
		p.Download = "/console/export/tickets?" + q.Encode()
	}
	h.render(c, http.StatusOK, "desk_search", p)
}

// listQuery reads ?q=, ?page= and the filters of GET /api/v1/tickets (see parseFilter)
// for a ticket list.
func listQuery(c *gin.Context, loc *time.Location) (api.Page, tickets.Filter, error) {
	page, err := pageParam(c)
	if err != nil {
		return page, tickets.Filter{}, err
	}
	f := tickets.Filter{Text: strings.TrimSpace(c.Query("q"))}
	err = parseFilter(c, loc, &f)
	return page, f, err
}
