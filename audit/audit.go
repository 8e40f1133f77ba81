package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/hashchain"
)

// Actions recorded. Other packages may record their own; these are the ones the system
// writes itself, named so that a filter by action finds every one of a kind.
const (
	ActionLogin        = "login"         // a password (and second factor) accepted
	ActionLoginFailed  = "login_failed"  // a wrong username, password or code
	ActionLoginLocked  = "login_locked"  // an attempt refused by a login limit
	ActionLogout       = "logout"        // a session ended by its user
	ActionUserCreated  = "user_created"  //
	ActionUserUpdated  = "user_updated"  // name, role, department, disabled, password reset
	ActionTokenCreated = "token_created" //
	ActionTokenRevoked = "token_revoked" //
	ActionTOTPEnrolled = "totp_enrolled" // a second factor switched on
	ActionTOTPReset    = "totp_reset"    // a second factor removed by an administrator
	ActionRecoveryUsed = "recovery_used" // a one-use recovery code spent
	// ActionRecoveryRegenerated: a user replaced their recovery codes.
	ActionRecoveryRegenerated = "recovery_regenerated"
	ActionDirectory           = "directory_changed"
	ActionConfig              = "config_changed"
	ActionExport              = "export"        // data taken out in bulk (a file, a report)
	ActionPIIViewed           = "pii_viewed"    // a citizen's unmasked phone, name or e-mail shown
	ActionPIIErased           = "pii_erased"    // citizens' personal data erased (request or retention)
	ActionPruned              = "audit_pruned"  // records past the retention removed
	ActionStatusLocked        = "status_locked" // the public status page refused a client
)

// Event is what a caller records. Only Action is required.
type Event struct {
	Action string
	// Target is what the action was done to: "ticket:2026120600012", "user:7", "token:3".
	Target string
	// Detail says what changed or was seen, in words (never a secret or a password).
	Detail string
	// Reason is why, when the actor gave one (the purpose of an unmasked view).
	Reason string
	// Actor and IP are filled from the context when empty.
	Actor string
	IP    string
}

// Record is one stored entry of the chain.
type Record struct {
	Seq    int64     `gorm:"primaryKey;autoIncrement:false" json:"seq"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target,omitempty"`
	Detail string    `json:"detail,omitempty"`
	Reason string    `json:"reason,omitempty"`
	IP     string    `gorm:"column:ip" json:"ip,omitempty"`
	// PrevHash and Hash are links of the chain (package hashchain): 64 hex digits made
	// with SHA-256, or "sm3:" and 64 made with SM3.
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// TableName keeps the table name independent of the Go name.
func (Record) TableName() string { return "audit_records" }

// head is the chain's single head row: the last record, and the anchor left by pruning.
type head struct {
	ID         int    `gorm:"primaryKey;autoIncrement:false"`
	Seq        int64  `gorm:"not null"`
	Hash       string `gorm:"size:80;not null"`
	AnchorSeq  int64  `gorm:"not null"`
	AnchorHash string `gorm:"size:80;not null"`
}

func (head) TableName() string { return "audit_head" }

// Shipper sends a committed record elsewhere (a file, syslog) for a SIEM.
type Shipper interface {
	Ship(ctx context.Context, r *Record) error
}

// Options configure a Log. Zero values take the defaults noted on each field.
type Options struct {
	Now func() time.Time // clock; default time.Now
	Log *slog.Logger     // default slog.Default()
	// ActorOf names who is acting in ctx ("admin:li"); default "system".
	ActorOf func(ctx context.Context) string
	// Retention is how long records are kept; default DefaultRetention.
	Retention time.Duration
	Shippers  []Shipper
	// Location is the city's zone, for dates in search filters; default UTC.
	Location *time.Location
	// ChainHash makes the links of new records; default hashchain.Default (SHA-256).
	// Records linked before with another algorithm still verify: each names its own.
	ChainHash hashchain.Algorithm
}

// DefaultRetention is 180 days, the legal minimum for network logs (网络安全法 第二十一条).
const DefaultRetention = 180 * 24 * time.Hour

// Log is the audit log. A nil *Log records nothing, so that a service built alone in a
// test needs none; the server always has one.
type Log struct {
	db   *gorm.DB
	opts Options
	log  *slog.Logger
}

// New returns the audit log on db.
func New(db *gorm.DB, opts Options) *Log {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.ActorOf == nil {
		opts.ActorOf = func(context.Context) string { return "system" }
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	return &Log{db: db, opts: opts, log: opts.Log.With("component", "audit")}
}

// Field limits: the columns' sizes.
const (
	maxActor  = 128
	maxAction = 48
	maxTarget = 128
	maxReason = 255
	maxIP     = 64
	maxDetail = 4000
)

// Record appends e to the chain and ships it. An error means nothing was recorded; a
// caller about to show personal data should then refuse to show it.
func (l *Log) Record(ctx context.Context, e Event) error {
	if l == nil {
		return nil
	}
	if e.Action == "" {
		return errors.New("audit: an event needs an action")
	}
	if e.Actor == "" {
		e.Actor = l.opts.ActorOf(ctx)
	}
	if e.IP == "" {
		e.IP = ClientIP(ctx)
	}
	r := &Record{
		At:     l.opts.Now().UTC().Truncate(time.Microsecond), // what every database keeps exactly
		Actor:  clip(e.Actor, maxActor),
		Action: clip(e.Action, maxAction),
		Target: clip(e.Target, maxTarget),
		Detail: clip(e.Detail, maxDetail),
		Reason: clip(e.Reason, maxReason),
		IP:     clip(e.IP, maxIP),
	}
	// The record must not be lost to a cancelled request once the action it records
	// has happened; a short deadline of its own bounds it instead.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := l.db.WithContext(wctx).Transaction(func(tx *gorm.DB) error {
		h, err := lockHead(tx)
		if err != nil {
			return err
		}
		return appendRecord(tx, l.opts.ChainHash, h, r)
	})
	if err != nil {
		return fmt.Errorf("audit: record %s: %w", e.Action, err)
	}
	l.ship(ctx, r)
	return nil
}

