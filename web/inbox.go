package web

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/tickets"
)

// inboxPage is the central desk's inbox: tickets to register by channel, and replies
// waiting for verification.
type inboxPage struct {
	base
	Channels []channelBox
	Replied  []tickets.Summary
	Returned []tickets.Summary
	// Extensions are the tickets with an extension request to decide, for supervisors.
	Extensions []tickets.Summary
}

// channelBox is the registered tickets of one channel.
type channelBox struct {
	Name    string
	Tickets []inboxTicket
}

// inboxTicket is a ticket in the inbox; voice messages carry their recording.
type inboxTicket struct {
	tickets.Summary
	Audio string
}

// inboxChannels are the channels whose tickets wait at the desk, in the order shown.
var inboxChannels = []tickets.Channel{tickets.ChannelVoicemail, tickets.ChannelMailbox, tickets.ChannelQQ,
	tickets.ChannelWeb, tickets.ChannelOpen311, tickets.ChannelSMS, tickets.ChannelPhone}

func (h *Handler) showInbox(c *gin.Context) {
	ctx := c.Request.Context()
	p := auth.Current(c)
	b := h.base(c, "中心待办")
	b.Nav = "inbox"
	page := inboxPage{base: b}
	one := api.Page{Page: 1, PerPage: 50}
	var shown []tickets.Summary // with the citizens' numbers
	for _, ch := range inboxChannels {
		items, _, err := h.opts.Tickets.List(ctx, p, tickets.Filter{Status: []tickets.Status{tickets.StatusRegistered}, Channel: ch}, one)
		if err != nil {
			h.fail(c, b, err)
			return
		}
		shown = append(shown, items...)
		box := channelBox{Name: channelNames[ch]}
		for _, s := range items {
			t := inboxTicket{Summary: s}
			if ch == tickets.ChannelVoicemail {
				if v, err := h.opts.Tickets.Find(ctx, p, s.Number); err == nil {
					t.Audio = audioOf(v)
				}
			}
			box.Tickets = append(box.Tickets, t)
		}
		page.Channels = append(page.Channels, box)
	}
	if err := h.opts.Tickets.RecordListView(ctx, p, "the console's inbox", shown); err != nil {
		h.fail(c, b, err)
		return
	}
	var err error
	if page.Replied, _, err = h.opts.Tickets.List(ctx, p, tickets.Filter{Status: []tickets.Status{tickets.StatusReplied}}, one); err != nil {
		h.fail(c, b, err)
		return
	}
	if page.Returned, _, err = h.opts.Tickets.List(ctx, p, tickets.Filter{Status: []tickets.Status{tickets.StatusReturned}}, one); err != nil {
		h.fail(c, b, err)
		return
	}
	if p.Is(auth.RoleSupervisor) {
		if page.Extensions, _, err = h.opts.Tickets.List(ctx, p, tickets.Filter{ExtensionPending: true}, one); err != nil {
			h.fail(c, b, err)
			return
		}
	}
	h.render(c, http.StatusOK, "inbox", page)
}

// knowledgePage is the approval items (办事指南) with the materials-list SMS.
type knowledgePage struct {
	base
	Q      string
	Items  []sms.MaterialItemView
	CanSMS bool
	// Mobile, Ticket and Item keep the SMS form's input when sending failed.
	Mobile, Ticket, Item string
}

// showKnowledge is the knowledge base; opened from a ticket (?ticket=) the send form
// carries the ticket and its citizen's number.
func (h *Handler) showKnowledge(c *gin.Context) {
	b, mobile := h.base(c, "知识库"), ""
	ticket := strings.TrimSpace(c.Query("ticket"))
	if ticket != "" {
		v, err := h.opts.Tickets.Find(c.Request.Context(), auth.Current(c), ticket)
		if err != nil {
			h.fail(c, b, err)
			return
		}
		ticket = v.Number
		if _, err := sms.Recipient(v.Citizen.Phone); err == nil {
			mobile = v.Citizen.Phone
		}
	}
	h.renderKnowledge(c, http.StatusOK, b, c.Query("q"), mobile, ticket, "")
}

func (h *Handler) renderKnowledge(c *gin.Context, status int, b base, q, mobile, ticket, item string) {
	b.Nav = "knowledge"
	page := knowledgePage{base: b, Q: q, CanSMS: h.opts.SMS != nil, Mobile: mobile, Ticket: ticket, Item: item}
	if h.opts.SMS != nil {
		items, err := h.opts.SMS.SearchMaterialItems(c.Request.Context(), q)
		if err != nil {
			h.fail(c, b, err)
			return
		}
		page.Items = items
	}
	h.render(c, status, "knowledge", page)
}

// sendMaterials queues the one-time notice of an item's materials (一次性告知).
func (h *Handler) sendMaterials(c *gin.Context) {
	item, mobile, ticket := c.PostForm("item"), strings.TrimSpace(c.PostForm("mobile")), strings.TrimSpace(c.PostForm("ticket"))
	if h.opts.SMS == nil {
		h.fail(c, h.base(c, "知识库"), api.Errorf(api.ErrUnavailable, "sms_off", "短信服务未启用。"))
		return
	}
	if mobile == "" {
		b := h.base(c, "知识库")
		b.Error = "请填写接收短信的手机号码。"
		h.renderKnowledge(c, http.StatusBadRequest, b, c.PostForm("q"), mobile, ticket, item)
		return
	}
	_, _, err := h.opts.SMS.SendMaterialsNotice(c.Request.Context(), auth.Current(c),
		sms.MaterialsNoticeInput{Item: item, Mobile: mobile, Ticket: ticket})
	if err != nil {
		b := h.base(c, "知识库")
		b.Error = message(err)
		h.renderKnowledge(c, statusOf(err), b, c.PostForm("q"), mobile, ticket, item)
		return
	}
	if ticket != "" {
		redirect(c, "/console/tickets/"+tickets.NormalizeNumber(ticket), "sms")
		return
	}
	redirect(c, "/console/knowledge", "sms")
}
