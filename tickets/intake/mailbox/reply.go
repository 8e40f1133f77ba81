package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/rexian/rexian/tickets"
)

// Sender delivers one composed letter; SMTPSender is the real one.
type Sender interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// ReplierOptions configure a Replier.
type ReplierOptions struct {
	// From is the mailbox's address, with a display name: "市长信箱 <mayor@city.gov.cn>".
	From string
	// PublicURL, when set, is named in receipts as where progress can be checked.
	PublicURL string
	// Window is how far back owed replies are caught up; older ones are never sent, so
	// that turning replies on does not write to every citizen of past years.
	Window time.Duration
	// Lease: a reply claimed for sending longer ago than this was cut short by a crash
	// and is sent again (with the same Message-ID).
	Lease time.Duration
	// MaxAttempts before a reply that keeps failing is given up.
	MaxAttempts int
	// Batch is the most replies one pass sends.
	Batch    int
	Location *time.Location
	Now      func() time.Time
	Log      *slog.Logger
}

// Replier sends receipts and results to citizens who wrote to the mailbox. It derives
// what is owed from the tickets and their timelines and records every reply in
// mailbox_replies before sending it, so a pass may be repeated, on any instance, at any
// time: nothing is sent twice and nothing owed is forgotten.
type Replier struct {
	db     *gorm.DB
	sender Sender
	opts   ReplierOptions
	from   *mail.Address
}

