package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// nearDeadline is when a countdown turns amber: a department can still act the same day.
const nearDeadline = 4 * time.Hour

// portalRow is a ticket in the department's inbox with its countdown.
type portalRow struct {
	tickets.Summary
	Due       *time.Time
	Left      string
	Countdown string // ok, near or late: the colour of the countdown
}

type portalInboxPage struct {
	base
	Rows []portalRow
	// Groups are the rows by where the work stands: 待签收, 办理中, 已回复待审核, 退单待审定.
	Groups []portalGroup
	Cards  cardBoard
	// Unsigned are the department's cards still to sign for, shown above everything.
	Unsigned cardBanner
}

// portalGroup is one part of the department's inbox.
type portalGroup struct {
	ID, Name string
	Status   tickets.Status
	Rows     []portalRow
}

// portalGroups are the inbox's parts in the order of the work.
var portalGroups = []portalGroup{{ID: "to-sign", Name: "待签收", Status: tickets.StatusDispatched},
	{ID: "handling", Name: "办理中", Status: tickets.StatusHandling}, {ID: "replied", Name: "已回复待审核", Status: tickets.StatusReplied},
	{ID: "returned", Name: "退单待审定", Status: tickets.StatusReturned}}

func (h *Handler) countdown(s tickets.Summary) portalRow {
	r := portalRow{Summary: s, Due: s.DueAt, Countdown: "ok"}
	switch s.Status {
	case tickets.StatusReplied: // the department's part is done: no clock runs against it
		r.Due, r.Countdown, r.Left = nil, "wait", "已回复，等待中心审核"
		return r
	case tickets.StatusReturned:
		r.Due, r.Countdown, r.Left = nil, "wait", "已退单，等待中心审定"
		return r
	}
	if s.Status == tickets.StatusDispatched && s.SignDueAt != nil {
		r.Due = s.SignDueAt // not signed for yet: the sign-for deadline comes first
	}
	if r.Due == nil {
		return r
	}
	left := r.Due.Sub(h.opts.Now())
	switch {
	case left < 0 || s.Late:
		r.Countdown, r.Left = "late", "已超期 "+duration(-left)
	case left <= nearDeadline:
		r.Countdown, r.Left = "near", "剩余 "+duration(left)
	default:
		r.Left = "剩余 " + duration(left)
	}
	return r
}

// portalInbox lists the department's open tickets, the nearest deadline first.
func (h *Handler) portalInbox(c *gin.Context) {
	b := h.base(c, "待办工单")
	b.Nav = "inbox"
	open := true
	// The store sorts by deadline, so that a department with more open tickets than a
	// page still sees its nearest deadlines first.
	items, _, err := h.opts.Tickets.List(c.Request.Context(), auth.Current(c), tickets.Filter{Open: &open, DueFirst: true},
		api.Page{Page: 1, PerPage: api.MaxPerPage})
	if err != nil {
		h.fail(c, b, err)
		return
	}
	rows := make([]portalRow, 0, len(items))
	for _, s := range items {
		rows = append(rows, h.countdown(s))
	}
	slices.SortStableFunc(rows, func(a, b portalRow) int {
		switch {
		case a.Due == nil && b.Due == nil:
			return 0
		case a.Due == nil:
			return 1
		case b.Due == nil:
			return -1
		}
		return a.Due.Compare(*b.Due)
	})
	groups := slices.Clone(portalGroups)
	for i := range groups {
		for _, r := range rows {
			if r.Status == groups[i].Status {
				groups[i].Rows = append(groups[i].Rows, r)
			}
		}
	}
	h.render(c, http.StatusOK, "portal_inbox", portalInboxPage{base: b, Rows: rows, Groups: groups, Cards: h.cards(c), Unsigned: h.unacknowledgedCards(c)})
}

func (h *Handler) portalSearch(c *gin.Context) {
	page, f, err := listQuery(c, h.opts.Location)
	b := h.base(c, "历史查询")
	b.Nav = "search"
	if err != nil {
		h.fail(c, b, err)
		return
	}
	items, more, err := h.opts.Tickets.List(c.Request.Context(), auth.Current(c), f, page)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	h.render(c, http.StatusOK, "portal_search", newListPage(c, b, f, items, more, page))
}

