package mailbox

import (
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/pii"
)

// Migrations returns the mailbox schema's versioned steps; they run after the tickets'.
func Migrations() []*database.Migration {
	return []*database.Migration{
		{ID: "20261126_30_mailbox_init", Migrate: migrateInit},
		{ID: "20261207_45_mailbox_personal_data", Migrate: func(tx *gorm.DB) error {
			if err := pii.Migrate(tx, "mailbox_letters", []string{"sender"}); err != nil {
				return err
			}
			return pii.Migrate(tx, "mailbox_replies", []string{"recipient"})
		}},
	}
}

// PersonalData names the letters' personal data (the writer's name and address, as the
// letter's From gave them, and the address replies go to), for `rexian keys rotate`.
func PersonalData() []pii.Table {
	return []pii.Table{
		{Name: "mailbox_letters", Key: "id", Sealed: []string{"sender"}},
		{Name: "mailbox_replies", Key: "id", Sealed: []string{"recipient"}},
	}
}

// The steps create tables from snapshots frozen when they were written, so that later
// changes to the models never rewrite history.
type letterV1 struct {
	ID              uint64    `gorm:"primaryKey"`
	MessageID       string    `gorm:"size:255;not null;uniqueIndex:idx_mailbox_letters_message_id"`
	State           string    `gorm:"size:16;not null"`
	TicketNumber    string    `gorm:"size:20;index:idx_mailbox_letters_ticket"`
	Outcome         string    `gorm:"size:16"`
	Subject         string    `gorm:"size:255"`
	Sender          string    `gorm:"size:254"`
	References      string    `gorm:"type:text"`
	AttachmentsDone bool      `gorm:"not null;default:false"`
	Note            string    `gorm:"type:text"`
	ClaimedBy       string    `gorm:"size:64"`
	ClaimedAt       time.Time `gorm:"not null"`
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

func (letterV1) TableName() string { return "mailbox_letters" }

type replyV1 struct {
	ID        uint64    `gorm:"primaryKey"`
	TicketID  uint64    `gorm:"not null;uniqueIndex:idx_mailbox_replies_key,priority:1"`
	Kind      string    `gorm:"size:16;not null;uniqueIndex:idx_mailbox_replies_key,priority:2"`
	EventSeq  int       `gorm:"not null;uniqueIndex:idx_mailbox_replies_key,priority:3"`
	State     string    `gorm:"size:16;not null;index"`
	MessageID string    `gorm:"size:255;not null"`
	Recipient string    `gorm:"size:254;not null"`
	Attempts  int       `gorm:"not null;default:0"`
	LastError string    `gorm:"type:text"`
	ClaimedAt time.Time `gorm:"not null"`
	NextAt    time.Time `gorm:"not null"`
	SentAt    *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (replyV1) TableName() string { return "mailbox_replies" }

func migrateInit(tx *gorm.DB) error {
	return tx.Migrator().CreateTable(&letterV1{}, &replyV1{})
}

// Letter states in mailbox_letters.
const (
	stateClaimed  = "claimed"  // a reader is registering the ticket
	stateTicketed = "ticketed" // the ticket is committed; attachments may still be pending
	stateIgnored  = "ignored"  // noise: no ticket
)

// Outcomes: the folder a letter belongs in.
const (
	outcomeProcessed = "processed"
	outcomeFailed    = "failed"
	outcomeIgnored   = "ignored"
)

// letterRecord is a letter's row: the claim on its Message-ID and what became of it.
type letterRecord struct {
	ID              uint64 `gorm:"primaryKey"`
	MessageID       string
	State           string
	TicketNumber    string
	Outcome         string
	Subject         string
	Sender          string `gorm:"pii"` // sealed at rest (package pii)
	References      string
	AttachmentsDone bool
	Note            string
	ClaimedBy       string
	ClaimedAt       time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

func (letterRecord) TableName() string { return "mailbox_letters" }

// Reply kinds and states in mailbox_replies.
const (
	kindReceipt = "receipt" // 受理回执
	kindResult  = "result"  // 办理结果

	replySending = "sending" // claimed; the SMTP transaction may be under way
	replyRetry   = "retry"   // the last attempt failed for sure; try again at NextAt
	replySent    = "sent"
	replyGaveUp  = "gave_up"
)

// replyRecord is one reply owed to a citizen, keyed by ticket, kind and the event that
// made it owed (so a reopened and again completed ticket owes a second result).
type replyRecord struct {
	ID        uint64 `gorm:"primaryKey"`
	TicketID  uint64
	Kind      string
	EventSeq  int
	State     string
	MessageID string
	Recipient string `gorm:"pii"` // sealed at rest (package pii)
	Attempts  int
	LastError string
	ClaimedAt time.Time
	NextAt    time.Time
	SentAt    *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (replyRecord) TableName() string { return "mailbox_replies" }
