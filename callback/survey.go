package callback

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/pii"
)

// Status is where a survey stands.
type Status string

const (
	StatusPending     Status = "pending"
	StatusAwaitingSMS Status = "awaiting_sms"
	StatusCalling     Status = "calling"
	StatusManual      Status = "manual"
	StatusDone        Status = "done"
	StatusSkipped     Status = "skipped"
)

// Statuses lists every status.
var Statuses = []Status{StatusPending, StatusAwaitingSMS, StatusCalling, StatusManual, StatusDone, StatusSkipped}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, x := range Statuses {
		if s == x {
			return true
		}
	}
	return false
}

// Result is what a survey found out.
type Result string

const (
	ResultNone            Result = ""
	ResultSatisfied       Result = "satisfied"        // 满意
	ResultFairlySatisfied Result = "fairly_satisfied" // 基本满意
	ResultDissatisfied    Result = "dissatisfied"     // 不满意
	ResultUnreachable     Result = "unreachable"
	ResultRefused         Result = "refused" // declined, or opted out of surveys
)

// Results lists every result.
var Results = []Result{ResultSatisfied, ResultFairlySatisfied, ResultDissatisfied, ResultUnreachable, ResultRefused}

// Valid reports whether r is a known result.
func (r Result) Valid() bool {
	for _, x := range Results {
		if r == x {
			return true
		}
	}
	return false
}

// Answered reports whether r is an opinion (counts for the satisfaction rate).
func (r Result) Answered() bool {
	return r == ResultSatisfied || r == ResultFairlySatisfied || r == ResultDissatisfied
}

// Channel is how a survey's result was obtained.
type Channel string

const (
	ChannelSMS    Channel = "sms"
	ChannelIVR    Channel = "ivr"
	ChannelManual Channel = "manual"
)

// Why a survey is on the manual list or was skipped.
const (
	ReasonNoTelephony    = "no_telephony"    // no ARI configured for the call
	ReasonCallsExhausted = "calls_exhausted" // every call attempt went unanswered
	ReasonUnrecognised   = "unrecognised"    // a second reply the survey could not read
	ReasonInvalidNumber  = "invalid_number"  // the SMS could not be queued for the number

	SkipNotSampled = "not_sampled"
	SkipAnonymous  = "anonymous"
	SkipNoReply    = "no_reply_wanted"
	SkipNoPhone    = "no_phone"
	SkipReopened   = "reopened" // the ticket was reopened before the survey went out
)

// Survey is one satisfaction survey of one completion of a ticket.
type Survey struct {
	ID           uint64 `gorm:"primaryKey"`
	TicketID     uint64 `gorm:"not null;uniqueIndex:idx_callback_surveys_completion,priority:1"`
	TicketNumber string `gorm:"size:20;not null;index"`
	// CompletionSeq is the timeline event that completed the ticket: one survey each.
	CompletionSeq int       `gorm:"not null;uniqueIndex:idx_callback_surveys_completion,priority:2"`
	CompletedAt   time.Time `gorm:"not null;index"`
	CategoryID    uint      `gorm:"not null"`
	DepartmentID  *uint     // the lead department at completion
	// TicketChannel and DistrictID are the ticket's channel and district at completion,
	// so that the dashboards break surveys down without reading the tickets.
	TicketChannel string `gorm:"size:16;not null;default:''"`
	DistrictID    *uint
	// Phone is sealed at rest when personal-data keys are configured (package pii) and
	// found through PhoneIndex.
	Phone      string `gorm:"not null;pii"`
	PhoneIndex string `gorm:"column:phone_idx;size:64;not null;default:'';index;blindindex:phone"`
	PhoneKind  string `gorm:"size:16;not null"`
	Status     Status `gorm:"size:16;not null;index:idx_callback_surveys_due,priority:1"`
	// DueAt is when the next step (the SMS, the next call) may happen.
	DueAt time.Time `gorm:"not null;index:idx_callback_surveys_due,priority:2"`
	Note  string    `gorm:"size:64"` // why skipped or on the manual list
	// SMSQueuedAt is when the survey SMS entered the outbox; SentAt when the gateway
	// accepted it (nil while it waits for a gateway): the wait for an answer counts from
	// SentAt, so that a citizen is never called about an SMS that has not left.
	SMSQueuedAt *time.Time `gorm:"column:sms_queued_at"`
	SentAt      *time.Time
	// Clarified: the one clarifying SMS went out; AwaitingReason: a 3 by SMS, the reason
	// SMS went out and free text within the answer window is the reason.
	Clarified      bool `gorm:"not null;default:false"`
	AwaitingReason bool `gorm:"not null;default:false"`
	Attempts       int  `gorm:"not null;default:0"` // call attempts made
	// CallLeaseUntil holds a survey while one instance calls the citizen.
	CallLeaseUntil *time.Time
	LastOutcome    string `gorm:"size:16"` // of the last call
	LastCallID     *uint64

	Result     Result  `gorm:"size:20;not null;default:'';index"`
	Channel    Channel `gorm:"size:8;not null;default:''"`
	Reason     string  `gorm:"type:text"`
	Recording  string  `gorm:"size:255"`
	AnsweredAt *time.Time
	AnsweredBy string `gorm:"size:96"`
	Remarks    string `gorm:"type:text"` // operators' notes and what the citizen wrote that was not read
	// EscalatedAt is when a dissatisfied result reopened the ticket (or could not).
	EscalatedAt     *time.Time
	EscalationError string `gorm:"size:255"`

	CreatedAt time.Time
	UpdatedAt time.Time
}