// portalTicketPage is a ticket as its department sees it (phone numbers masked by the
// store), with what the workflow allows the department now (T.Actions).
type portalTicketPage struct {
	base
	T        *tickets.View
	Subunits []tickets.DepartmentView
	// Pending is the department's own extension request waiting for a decision.
	Pending *tickets.AssignmentView
	Form    url.Values
}

func (h *Handler) showPortalTicket(c *gin.Context) {
	h.renderPortalTicket(c, http.StatusOK, h.base(c, "工单"), url.Values{})
}

func (h *Handler) renderPortalTicket(c *gin.Context, status int, b base, form url.Values) {
	ctx := c.Request.Context()
	p := auth.Current(c)
	v, err := h.opts.Tickets.Find(ctx, p, c.Param("number"))
	if err != nil {
		h.fail(c, b, err)
		return
	}
	dir, err := h.directory(ctx)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	b.Title, b.Nav = "工单 "+v.Number, "inbox"
	h.nameActors(ctx, v, dir)
	page := portalTicketPage{base: b, T: v, Form: form}
	own := dir.codeOf(p.DepartmentID)
	if slices.Contains(v.Actions, tickets.ActRedispatch) {
		page.Subunits = dir.subunits(own)
	}
	for i, a := range v.Assignments {
		if a.Department.Code == own && a.ExtensionPending {
			page.Pending = &v.Assignments[i]
		}
	}
	h.render(c, status, "portal_ticket", page)
}

// portalActions maps the portal's form actions to the workflow.
var portalActions = map[string]tickets.Action{
	"sign": tickets.ActSign, "reply": tickets.ActReply, "return": tickets.ActReturn,
	"extension": tickets.ActRequestExtension, "redispatch": tickets.ActRedispatch, "note": tickets.ActNote,
}

func (h *Handler) portalAct(c *gin.Context) {
	name := c.Param("action")
	action, ok := portalActions[name]
	if !ok {
		h.fail(c, h.base(c, ""), api.Errorf(api.ErrNotFound, "unknown_action", "no such action %q", name))
		return
	}
	ctx := c.Request.Context()
	p := auth.Current(c)
	number := tickets.NormalizeNumber(c.Param("number"))
	// The session middleware has parsed the form; a reply's form is multipart, and either
	// way PostForm has the fields.
	form := c.Request.PostForm
	again := func(err error) {
		b := h.base(c, "工单")
		b.Error = message(err)
		form.Set("failed", name)
		h.renderPortalTicket(c, statusOf(err), b, form)
	}
	req, err := h.actionRequest(action, form)
	if err != nil {
		again(err)
		return
	}
	switch action {
	case tickets.ActReply:
		if strings.TrimSpace(req.Reply) == "" {
			again(api.Errorf(api.ErrInvalid, "empty_reply", "reply is empty"))
			return
		}
		if err := h.attach(c, p, number); err != nil {
			again(err)
			return
		}
		req.Version = 0 // the attachment has moved the version on
	}
	if h.needsConfirmation(c, action, form, "/portal/tickets/"+number) {
		return
	}
	if err := h.act(ctx, p, number, action, req); err != nil {
		again(err)
		return
	}
	flash := name
	redirect(c, "/portal/tickets/"+number, flash)
}

// attach stores the reply's file, when one was chosen.
func (h *Handler) attach(c *gin.Context, p *auth.Principal, number string) error {
	fh, err := c.FormFile("file")
	if errors.Is(err, http.ErrMissingFile) || errors.Is(err, http.ErrNotMultipart) || (err == nil && fh.Filename == "" && fh.Size == 0) {
		return nil
	}
	if err != nil {
		return api.Errorf(api.ErrInvalid, "no_file", "the file could not be read: %v", err)
	}
	f, err := fh.Open()
	if err != nil {
		return fmt.Errorf("open upload: %w", err)
	}
	defer f.Close()
	_, err = h.opts.Tickets.AddAttachment(c.Request.Context(), p, number, fh.Filename, f)
	return err
}
