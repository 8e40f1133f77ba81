package qq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/intake"
)

// sentReply records a QQ message owed to a citizen for one timeline event of a QQ ticket
// (its registration, its completion): the row is the claim before sending, and SentAt the
// proof after. Which messages are owed is derived from the events log, so a crash or a
// restart neither loses nor repeats a reply (a crash in the middle of a send may repeat
// that one message once).
type sentReply struct {
	ID           uint64    `gorm:"primaryKey"`
	TicketNumber string    `gorm:"size:20;not null;uniqueIndex:idx_qq_replies_event,priority:1"`
	EventSeq     int       `gorm:"not null;uniqueIndex:idx_qq_replies_event,priority:2"`
	Target       string    `gorm:"size:96;not null"`
	ClaimedAt    time.Time `gorm:"not null;index"`
	SentAt       *time.Time
	Attempts     int    `gorm:"not null;default:0"`
	LastError    string `gorm:"size:255"`
}

func (sentReply) TableName() string { return "qq_replies" }

// Migrations returns the QQ channel's schema steps.
func Migrations() []*database.Migration {
	return []*database.Migration{{
		ID: "20261126_60_qq_replies",
		Migrate: func(tx *gorm.DB) error {
			type qqReply struct {
				ID           uint64    `gorm:"primaryKey"`
				TicketNumber string    `gorm:"size:20;not null;uniqueIndex:idx_qq_replies_event,priority:1"`
				EventSeq     int       `gorm:"not null;uniqueIndex:idx_qq_replies_event,priority:2"`
				Target       string    `gorm:"size:96;not null"`
				ClaimedAt    time.Time `gorm:"not null;index"`
				SentAt       *time.Time
				Attempts     int    `gorm:"not null;default:0"`
				LastError    string `gorm:"size:255"`
			}
			return tx.Table("qq_replies").Migrator().CreateTable(&qqReply{})
		},
		Rollback: func(tx *gorm.DB) error { return tx.Migrator().DropTable("qq_replies") },
	}}
}

// Replier tells QQ citizens of their tickets: the receipt and the result.
type Replier struct {
	db    *gorm.DB
	store *tickets.Store
	send  Sender
	log   *slog.Logger
	now   func() time.Time
	// Lookback bounds how far back events are looked at, so that turning the channel on
	// does not message people about years-old tickets.
	Lookback time.Duration
	// Retry is how long a claimed, unsent reply waits before it is tried again.
	Retry       time.Duration
	MaxAttempts int
}

// NewReplier returns a replier over the store's database.
func NewReplier(store *tickets.Store, send Sender, log *slog.Logger, now func() time.Time) *Replier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Replier{db: store.DB(), store: store, send: send, log: log, now: now,
		Lookback: 7 * 24 * time.Hour, Retry: 2 * time.Minute, MaxAttempts: 10}
}

// repliedActions are the events a QQ citizen is told of.
var repliedActions = []tickets.Action{tickets.ActRegister, tickets.ActApprove, tickets.ActAnswer, tickets.ActRefuse, tickets.ActMerge}

type owed struct {
	Number      string
	ExternalRef string
	Seq         int
	Action      tickets.Action
}

// RunOnce sends every reply owed: new events without a row, and claimed rows whose
// send failed or was cut short. It returns how many were sent.
func (r *Replier) RunOnce(ctx context.Context) (int, error) {
	now := r.now().UTC()
	var todo []owed
	err := r.db.WithContext(ctx).Raw(`SELECT t.number AS number, t.external_ref AS external_ref, e.seq AS seq, e.action AS action
		FROM events e JOIN tickets t ON t.id = e.ticket_id
		WHERE t.channel = ? AND t.external_ref LIKE 'qq:%' AND e.action IN ? AND e.at >= ?
		AND NOT EXISTS (SELECT 1 FROM qq_replies r WHERE r.ticket_number = t.number AND r.event_seq = e.seq)
		ORDER BY e.id LIMIT 200`, tickets.ChannelQQ, repliedActions, now.Add(-r.Lookback)).Scan(&todo).Error
	if err != nil {
		return 0, fmt.Errorf("qq replies owed: %w", err)
	}
	var stale []sentReply
	err = r.db.WithContext(ctx).Where("sent_at IS NULL AND claimed_at < ? AND attempts < ?", now.Add(-r.Retry), r.MaxAttempts).
		Order("id").Limit(200).Find(&stale).Error
	if err != nil {
		return 0, fmt.Errorf("qq replies to retry: %w", err)
	}
	sent := 0
	for _, o := range todo {
		to, ok := parseRef(o.ExternalRef)
		if !ok {
			continue
		}
		text, err := r.text(ctx, o.Number, o.Action)
		if err != nil {
			return sent, err
		}
		if r.deliver(ctx, o.Number, o.Seq, to, text) {
			sent++
		}
	}
	for _, row := range stale {
		// Take the row over only if nobody else did since it was read.
		res := r.db.WithContext(ctx).Model(&sentReply{}).Where("id = ? AND claimed_at = ? AND sent_at IS NULL", row.ID, row.ClaimedAt).
			Update("claimed_at", now)
		if res.Error != nil {
			return sent, fmt.Errorf("qq reply %d: reclaim: %w", row.ID, res.Error)
		}
		if res.RowsAffected == 0 {
			continue
		}
		to, ok := parseRef(row.Target)
		if !ok {
			continue
		}
		action, err := r.actionOf(ctx, row.TicketNumber, row.EventSeq)
		if err != nil {
			return sent, err
		}
		text, err := r.text(ctx, row.TicketNumber, action)
		if err != nil {
			return sent, err
		}
		if r.send1(ctx, row.ID, row.TicketNumber, to, text) {
			sent++
		}
	}
	return sent, nil
}