// TableName keeps the package's tables together.
func (Survey) TableName() string { return "callback_surveys" }

// Cursor remembers how far the scheduler has read the tickets' timeline.
type Cursor struct {
	Name      string `gorm:"primaryKey;size:32"`
	Value     uint64 `gorm:"not null"`
	UpdatedAt time.Time
}

// TableName keeps the package's tables together.
func (Cursor) TableName() string { return "callback_cursors" }

// Migrations returns the package's versioned schema steps; the snapshots below are
// frozen as of the step that made them, so later model changes never rewrite history.
func Migrations() []*database.Migration {
	return []*database.Migration{{ID: "20261126_30_callback_init", Migrate: migrateInit}, {
		// The dashboards' daily roll-ups find the surveys written since their last pass.
		ID: "20261127_30_callback_surveys_updated_at",
		Migrate: func(tx *gorm.DB) error {
			return tx.Exec(`CREATE INDEX IF NOT EXISTS idx_callback_surveys_updated_at ON callback_surveys (updated_at)`).Error
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Exec(`DROP INDEX IF EXISTS idx_callback_surveys_updated_at`).Error
		},
	}, {
		ID:      "20261127_31_callback_surveys_ticket_facts",
		Migrate: migrateTicketFacts,
		Rollback: func(tx *gorm.DB) error {
			if err := tx.Migrator().DropColumn(&surveyV2{}, "ticket_channel"); err != nil {
				return err
			}
			return tx.Migrator().DropColumn(&surveyV2{}, "district_id")
		},
	}, {
		// The survey SMS's queueing and its acceptance by the gateway are told apart.
		ID: "20261206_70_callback_surveys_sms_queued_at",
		Migrate: func(tx *gorm.DB) error {
			if err := tx.Migrator().AddColumn(&surveyV3{}, "SMSQueuedAt"); err != nil {
				return err
			}
			// Surveys already waiting were queued when they were marked sent.
			return tx.Exec(`UPDATE callback_surveys SET sms_queued_at = sent_at WHERE sent_at IS NOT NULL`).Error
		},
		Rollback: func(tx *gorm.DB) error { return tx.Migrator().DropColumn(&surveyV3{}, "sms_queued_at") },
	}, {
		ID:      "20261207_44_callback_surveys_personal_data",
		Migrate: func(tx *gorm.DB) error { return pii.Migrate(tx, "callback_surveys", []string{"phone"}, "phone_idx") },
	}}
}

