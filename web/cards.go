package web

import (
	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/dashboards"
)

// cardRules name why a card was issued.
var cardRules = map[dashboards.Rule]string{
	dashboards.RuleOverdue:       "工单超期",
	dashboards.RuleDoubleOverdue: "超期超过办理时限",
	dashboards.RuleYellows:       "当月黄牌累计",
}

func cardRule(r dashboards.Rule) string { return nameOr(cardRules[r], string(r)) }

// cardBoard is this month's red and yellow cards as the user may see them: a department
// its own and its sub-units', a supervisor every department's. The cards are a notice
// beside the work, so a failure to read them is logged and said on the page, and the
// page itself still shows.
type cardBoard struct {
	On    bool // the dashboards are wired in
	Board *dashboards.Board
	Error bool
	// Red and Yellow count the cards on the board.
	Red, Yellow int
}

func (h *Handler) cards(c *gin.Context) cardBoard {
	if h.opts.Cards == nil {
		return cardBoard{}
	}
	b, err := h.opts.Cards.Board(c.Request.Context(), auth.Current(c), "")
	if err != nil {
		h.log.ErrorContext(c.Request.Context(), "read the cards board", "err", err)
		return cardBoard{On: true, Error: true}
	}
	cb := cardBoard{On: true, Board: b}
	for _, d := range b.Departments {
		cb.Red += d.Red
		cb.Yellow += d.Yellow
	}
	return cb
}
