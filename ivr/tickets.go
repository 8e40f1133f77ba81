package ivr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/tickets"
)

// The controller acts on tickets as the central desk's telephone: it registers voice
// messages and reads the progress a caller asks for.
var desk = &auth.Principal{Name: "ivr", DisplayName: "热线语音系统", Role: auth.RoleOperator}

// voicemailRef is the external reference of a voice message's ticket: registering the
// same message twice (a retry after a crash) finds the first ticket instead.
func voicemailRef(rec *Record) string { return "voicemail:" + rec.Voicemail }

// registerVoicemail turns a voice message into a ticket in the central desk's inbox and
// links it to the call record.
func (c *Controller) registerVoicemail(ctx context.Context, rec *Record, dur time.Duration) (string, error) {
	if c.tickets == nil {
		return "", errors.New("no ticket store")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ref := voicemailRef(rec)
	if number, err := c.ticketByRef(ctx, ref); err != nil || number != "" {
		if err == nil {
			c.attachVoicemail(ctx, rec, number)
		}
		return number, err
	}
	at := rec.ArrivedAt.In(c.loc).Format("2006-01-02 15:04")
	h := c.hotline[rec.Hotline]
	content := fmt.Sprintf("%s 来电（%s，拨打 %s）留言，录音 %s", at, orUnknown(rec.Caller), rec.Dialled, rec.Voicemail)
	if dur > 0 {
		content += fmt.Sprintf("，时长 %d 秒", int(dur/time.Second))
	}
	content += "。请收听录音后补充诉求内容。"
	in := tickets.NewTicket{
		Channel:  tickets.ChannelVoicemail,
		Title:    fmt.Sprintf("%s语音留言 %s", h.Name, orUnknown(rec.Caller)),
		Content:  content,
		Category: c.cfg.Voicemail.Category,
		Ref:      ref,
		Record:   rec.Voicemail,
	}
	if _, err := phone.Parse(rec.Caller); err == nil {
		in.Citizen.Phone = rec.Caller
	}
	v, err := createTicket(ctx, c.tickets, in, c.log)
	if err != nil {
		return "", fmt.Errorf("register voice message %s: %w", rec.Voicemail, err)
	}
	rec.TicketNumber = v.Number
	if err := c.records.save(ctx, rec); err != nil {
		c.log.Error("ivr: voice-message ticket not linked to its call record", "ticket", v.Number, "call", rec.ID, "err", err)
	}
	c.attachVoicemail(ctx, rec, v.Number)
	return v.Number, nil
}

// attachVoicemail attaches the message's audio to its ticket, as the spool import does,
// so that it plays on the ticket's page and outlives Asterisk's recordings folder. A
// ticket that has an attachment already (an earlier try) is left alone. Failing here
// loses nothing: the ticket names the recording, which the call record also serves.
func (c *Controller) attachVoicemail(ctx context.Context, rec *Record, number string) {
	v, err := c.tickets.Find(ctx, desk, number)
	if err != nil || len(v.Attachments) > 0 {
		return
	}
	n := c.nodeNamed(rec.Node)
	if n == nil {
		c.log.Warn("ivr: voice message not attached: its Asterisk node is not configured", "ticket", number, "node", rec.Node)
		return
	}
	body, _, err := n.rest.recordingFile(ctx, rec.Voicemail)
	if err != nil {
		c.log.Warn("ivr: voice message not attached to its ticket", "ticket", number, "recording", rec.Voicemail, "err", err)
		return
	}
	defer body.Close()
	format := c.cfg.Voicemail.Format
	if format == "" {
		format = "wav"
	}
	name := fmt.Sprintf("voicemail-%s.%s", number, format)
	if _, err := c.tickets.AddAttachment(ctx, desk, number, name, body); err != nil {
		c.log.Warn("ivr: voice message not attached to its ticket", "ticket", number, "recording", rec.Voicemail, "err", err)
	}
}

// registerMissedCallback turns a call-back that never reached the citizen into a ticket.
func (c *Controller) registerMissedCallback(ctx context.Context, rec *Record, why string) (string, error) {
	if c.tickets == nil {
		return "", errors.New("no ticket store")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ref := "callback:" + strconv.FormatUint(rec.ID, 10)
	if number, err := c.ticketByRef(ctx, ref); err != nil || number != "" {
		return number, err
	}
	h := c.hotline[rec.Hotline]
	v, err := createTicket(ctx, c.tickets, tickets.NewTicket{
		Channel:  tickets.ChannelPhone,
		Citizen:  tickets.NewCitizen{Phone: rec.Caller},
		Title:    fmt.Sprintf("%s排队回拨未接通 %s", h.Name, rec.Caller),
		Content:  fmt.Sprintf("%s 来电选择排队回拨，%s。请人工回电了解诉求。", rec.ArrivedAt.In(c.loc).Format("2006-01-02 15:04"), why),
		Category: c.cfg.Voicemail.Category,
		Ref:      ref,
	}, c.log)
	if err != nil {
		return "", fmt.Errorf("register missed call-back: %w", err)
	}
	return v.Number, nil
}

// createTicket registers a ticket of the central desk. When its category is gone from
// the directory (retired, or removed after the start-up check), the ticket goes under a
// stand-in and says so, rather than the message waiting for a category that will not
// come back: the desk reclassifies it when it accepts it.
func createTicket(ctx context.Context, store *tickets.Store, in tickets.NewTicket, log *slog.Logger) (*tickets.View, error) {
	v, err := store.Create(ctx, desk, in)
	var ae *api.Error
	if err == nil || !errors.As(err, &ae) || (ae.Code != "unknown_category" && ae.Code != "inactive_category") {
		return v, err
	}
	alt, ok := standInCategory(ctx, store, in.Category)
	if !ok {
		return nil, err
	}
	log.Warn("ivr: the configured category is not in the directory; the ticket goes under a stand-in", "category", in.Category, "stand_in", alt, "err", err)
	in.Content += fmt.Sprintf("（配置的分类 %s 已不在分类目录中，暂归入 %s，请受理时改正分类。）", in.Category, alt)
	in.Category = alt
	return store.Create(ctx, desk, in)
}

// standInCategory is the category nearest to a retired one that is still in use (its
// parent, grandparent, …), else the first category in use at the top of the tree.
func standInCategory(ctx context.Context, store *tickets.Store, code string) (string, bool) {
	cats, err := store.Categories(ctx)
	if err != nil {
		return "", false
	}
	byCode := make(map[string]tickets.CategoryView, len(cats))
	for _, c := range cats {
		byCode[c.Code] = c
	}
	for c, ok := byCode[code]; ok && c.Parent != ""; {
		c, ok = byCode[c.Parent]
		if ok && c.Active {
			return c.Code, true
		}
	}
	for _, c := range cats {
		if c.Parent == "" && c.Active {
			return c.Code, true
		}
	}
	return "", false
}

func (c *Controller) ticketByRef(ctx context.Context, ref string) (string, error) {
	return ticketByRef(ctx, c.records.db, ref)
}

// ticketByRef finds a ticket's number by its external reference ("" when none).
func ticketByRef(ctx context.Context, db *gorm.DB, ref string) (string, error) {
	var numbers []string
	err := db.WithContext(ctx).Model(&tickets.Ticket{}).Where("external_ref = ?", ref).Limit(1).Pluck("number", &numbers).Error
	if err != nil {
		return "", fmt.Errorf("look up ticket %s: %w", ref, err)
	}
	if len(numbers) == 0 {
		return "", nil
	}
	return numbers[0], nil
}

func orUnknown(s string) string {
	if s == "" {
		return "号码未知"
	}
	return s
}

// openTicketOf returns the newest open ticket of a caller's number, or nil.
func (c *Controller) openTicketOf(ctx context.Context, caller string) (*tickets.Summary, error) {
	n, err := phone.Parse(caller)
	if err != nil {
		return nil, nil // a withheld or odd number has no tickets
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	open := true
	list, _, err := c.tickets.List(ctx, desk, tickets.Filter{Phone: n.National, Open: &open}, api.Page{Page: 1, PerPage: 1})
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, nil
	}
	return &list[0], nil
}

// earlierTickets lists a caller's tickets for the screen-pop (newest first).
func (c *Controller) earlierTickets(ctx context.Context, caller string) []tickets.Summary {
	if c.tickets == nil {
		return nil
	}
	n, err := phone.Parse(caller)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	list, _, err := c.tickets.List(ctx, desk, tickets.Filter{Phone: n.National}, api.Page{Page: 1, PerPage: 10})
	if err != nil {
		c.log.Warn("ivr: screen-pop without earlier tickets", "err", err)
		return nil
	}
	return list
}

// findTicket reads a ticket for the status lookup; not found is (nil, nil).
func (c *Controller) findTicket(ctx context.Context, number string) (*tickets.View, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	v, err := c.tickets.Find(ctx, desk, number)
	if errors.Is(err, api.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// RetryVoicemails registers voice messages whose ticket could not be created during the
// call (database down): it reads call records with a recording and no ticket.
func (c *Controller) RetryVoicemails(ctx context.Context) (int, error) {
	return retryVoicemails(ctx, c)
}

func retryVoicemails(ctx context.Context, c *Controller) (int, error) {
	var recs []Record
	err := c.records.db.WithContext(ctx).
		Where("voicemail <> '' AND (ticket_number = '' OR ticket_number IS NULL) AND ended_at IS NOT NULL").
		Order("id").Limit(100).Find(&recs).Error
	if err != nil {
		return 0, fmt.Errorf("voice messages without tickets: %w", err)
	}
	done := 0
	for i := range recs {
		if _, err := c.registerVoicemail(ctx, &recs[i], 0); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}