func (l *Log) ship(ctx context.Context, r *Record) {
	for _, s := range l.opts.Shippers {
		if err := s.Ship(ctx, r); err != nil {
			l.log.WarnContext(ctx, "audit record not shipped; it is kept in the database", "seq", r.Seq, "err", err)
		}
	}
}

// lockHead reads the head row, locked on PostgreSQL so that appends run one at a time;
// SQLite transactions already do.
func lockHead(tx *gorm.DB) (*head, error) {
	q := tx
	if database.DialectOf(tx) == database.Postgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var h head
	if err := q.Where("id = 1").Take(&h).Error; err != nil {
		return nil, fmt.Errorf("read chain head: %w", err)
	}
	return &h, nil
}

// appendRecord links r after h with alg, saves it and moves the head.
func appendRecord(tx *gorm.DB, alg hashchain.Algorithm, h *head, r *Record) error {
	r.Seq = h.Seq + 1
	r.PrevHash = h.Hash
	r.Hash = alg.Link(recordFields(r)...)
	if err := tx.Create(r).Error; err != nil {
		return fmt.Errorf("insert record %d: %w", r.Seq, err)
	}
	if err := tx.Model(&head{}).Where("id = 1").Updates(map[string]any{"seq": r.Seq, "hash": r.Hash}).Error; err != nil {
		return fmt.Errorf("move chain head: %w", err)
	}
	h.Seq, h.Hash = r.Seq, r.Hash
	return nil
}

// recordFields are what a record's link covers: every field of r and its link to the
// record before.
func recordFields(r *Record) []string {
	return []string{
		strconv.FormatInt(r.Seq, 10), r.At.UTC().Format(time.RFC3339Nano), r.Actor, r.Action, r.Target,
		r.Detail, r.Reason, r.IP, r.PrevHash,
	}
}

// clip cuts s to at most n bytes on a character boundary and drops control characters
// other than newline and tab, which a log line must not carry (a forged second line).
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

type clientKey struct{}

// WithClient returns ctx carrying the client's address, for the records made while
// serving its request.
func WithClient(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, clientKey{}, ip)
}

// ClientIP is the client address in ctx, or "".
func ClientIP(ctx context.Context) string {
	ip, _ := ctx.Value(clientKey{}).(string)
	return ip
}