// NewReplier returns a replier reading the tickets in db.
func NewReplier(db *gorm.DB, sender Sender, opts ReplierOptions) (*Replier, error) {
	from, err := mail.ParseAddress(opts.From)
	if err != nil || !validAddress(from.Address) {
		return nil, fmt.Errorf("mailbox.from %q is not an address such as 市长信箱 <mayor@city.gov.cn>", opts.From)
	}
	if from.Name == "" {
		from.Name = "市长信箱"
	}
	if opts.Window <= 0 {
		opts.Window = 7 * 24 * time.Hour
	}
	if opts.Lease <= 0 {
		opts.Lease = 10 * time.Minute
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.Batch <= 0 {
		opts.Batch = 50
	}
	if opts.Location == nil {
		opts.Location = time.FixedZone("CST", 8*3600)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Replier{db: db, sender: sender, opts: opts, from: from}, nil
}

// owed is one reply to send.
type owed struct {
	ticket   tickets.Ticket
	kind     string
	eventSeq int
	rec      *replyRecord // set when retrying
}

// RunOnce sends the replies owed now and returns how many went out. It stops at the
// first failure that is not the reply's own (the database), leaving the rest for later.
func (r *Replier) RunOnce(ctx context.Context) (int, error) {
	work, err := r.due(ctx)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, w := range work {
		if ctx.Err() != nil {
			return sent, ctx.Err()
		}
		ok, err := r.send(ctx, w)
		if err != nil {
			return sent, err
		}
		if ok {
			sent++
		}
	}
	return sent, nil
}

// eligible narrows a tickets query to citizens who gave an address and want an answer.
func eligible(q *gorm.DB) *gorm.DB {
	return q.Where("tickets.channel = ? AND tickets.citizen_email <> '' AND tickets.anonymous = ? AND tickets.wants_reply = ?",
		tickets.ChannelMailbox, false, true)
}

func (r *Replier) due(ctx context.Context) ([]owed, error) {
	now := r.opts.Now().UTC()
	since := now.Add(-r.opts.Window)
	db := r.db.WithContext(ctx)
	var work []owed

	// Replies that failed before and are due again, and claims cut short by a crash.
	var retry []replyRecord
	if err := db.Where("(state = ? AND next_at <= ?) OR (state = ? AND claimed_at < ?)",
		replyRetry, now, replySending, now.Add(-r.opts.Lease)).Order("id").Limit(r.opts.Batch).Find(&retry).Error; err != nil {
		return nil, fmt.Errorf("find replies to retry: %w", err)
	}
	for i := range retry {
		var t tickets.Ticket
		if err := db.Where("id = ?", retry[i].TicketID).Take(&t).Error; err != nil {
			return nil, fmt.Errorf("load ticket %d of reply %d: %w", retry[i].TicketID, retry[i].ID, err)
		}
		work = append(work, owed{ticket: t, kind: retry[i].Kind, eventSeq: retry[i].EventSeq, rec: &retry[i]})
	}

	// Receipts: every registration (its event is the timeline's first, seq 1).
	var registered []tickets.Ticket
	if err := eligible(db.Model(&tickets.Ticket{})).
		Where("tickets.registered_at >= ?", since).
		Where("NOT EXISTS (SELECT 1 FROM mailbox_replies r WHERE r.ticket_id = tickets.id AND r.kind = ?)", kindReceipt).
		Order("tickets.id").Limit(r.opts.Batch).Find(&registered).Error; err != nil {
		return nil, fmt.Errorf("find receipts owed: %w", err)
	}
	for _, t := range registered {
		work = append(work, owed{ticket: t, kind: kindReceipt, eventSeq: 1})
	}

	// Results: the latest closing event — a verified reply, a direct answer, or a refusal
	// (不予受理), which the citizen must hear of too — of a ticket closed that way now. A
	// ticket reopened and completed again owes a second result.
	type completion struct {
		TicketID uint64
		Seq      int
	}
	var done []completion
	completions := []tickets.Action{tickets.ActApprove, tickets.ActAnswer, tickets.ActRefuse}
	if err := eligible(db.Table("events").Select("events.ticket_id, events.seq").
		Joins("JOIN tickets ON tickets.id = events.ticket_id")).
		Where("events.action IN ? AND events.at >= ? AND tickets.status IN ?", completions, since,
			[]tickets.Status{tickets.StatusCompleted, tickets.StatusRefused}).
		Where("events.seq = (SELECT MAX(e2.seq) FROM events e2 WHERE e2.ticket_id = events.ticket_id AND e2.action IN ?)", completions).
		Where("NOT EXISTS (SELECT 1 FROM mailbox_replies r WHERE r.ticket_id = events.ticket_id AND r.kind = ? AND r.event_seq = events.seq)", kindResult).
		Order("events.id").Limit(r.opts.Batch).Scan(&done).Error; err != nil {
		return nil, fmt.Errorf("find results owed: %w", err)
	}
	for _, c := range done {
		var t tickets.Ticket
		if err := db.Where("id = ?", c.TicketID).Take(&t).Error; err != nil {
			return nil, fmt.Errorf("load ticket %d: %w", c.TicketID, err)
		}
		work = append(work, owed{ticket: t, kind: kindResult, eventSeq: c.Seq})
	}
	return work, nil
}

// send claims one reply, sends it and records the outcome. ok reports that it went out;
// an error is the database's, and ends the pass.
func (r *Replier) send(ctx context.Context, w owed) (ok bool, err error) {
	now := r.opts.Now().UTC()
	t := &w.ticket
	log := r.opts.Log.With("ticket", t.Number, "kind", w.kind, "event_seq", w.eventSeq)
	db := r.db.WithContext(ctx)
	rec := w.rec
	if rec == nil {
		rec = &replyRecord{TicketID: t.ID, Kind: w.kind, EventSeq: w.eventSeq, State: replySending,
			MessageID: r.messageID(t.Number, w.kind, w.eventSeq), Recipient: t.CitizenEmail, Attempts: 1,
			ClaimedAt: now, NextAt: now, CreatedAt: now, UpdatedAt: now}
		res := db.Clauses(clause.OnConflict{DoNothing: true}).Create(rec)
		if res.Error != nil {
			return false, fmt.Errorf("claim %s reply of ticket %s: %w", w.kind, t.Number, res.Error)
		}
		if res.RowsAffected == 0 {
			return false, nil // another instance claimed it first
		}
	} else {
		// Guarded by the state and attempts we read, so only one instance retries it.
		res := db.Model(&replyRecord{}).Where("id = ? AND state = ? AND attempts = ?", rec.ID, rec.State, rec.Attempts).
			Updates(map[string]any{"state": replySending, "attempts": rec.Attempts + 1, "claimed_at": now, "updated_at": now})
		if res.Error != nil {
			return false, fmt.Errorf("claim %s reply of ticket %s: %w", w.kind, t.Number, res.Error)
		}
		if res.RowsAffected == 0 {
			return false, nil
		}
		rec.Attempts++
	}
	var letter letterRecord
	if err := db.Where("ticket_number = ?", t.Number).Limit(1).Find(&letter).Error; err != nil {
		return false, fmt.Errorf("load letter of ticket %s: %w", t.Number, err)
	}
	msg, err := r.compose(t, w.kind, rec.MessageID, &letter)
	if err == nil {
		err = r.sender.Send(ctx, r.from.Address, []string{t.CitizenEmail}, msg)
	}
	if err == nil {
		if uerr := db.Model(&replyRecord{}).Where("id = ?", rec.ID).
			Updates(map[string]any{"state": replySent, "sent_at": now, "last_error": "", "updated_at": r.opts.Now().UTC()}).Error; uerr != nil {
			// Sent but not recorded: the claim stays "sending" and is sent again after the
			// lease — the one window where a reply can go out twice, with the same Message-ID.
			return true, fmt.Errorf("record %s reply of ticket %s as sent: %w", w.kind, t.Number, uerr)
		}
		log.InfoContext(ctx, "reply sent", "to", t.CitizenEmail, "message_id", rec.MessageID)
		return true, nil
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	state, next := replyRetry, now.Add(retryDelay(rec.Attempts))
	var serr *smtp.SMTPError
	if (errors.As(err, &serr) && serr.Code >= 500) || rec.Attempts >= r.opts.MaxAttempts {
		state = replyGaveUp // refused for good (no such mailbox), or tried long enough
	}
	log.WarnContext(ctx, "reply not sent", "to", t.CitizenEmail, "attempt", rec.Attempts, "state", state, "err", err)
	if uerr := db.Model(&replyRecord{}).Where("id = ?", rec.ID).
		Updates(map[string]any{"state": state, "next_at": next, "last_error": truncateRunes(err.Error(), 1000), "updated_at": now}).Error; uerr != nil {
		return false, fmt.Errorf("record failed %s reply of ticket %s: %w", w.kind, t.Number, uerr)
	}
	return false, nil
}

func retryDelay(attempt int) time.Duration {
	d := time.Minute << min(attempt-1, 8)
	return min(d, 6*time.Hour)
}

// messageID is the same for every attempt at one reply, so that a reply sent again after
// a crash is recognisable as the same letter.
func (r *Replier) messageID(number, kind string, seq int) string {
	_, domain, _ := strings.Cut(r.from.Address, "@")
	return fmt.Sprintf("<%s.%s.%d@%s>", kind, number, seq, domain)
}

// compose writes the reply: Chinese, plain text, threaded under the citizen's letter,
// marked as automatic (RFC 3834) so that auto-responders do not answer it.
func (r *Replier) compose(t *tickets.Ticket, kind, messageID string, letter *letterRecord) ([]byte, error) {
	var h mail.Header
	h.SetDate(r.opts.Now())
	h.SetAddressList("From", []*mail.Address{r.from})
	h.SetAddressList("To", []*mail.Address{{Name: oneLine(t.CitizenName), Address: t.CitizenEmail}})
	h.Set("Message-Id", messageID)
	subject := oneLine(letter.Subject)
	if subject == "" {
		subject = oneLine(t.Title)
	}
	subject = truncateRunes(subject, 60)
	switch kind {
	case kindReceipt:
		h.SetSubject(fmt.Sprintf("来信已受理（工单号%s）：%s", t.Number, subject))
	case kindResult:
		if t.Status == tickets.StatusRefused {
			h.SetSubject(fmt.Sprintf("来信不予受理告知（工单号%s）：%s", t.Number, subject))
		} else {
			h.SetSubject(fmt.Sprintf("来信办理结果（工单号%s）：%s", t.Number, subject))
		}
	}
	if ref := safeRef(t.ExternalRef); ref != "" {
		h.Set("In-Reply-To", ref)
		var refs []string
		for _, x := range strings.Fields(letter.References) {
			if y := safeRef(x); y != "" && y != ref {
				refs = append(refs, y)
			}
		}
		refs = append(refs, ref)
		if len(refs) > 10 {
			refs = refs[len(refs)-10:]
		}
		h.Set("References", strings.Join(refs, " "))
	}
	h.Set("Auto-Submitted", "auto-replied")
	h.Set("X-Auto-Response-Suppress", "All")
	h.Set("MIME-Version", "1.0")
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	h.Set("Content-Transfer-Encoding", "base64")

	var body string
	switch kind {
	case kindReceipt:
		body = r.receiptText(t, letter)
	default:
		body = r.resultText(t)
	}
	var buf bytes.Buffer
	w, err := message.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil, fmt.Errorf("compose reply: %w", err)
	}
	if _, err := w.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n"))); err != nil {
		return nil, fmt.Errorf("compose reply: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("compose reply: %w", err)
	}
	return buf.Bytes(), nil
}

// safeRef returns a message id fit for In-Reply-To, or "" for none: ids the mailbox made
// up for letters without one refer to nothing the citizen has.
func safeRef(ref string) string {
	ref = strings.TrimSpace(ref)
	if !strings.HasPrefix(ref, "<") || !strings.HasSuffix(ref, ">") || strings.HasSuffix(ref, "@no-message-id.mailbox.rexian>") {
		return ""
	}
	inner := safeHeader(ref[1 : len(ref)-1])
	if inner == "" || len(inner) > 250 {
		return ""
	}
	return "<" + inner + ">"
}

func (r *Replier) greeting(t *tickets.Ticket) string {
	if name := oneLine(t.CitizenName); name != "" {
		return name + "，您好："
	}
	return "您好："
}

func (r *Replier) receiptText(t *tickets.Ticket, letter *letterRecord) string {
	var b strings.Builder
	b.WriteString(r.greeting(t) + "\n\n")
	fmt.Fprintf(&b, "您%s写给市长信箱的来信已收到并受理，工单号为 %s。\n",
		t.RegisteredAt.In(r.opts.Location).Format("2006年1月2日15:04"), t.Number)
	b.WriteString("我们将按规定转交承办单位办理，办理结果将通过本邮箱答复您。\n")
	if r.opts.PublicURL != "" {
		fmt.Fprintf(&b, "您可凭工单号在 %s 查询办理进度。\n", strings.TrimRight(r.opts.PublicURL, "/"))
	}
	if s := oneLine(letter.Subject); s != "" {
		fmt.Fprintf(&b, "\n来信主题：%s\n", s)
	}
	b.WriteString("\n本邮件由系统自动发送。如需补充情况，请另行来信并注明工单号。\n\n")
	b.WriteString(r.from.Name + "\n")
	return b.String()
}

func (r *Replier) resultText(t *tickets.Ticket) string {
	var b strings.Builder
	b.WriteString(r.greeting(t) + "\n\n")
	if t.Status == tickets.StatusRefused {
		fmt.Fprintf(&b, "经审查，您的来信（工单号 %s）不予受理，原因如下：\n\n%s\n\n", t.Number, strings.TrimSpace(t.Answer))
		b.WriteString("如有疑问，请另行来信并注明工单号。\n\n")
		b.WriteString(r.from.Name + "\n")
		return b.String()
	}
	fmt.Fprintf(&b, "您的来信（工单号 %s）已办理完毕，办理结果如下：\n\n", t.Number)
	answer := strings.TrimSpace(t.Answer)
	if answer == "" {
		answer = "（承办单位已办结。）"
	}
	b.WriteString(answer + "\n\n")
	b.WriteString("如对办理结果有意见，请另行来信并注明工单号。感谢您对我们工作的支持！\n\n")
	b.WriteString(r.from.Name + "\n")
	return b.String()
}
