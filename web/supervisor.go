package web

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/callback"
	"github.com/rexian/rexian/tickets"
)

// maxCounted bounds the counting on the supervisor page (the newest completed tickets,
// shown with a "+" beyond it); the dashboards do the real figures, this page only shows
// that work moves.
const maxCounted = 50 * api.MaxPerPage

type supervisorPage struct {
	base
	Completed      int
	CompletedToday int
	Capped         bool
	Recent         []tickets.Summary
	Dashboards     bool
	Cards          cardBoard
	// Dissatisfied are the last week's dissatisfied survey answers: each reopened its
	// ticket for supervision (督办), and this is where supervisors learn of it.
	Dissatisfied      []callback.View
	DissatisfiedError bool
}

// showSupervisor counts the completed tickets (办结) through the store, so that it sees
// exactly what a supervisor may see: the newest maxCounted of them at most, and of those
// the ones completed today, in one bounded count.
func (h *Handler) showSupervisor(c *gin.Context) {
	ctx := c.Request.Context()
	b := h.base(c, "督办概览")
	b.Nav = "supervisor"
	page := supervisorPage{base: b, Dashboards: h.opts.Dashboards}
	now := h.opts.Now().In(h.opts.Location)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, h.opts.Location)
	f := tickets.Filter{Status: []tickets.Status{tickets.StatusCompleted}}
	tally, err := h.opts.Tickets.Tally(ctx, auth.Current(c), f, maxCounted, today)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	page.Completed, page.Capped, page.CompletedToday = tally.Counted, tally.More, tally.CompletedSince
	if page.Recent, _, err = h.opts.Tickets.List(ctx, auth.Current(c), f, api.Page{Page: 1, PerPage: 10}); err != nil {
		h.fail(c, b, err)
		return
	}
	page.Cards = h.cards(c)
	if h.opts.Callback != nil {
		since := now.Add(-7 * 24 * time.Hour)
		views, _, err := h.opts.Callback.Surveys(ctx, callback.Filter{Result: callback.ResultDissatisfied, Since: &since}, api.Page{Page: 1, PerPage: 50}, false)
		if err != nil {
			h.opts.Log.Error("supervisor page: dissatisfied surveys not read", "err", err)
			page.DissatisfiedError = true
		}
		page.Dissatisfied = views
	}
	h.render(c, http.StatusOK, "supervisor", page)
}
