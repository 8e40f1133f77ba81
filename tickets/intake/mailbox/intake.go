package mailbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// Actor is the system principal the mailbox registers tickets as. It has the operator
// role because registering and attaching files are the desk's work; it appears in
// timelines as "operator:mailbox".
var Actor = &auth.Principal{Name: "mailbox", DisplayName: "市长信箱", Role: auth.RoleOperator}

// IntakeOptions configure an Intake.
type IntakeOptions struct {
	// Category is the category code letters are registered under until the desk
	// classifies them.
	Category string
	Limits   Limits
	// Lease is how long a claim on a letter keeps other readers away; a reader that died
	// half-way loses its claim after it.
	Lease time.Duration
	Now   func() time.Time
	Log   *slog.Logger
}

// Intake turns letters into tickets, exactly once per Message-ID.
type Intake struct {
	store    *tickets.Store
	db       *gorm.DB
	opts     IntakeOptions
	instance string
}

// NewIntake returns an intake registering tickets in store.
func NewIntake(store *tickets.Store, opts IntakeOptions) *Intake {
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits()
	}
	if opts.Lease <= 0 {
		opts.Lease = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Category == "" {
		opts.Category = "ZX"
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &Intake{store: store, db: store.DB(), opts: opts, instance: hex.EncodeToString(b)}
}

// Incoming is one letter as fetched from the mailbox: the whole of it, or only its header
// when it is over the size limit.
type Incoming struct {
	UID    uint32 // for logs
	Raw    []byte // nil when the letter was too large to download
	Header []byte // the header, when Raw is nil
	Size   int64
	// MaxBytes is the limit Size was over, for the ticket's wording.
	MaxBytes int64
}

// Result is what became of a letter; Outcome names the folder it belongs in.
type Result struct {
	Outcome   string // processed, failed or ignored
	Ticket    string // the ticket number; empty for noise
	MessageID string
	Duplicate bool   // the Message-ID had already made a ticket
	Reason    string // why noise was ignored, or why the letter failed
}

// errBusy means another reader holds a fresh claim on the letter.
var errBusy = errors.New("another reader is registering this letter")

// Accept registers the ticket for one letter, or finds the one it already made. An error
// means nothing final happened — the database is unreachable, the configuration is
// wrong, or another reader is at it — and the letter must stay where it is to be retried.
func (in *Intake) Accept(ctx context.Context, m Incoming) (Result, error) {
	var (
		l        *Letter
		perr     error
		tooLarge = m.Raw == nil
	)
	if tooLarge {
		l = ParseHeader(m.Header)
	} else {
		l, perr = ParseLetter(m.Raw, in.opts.Limits)
	}
	log := in.opts.Log.With("uid", m.UID, "message_id", l.MessageID)
	if l.Noise != "" {
		log.InfoContext(ctx, "letter is not a citizen's letter; set aside", "reason", l.Noise, "from", l.FromAddr)
		return Result{Outcome: outcomeIgnored, MessageID: l.MessageID, Reason: l.Noise}, nil
	}
	keepAcceptedTypes(l)
	rec, taken, err := in.claim(ctx, l)
	if err != nil {
		return Result{}, err
	}
	res := Result{MessageID: l.MessageID, Outcome: outcomeProcessed}
	if perr != nil || tooLarge {
		res.Outcome = outcomeFailed
		if tooLarge {
			res.Reason = fmt.Sprintf("letter of %d bytes is over the limit of %d", m.Size, m.MaxBytes)
		} else {
			res.Reason = perr.Error()
		}
	}
	if rec.TicketNumber != "" || rec.State == stateIgnored {
		res.Ticket, res.Outcome, res.Duplicate = rec.TicketNumber, rec.Outcome, rec.AttachmentsDone
	}
	if rec.TicketNumber == "" && rec.State != stateIgnored {
		number := ""
		if taken {
			// A reader died after registering but before recording the number: find its
			// ticket by the Message-ID rather than make a second one.
			if number, err = in.ticketByRef(ctx, l.MessageID); err != nil {
				return Result{}, err
			}
		}
		if number == "" {
			number, err = in.register(ctx, l, m, res.Outcome == outcomeFailed)
			var perm permanentError
			if errors.As(err, &perm) {
				log.ErrorContext(ctx, "letter could not become a ticket", "err", err)
				res.Outcome, res.Reason = outcomeFailed, err.Error()
				if uerr := in.db.WithContext(ctx).Model(&letterRecord{}).Where("id = ?", rec.ID).
					Updates(map[string]any{"state": stateIgnored, "outcome": outcomeFailed, "note": truncateRunes(err.Error(), 2000), "updated_at": in.opts.Now()}).Error; uerr != nil {
					return Result{}, fmt.Errorf("record failed letter %s: %w", l.MessageID, uerr)
				}
				return res, nil
			}
			if err != nil {
				in.release(ctx, rec)
				return Result{}, err
			}
		}
		rec.TicketNumber, rec.State, rec.Outcome = number, stateTicketed, res.Outcome
		if err := in.db.WithContext(ctx).Model(&letterRecord{}).Where("id = ?", rec.ID).Updates(map[string]any{
			"ticket_number": number, "state": stateTicketed, "outcome": res.Outcome, "updated_at": in.opts.Now(),
		}).Error; err != nil {
			return Result{}, fmt.Errorf("record ticket %s of letter %s: %w", number, l.MessageID, err)
		}
		res.Ticket = number
		log.InfoContext(ctx, "letter registered", "ticket", number, "outcome", res.Outcome, "from", l.FromAddr)
	}
	if rec.State == stateTicketed && !rec.AttachmentsDone {
		if err := in.attach(ctx, log, rec, l); err != nil {
			return Result{}, err
		}
	}
	if res.Duplicate {
		log.InfoContext(ctx, "letter already made a ticket", "ticket", res.Ticket)
	}
	return res, nil
}

// claim takes the letter's row in mailbox_letters, creating it when new. taken reports
// that an existing claim was taken over (its holder's lease ran out, or it was ours).
func (in *Intake) claim(ctx context.Context, l *Letter) (rec *letterRecord, taken bool, err error) {
	db := in.db.WithContext(ctx)
	for attempt := 0; attempt < 2; attempt++ {
		now := in.opts.Now().UTC()
		var found []letterRecord
		if err := db.Where("message_id = ?", l.MessageID).Limit(1).Find(&found).Error; err != nil {
			return nil, false, fmt.Errorf("look up letter %s: %w", l.MessageID, err)
		}
		if len(found) == 1 {
			r := &found[0]
			// A ticket whose files are still being attached stays claimed too: two readers
			// attaching at once would attach each file twice.
			if r.State != stateClaimed && (r.State != stateTicketed || r.AttachmentsDone) {
				return r, false, nil
			}
			if r.ClaimedBy != in.instance && now.Sub(r.ClaimedAt) < in.opts.Lease {
				return nil, false, fmt.Errorf("letter %s: %w", l.MessageID, errBusy)
			}
			// Take the claim over, guarded by the claim we read, so two readers cannot
			// both take it.
			res := db.Model(&letterRecord{}).Where("id = ? AND claimed_by = ? AND claimed_at = ?", r.ID, r.ClaimedBy, r.ClaimedAt).
				Updates(map[string]any{"claimed_by": in.instance, "claimed_at": now, "updated_at": now})
			if res.Error != nil {
				return nil, false, fmt.Errorf("take over letter %s: %w", l.MessageID, res.Error)
			}
			if res.RowsAffected == 1 {
				r.ClaimedBy, r.ClaimedAt = in.instance, now
				return r, true, nil
			}
			continue
		}
		r := &letterRecord{MessageID: l.MessageID, State: stateClaimed, Subject: truncateBytes(l.Subject, 255),
			Sender: l.FromAddr, References: strings.Join(l.References, " "), ClaimedBy: in.instance, ClaimedAt: now,
			CreatedAt: now, UpdatedAt: now}
		// ON CONFLICT DO NOTHING: a second reader inserting the same Message-ID at the same
		// moment finds the row on the next round instead of failing.
		res := db.Clauses(clause.OnConflict{DoNothing: true}).Create(r)
		if res.Error != nil {
			return nil, false, fmt.Errorf("claim letter %s: %w", l.MessageID, res.Error)
		}
		if res.RowsAffected == 1 {
			return r, false, nil
		}
	}
	return nil, false, fmt.Errorf("letter %s: %w", l.MessageID, errBusy)
}

// release gives up a claim after a failure that may pass, so that the next pass, on any
// reader, starts afresh. Best effort: an unreachable database keeps the claim until its
// lease runs out.
func (in *Intake) release(ctx context.Context, rec *letterRecord) {
	_ = in.db.WithContext(ctx).Where("id = ? AND state = ? AND claimed_by = ?", rec.ID, stateClaimed, in.instance).
		Delete(&letterRecord{}).Error
}

func (in *Intake) ticketByRef(ctx context.Context, ref string) (string, error) {
	var numbers []string
	err := in.db.WithContext(ctx).Model(&tickets.Ticket{}).
		Where("channel = ? AND external_ref = ?", tickets.ChannelMailbox, ref).Order("id").Limit(1).Pluck("number", &numbers).Error
	if err != nil {
		return "", fmt.Errorf("look up ticket of letter %s: %w", ref, err)
	}
	if len(numbers) == 0 {
		return "", nil
	}
	return numbers[0], nil
}

// permanentError is a letter that can never become a ticket as it is; retrying would not help.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// fullTextName is the attachment that carries a letter's whole text when it is longer than
// a ticket's content may be.
const fullTextName = "来信全文.txt"

func (in *Intake) register(ctx context.Context, l *Letter, m Incoming, failed bool) (string, error) {
	nt := tickets.NewTicket{
		Channel:  tickets.ChannelMailbox,
		Citizen:  tickets.NewCitizen{Name: truncateRunes(l.FromName, 64), Email: l.FromAddr},
		Title:    truncateRunes(l.Subject, tickets.MaxTitleRunes),
		Category: in.opts.Category,
		Ref:      l.MessageID,
	}
	content := l.Text
	switch {
	case m.Raw == nil:
		content = fmt.Sprintf("（来信大小约%s，超过%s的上限，正文和附件未下载。原信保留在邮箱的待人工处理文件夹中，请工作人员查看后补录。）",
			humanBytes(m.Size), humanBytes(m.MaxBytes))
	case strings.TrimSpace(content) == "":
		content = "（来信没有可读的正文）"
	}
	if utf8.RuneCountInString(content) > tickets.MaxContentRunes {
		content = truncateRunes(content, tickets.MaxContentRunes-40) + "\n……（正文过长，全文见附件“" + fullTextName + "”）"
	}
	nt.Content = content
	nt.Note = in.note(l, m, failed)
	v, err := in.store.Create(ctx, Actor, nt)
	var ae *api.Error
	if errors.As(err, &ae) && errors.Is(err, api.ErrInvalid) {
		switch ae.Code {
		case "unknown_category", "empty_category", "inactive_category":
			// The configuration is wrong, not the letter: leave it for after the fix.
			return "", fmt.Errorf("mailbox.category %q: %w", in.opts.Category, err)
		}
		// Something in the sender's fields did not pass; the letter still counts more
		// than its header, so register it without them.
		in.opts.Log.WarnContext(ctx, "letter refused as it is; registering without sender details", "message_id", l.MessageID, "err", err)
		nt.Citizen = tickets.NewCitizen{}
		nt.Title = ""
		nt.Note = truncateRunes(nt.Note+"；登记时发件人信息无效已略去："+err.Error(), tickets.MaxNoteRunes)
		v, err = in.store.Create(ctx, Actor, nt)
		if errors.Is(err, api.ErrInvalid) {
			return "", permanentError{fmt.Errorf("register letter %s: %w", l.MessageID, err)}
		}
	}
	if err != nil {
		return "", fmt.Errorf("register letter %s: %w", l.MessageID, err)
	}
	return v.Number, nil
}

// note is the registration note: where the letter came from and what of it is not in the
// ticket, so the desk knows at a glance whether to look at the original.
func (in *Intake) note(l *Letter, m Incoming, failed bool) string {
	var parts []string
	from := l.FromAddr
	if l.FromName != "" {
		from = l.FromName + " <" + l.FromAddr + ">"
	}
	parts = append(parts, "市长信箱来信，发件人："+from)
	if !l.Date.IsZero() {
		parts = append(parts, "发信时间："+l.Date.Format("2006-01-02 15:04 -0700"))
	}
	if m.Raw == nil {
		parts = append(parts, "来信过大，未下载")
	}
	if len(l.Dropped) > 0 {
		parts = append(parts, "未保存的附件或内容："+strings.Join(l.Dropped, "、"))
	}
	if failed && m.Raw != nil {
		parts = append(parts, "邮件格式有误，内容可能不完整，原信在邮箱的待人工处理文件夹："+strings.Join(l.Problems, "; "))
	}
	return truncateRunes(strings.Join(parts, "；"), tickets.MaxNoteRunes)
}

// attach adds the letter's files to its ticket, skipping those already there (a retry
// after a crash half-way). A file the ticket store refuses is listed on the letter's row
// and logged; a failure that may pass is returned, to be retried with the letter.
func (in *Intake) attach(ctx context.Context, log *slog.Logger, rec *letterRecord, l *Letter) error {
	files := l.Attachments
	if utf8.RuneCountInString(l.Text) > tickets.MaxContentRunes {
		files = append([]Attachment{{Name: fullTextName, ContentType: "text/plain", Data: []byte(l.Text)}}, files...)
	}
	if len(files) > 0 {
		v, err := in.store.Find(ctx, Actor, rec.TicketNumber)
		if err != nil {
			return fmt.Errorf("read ticket %s for its attachments: %w", rec.TicketNumber, err)
		}
		have := map[string]bool{}
		for _, a := range v.Attachments {
			have[a.SHA256] = true
		}
		var refused []string
		for _, f := range files {
			sum := sha256.Sum256(f.Data)
			if have[hex.EncodeToString(sum[:])] {
				continue
			}
			_, err := in.store.AddAttachment(ctx, Actor, rec.TicketNumber, f.Name, bytes.NewReader(f.Data))
			switch {
			case err == nil:
			case errors.Is(err, api.ErrInvalid), errors.Is(err, api.ErrTooLarge), errors.Is(err, api.ErrConflict),
				errors.Is(err, api.ErrUnavailable), errors.Is(err, api.ErrForbidden):
				log.WarnContext(ctx, "attachment refused", "ticket", rec.TicketNumber, "file", f.Name, "err", err)
				refused = append(refused, f.Name+"："+err.Error())
			default:
				return fmt.Errorf("attach %q to ticket %s: %w", f.Name, rec.TicketNumber, err)
			}
		}
		if len(refused) > 0 {
			rec.Note = truncateRunes(strings.TrimSpace(rec.Note+"\n未保存的附件："+strings.Join(refused, "；")), 2000)
		}
	}
	if err := in.db.WithContext(ctx).Model(&letterRecord{}).Where("id = ?", rec.ID).
		Updates(map[string]any{"attachments_done": true, "note": rec.Note, "updated_at": in.opts.Now()}).Error; err != nil {
		return fmt.Errorf("record attachments of ticket %s: %w", rec.TicketNumber, err)
	}
	rec.AttachmentsDone = true
	return nil
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// keepAcceptedTypes moves files whose name the tickets store would refuse (an .exe, a
// .zip) to Dropped before registration, so that the ticket's note lists them. The store
// still sniffs what is kept and refuses a file whose content belies its name.
func keepAcceptedTypes(l *Letter) {
	allowed := map[string]bool{}
	for _, e := range tickets.AllowedAttachmentExtensions() {
		allowed[e] = true
	}
	kept := l.Attachments[:0]
	for _, a := range l.Attachments {
		if allowed[strings.ToLower(path.Ext(a.Name))] {
			kept = append(kept, a)
			continue
		}
		l.Dropped = append(l.Dropped, a.Name+"（文件类型不受理）")
	}
	l.Attachments = kept
}
