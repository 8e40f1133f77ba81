package web

import (
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
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
	return boardOf(b)
}

// boardOf is b with its cards counted.
func boardOf(b *dashboards.Board) cardBoard {
	cb := cardBoard{On: true, Board: b}
	for _, d := range b.Departments {
		cb.Red += d.Red
		cb.Yellow += d.Yellow
	}
	return cb
}

// cardBanner is the cards the department has not signed for, at the top of its inbox:
// unlike the month's board it keeps a card until the department signs for it.
type cardBanner struct {
	Cards []dashboards.CardView
	Error bool
}

func (h *Handler) unacknowledgedCards(c *gin.Context) cardBanner {
	if h.opts.Cards == nil {
		return cardBanner{}
	}
	cs, err := h.opts.Cards.UnacknowledgedCards(c.Request.Context(), auth.Current(c))
	if err != nil {
		h.log.ErrorContext(c.Request.Context(), "read the unacknowledged cards", "err", err)
		return cardBanner{Error: true}
	}
	return cardBanner{Cards: cs}
}

// acknowledgeCard signs for a card in the department's name (签收).
func (h *Handler) acknowledgeCard(c *gin.Context) {
	b := h.base(c, "红黄牌签收")
	if h.opts.Cards == nil {
		h.fail(c, b, api.Errorf(api.ErrNotFound, "card_not_found", "no cards on this instance"))
		return
	}
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		h.fail(c, b, api.Errorf(api.ErrNotFound, "card_not_found", "no card %q", c.Param("id")))
		return
	}
	if _, err := h.opts.Cards.AcknowledgeCard(c.Request.Context(), auth.Current(c), id); err != nil {
		h.fail(c, b, err)
		return
	}
	redirect(c, "/portal/", "card_sign")
}