func (r *Replier) actionOf(ctx context.Context, number string, seq int) (tickets.Action, error) {
	var actions []string
	err := r.db.WithContext(ctx).Raw(`SELECT e.action FROM events e JOIN tickets t ON t.id = e.ticket_id WHERE t.number = ? AND e.seq = ?`,
		number, seq).Scan(&actions).Error
	if err != nil || len(actions) == 0 {
		return "", fmt.Errorf("qq reply for %s event %d: %w", number, seq, errors.Join(err, errors.New("event not found")))
	}
	return tickets.Action(actions[0]), nil
}

// text is the message for an event of a ticket.
func (r *Replier) text(ctx context.Context, number string, action tickets.Action) (string, error) {
	if action == tickets.ActRegister {
		return receipt(number), nil
	}
	v, err := r.store.Find(ctx, actor, number)
	if err != nil {
		return "", fmt.Errorf("qq reply for %s: %w", number, err)
	}
	res := intake.ResultText(v)
	switch action {
	case tickets.ActRefuse:
		return fmt.Sprintf("您反映的问题（工单号%s）不予受理：%s", number, res), nil
	case tickets.ActMerge:
		return fmt.Sprintf("您反映的问题（工单号%s）与已有诉求相同，%s。", number, res), nil
	}
	return fmt.Sprintf("您反映的问题（工单号%s）已办结。办理结果：%s\n感谢您的反映！", number, res), nil
}

// deliver claims the reply for (number, seq) and sends it; it reports whether it was
// sent now. A reply claimed already (by another instance, or sent before) is left alone.
func (r *Replier) deliver(ctx context.Context, number string, seq int, to Target, text string) bool {
	row := &sentReply{TicketNumber: number, EventSeq: seq, Target: externalRef(to), ClaimedAt: r.now().UTC()}
	res := r.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(row)
	if res.Error != nil {
		r.log.ErrorContext(ctx, "qq reply not claimed", "ticket", number, "seq", seq, "err", res.Error)
		return false
	}
	if res.RowsAffected == 0 {
		return false
	}
	return r.send1(ctx, row.ID, number, to, text)
}

func (r *Replier) send1(ctx context.Context, id uint64, number string, to Target, text string) bool {
	msg := Message{{Type: "text", Data: map[string]string{"text": text}}}
	if to.GroupID != 0 {
		msg = Message{{Type: "at", Data: map[string]string{"qq": to.UserID.String()}}, {Type: "text", Data: map[string]string{"text": " " + text}}}
	}
	err := r.send.Send(ctx, to, msg)
	db := r.db.WithContext(context.WithoutCancel(ctx))
	if err != nil {
		r.log.WarnContext(ctx, "qq reply not sent; will retry", "ticket", number, "user_id", to.UserID, "err", err)
		db.Model(&sentReply{}).Where("id = ?", id).Updates(map[string]any{
			"attempts": gorm.Expr("attempts + 1"), "last_error": truncate(err.Error(), 250)})
		return false
	}
	now := r.now().UTC()
	if err := db.Model(&sentReply{}).Where("id = ?", id).Updates(map[string]any{"sent_at": now, "attempts": gorm.Expr("attempts + 1")}).Error; err != nil {
		r.log.ErrorContext(ctx, "qq reply sent but not recorded", "ticket", number, "err", err)
	}
	r.log.InfoContext(ctx, "qq reply sent", "ticket", number, "user_id", to.UserID, "group_id", to.GroupID)
	return true
}