// PersonalData names the surveys' personal data, for `rexian keys rotate`.
func PersonalData() []pii.Table {
	return []pii.Table{{Name: "callback_surveys", Key: "id", Sealed: []string{"phone"}, Index: map[string]string{"phone_idx": "phone"}}}
}

// surveyV3 is the column the SMS-queued step adds.
type surveyV3 struct {
	SMSQueuedAt *time.Time `gorm:"column:sms_queued_at"`
}

func (surveyV3) TableName() string { return "callback_surveys" }

// surveyV2 is the columns the ticket-facts step adds.
type surveyV2 struct {
	TicketChannel string `gorm:"size:16;not null;default:''"`
	DistrictID    *uint
}

func (surveyV2) TableName() string { return "callback_surveys" }

// migrateTicketFacts adds the ticket's channel and district to the surveys and fills
// them in for the surveys already made.
func migrateTicketFacts(tx *gorm.DB) error {
	for _, col := range []string{"TicketChannel", "DistrictID"} {
		if err := tx.Migrator().AddColumn(&surveyV2{}, col); err != nil {
			return err
		}
	}
	return tx.Exec(`UPDATE callback_surveys SET
		ticket_channel = COALESCE((SELECT t.channel FROM tickets t WHERE t.id = callback_surveys.ticket_id), ''),
		district_id = (SELECT t.district_id FROM tickets t WHERE t.id = callback_surveys.ticket_id)`).Error
}

func migrateInit(tx *gorm.DB) error {
	return tx.Migrator().CreateTable(&surveyV1{}, &cursorV1{})
}

type surveyV1 struct {
	ID              uint64    `gorm:"primaryKey"`
	TicketID        uint64    `gorm:"not null;uniqueIndex:idx_callback_surveys_completion,priority:1"`
	TicketNumber    string    `gorm:"size:20;not null;index"`
	CompletionSeq   int       `gorm:"not null;uniqueIndex:idx_callback_surveys_completion,priority:2"`
	CompletedAt     time.Time `gorm:"not null;index"`
	CategoryID      uint      `gorm:"not null"`
	DepartmentID    *uint
	Phone           string    `gorm:"size:32;not null;index:idx_callback_surveys_phone,priority:1"`
	PhoneKind       string    `gorm:"size:16;not null"`
	Status          string    `gorm:"size:16;not null;index:idx_callback_surveys_due,priority:1"`
	DueAt           time.Time `gorm:"not null;index:idx_callback_surveys_due,priority:2"`
	Note            string    `gorm:"size:64"`
	SentAt          *time.Time
	Clarified       bool `gorm:"not null;default:false"`
	AwaitingReason  bool `gorm:"not null;default:false"`
	Attempts        int  `gorm:"not null;default:0"`
	CallLeaseUntil  *time.Time
	LastOutcome     string `gorm:"size:16"`
	LastCallID      *uint64
	Result          string `gorm:"size:20;not null;default:'';index"`
	Channel         string `gorm:"size:8;not null;default:''"`
	Reason          string `gorm:"type:text"`
	Recording       string `gorm:"size:255"`
	AnsweredAt      *time.Time
	AnsweredBy      string `gorm:"size:96"`
	Remarks         string `gorm:"type:text"`
	EscalatedAt     *time.Time
	EscalationError string `gorm:"size:255"`
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

func (surveyV1) TableName() string { return "callback_surveys" }

type cursorV1 struct {
	Name      string `gorm:"primaryKey;size:32"`
	Value     uint64 `gorm:"not null"`
	UpdatedAt time.Time
}

func (cursorV1) TableName() string { return "callback_cursors" }

// EraseNumber empties the number tel (national format) in the finished surveys of it,
// for a citizen's deletion request; the results stay for the figures. It returns how
// many surveys it changed.
func EraseNumber(ctx context.Context, db *gorm.DB, tel string) (int64, error) {
	return pii.Erase(ctx, db, "callback_surveys", "phone", "phone_idx", tel, "status IN ?", []Status{StatusDone, StatusSkipped})
}
