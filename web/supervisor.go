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

// maxCountPages bounds the counting on the supervisor page; the dashboards do the real
// figures, this page only shows that work moves.
const maxCountPages = 50

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

// showSupervisor counts the completed tickets (办结) through the store's list, so that it
// sees exactly what a supervisor may see.
func (h *Handler) showSupervisor(c *gin.Context) {
	ctx := c.Request.Context()
	b := h.base(c, "督办概览")
	b.Nav = "supervisor"
	page := supervisorPage{base: b, Dashboards: h.opts.Dashboards}
	now := h.opts.Now().In(h.opts.Location)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, h.opts.Location)
	f := tickets.Filter{Status: []tickets.Status{tickets.StatusCompleted}}
	for n := 1; n <= maxCountPages; n++ {
		items, more, err := h.opts.Tickets.List(ctx, auth.Current(c), f, api.Page{Page: n, PerPage: api.MaxPerPage})
		if err != nil {
			h.fail(c, b, err)
			return
		}
		if n == 1 {
			page.Recent = items[:min(len(items), 10)]
		}
		page.Completed += len(items)
		for _, s := range items {
			if s.CompletedAt != nil && !s.CompletedAt.Before(today) {
				page.CompletedToday++
			}
		}
		if !more {
			break
		}
		page.Capped = n == maxCountPages
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
