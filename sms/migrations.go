package sms

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/pii"
)

// Migrations returns the outbox's versioned schema steps. Each step creates tables from
// snapshots frozen when it was written, so that later changes to the models never rewrite
// history: a new column is a new step.
func Migrations() []*database.Migration {
	return []*database.Migration{
		{ID: "20261126_20_sms_init", Migrate: migrateInit},
		{ID: "20261126_80_sms_material_item_elements", Migrate: migrateItemElements, Rollback: rollbackItemElements},
		{ID: "20261206_50_sms_synonyms", Migrate: migrateSynonyms, Rollback: rollbackSynonyms},
		{ID: "20261207_43_sms_personal_data", Migrate: func(tx *gorm.DB) error {
			if err := pii.Migrate(tx, "sms_messages", []string{"recipient"}, "recipient_idx"); err != nil {
				return err
			}
			return pii.Migrate(tx, "sms_inbound", []string{"from"}, "from_idx")
		}},
		{ID: "20261207_46_sms_opt_outs_conversations_notices_personal_data", Migrate: migrateNumbersKeyed},
	}
}

// PersonalData names the SMS channel's personal data, for `rexian keys rotate`.
func PersonalData() []pii.Table {
	return []pii.Table{
		{Name: "sms_messages", Key: "id", Sealed: []string{"recipient", "text", "variables"}, Index: map[string]string{"recipient_idx": "recipient"}},
		{Name: "sms_parts", Key: "id", Sealed: []string{"text"}},
		{Name: "sms_inbound", Key: "id", Sealed: []string{"from"}, Index: map[string]string{"from_idx": "from"}},
		{Name: "sms_suppressions", Key: "id", Sealed: []string{"phone"}, Index: map[string]string{"phone_idx": "phone"}},
		{Name: "sms_conversations", Key: "id", Sealed: []string{"phone"}, Index: map[string]string{"phone_idx": "phone"}},
		{Name: "sms_notices", Key: "id", Sealed: []string{"applicant_name", "mobile"}, Index: map[string]string{"mobile_idx": "mobile"}},
	}
}

// The snapshots below are frozen as of migration 20261207_46; never edit them.

// suppressionV2 and conversationV2 key the opt-outs and conversations by a row id: their
// number is sealed, and a sealed value (a fresh nonce each time) cannot be a key. The
// number's blind index finds the row.
type suppressionV2 struct {
	ID         uint64 `gorm:"primaryKey"`
	Phone      string `gorm:"not null"`
	PhoneIndex string `gorm:"column:phone_idx;size:64;not null;default:'';index"`
	Reason     string `gorm:"size:32;not null"`
	Note       string `gorm:"size:255"`
	CreatedBy  string `gorm:"size:96;not null"`
	CreatedAt  time.Time
}

func (suppressionV2) TableName() string { return "sms_suppressions" }

type conversationV2 struct {
	ID           uint64 `gorm:"primaryKey"`
	Phone        string `gorm:"not null"`
	PhoneIndex   string `gorm:"column:phone_idx;size:64;not null;default:'';index"`
	TicketNumber string `gorm:"size:20;not null"`
	OpenedAt     time.Time
	LastAt       time.Time
}

func (conversationV2) TableName() string { return "sms_conversations" }

// migrateNumbersKeyed rebuilds the opt-out and conversation tables around a row id,
// their rows copied as they are (plain until `rexian keys rotate` seals them, as every
// table's rows from before the keys), and makes room for the notices' sealed applicant
// name and mobile number. Both tables are small (one row per number that ever opted out
// or wrote in), so they are read whole inside the migration's transaction.
func migrateNumbersKeyed(tx *gorm.DB) error {
	var sup []suppressionV1
	if err := tx.Order("created_at, phone").Find(&sup).Error; err != nil {
		return fmt.Errorf("read sms_suppressions: %w", err)
	}
	var conv []conversationV1
	if err := tx.Order("opened_at, phone").Find(&conv).Error; err != nil {
		return fmt.Errorf("read sms_conversations: %w", err)
	}
	m := tx.Migrator()
	if err := m.DropTable(&suppressionV1{}, &conversationV1{}); err != nil {
		return fmt.Errorf("drop the number-keyed tables: %w", err)
	}
	if err := m.CreateTable(&suppressionV2{}, &conversationV2{}); err != nil {
		return fmt.Errorf("create the id-keyed tables: %w", err)
	}
	sup2 := make([]suppressionV2, len(sup))
	for i, r := range sup {
		sup2[i] = suppressionV2{Phone: r.Phone, Reason: r.Reason, Note: r.Note, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt}
	}
	if len(sup2) > 0 {
		if err := tx.CreateInBatches(sup2, 500).Error; err != nil {
			return fmt.Errorf("copy sms_suppressions: %w", err)
		}
	}
	conv2 := make([]conversationV2, len(conv))
	for i, r := range conv {
		conv2[i] = conversationV2{Phone: r.Phone, TicketNumber: r.TicketNumber, OpenedAt: r.OpenedAt, LastAt: r.LastAt}
	}
	if len(conv2) > 0 {
		if err := tx.CreateInBatches(conv2, 500).Error; err != nil {
			return fmt.Errorf("copy sms_conversations: %w", err)
		}
	}
	return pii.Migrate(tx, "sms_notices", []string{"applicant_name", "mobile"}, "mobile_idx")
}

// The snapshots below are frozen as of migration 20261126_20; never edit them.

func migrateInit(tx *gorm.DB) error {
	return tx.Migrator().CreateTable(&messageV1{}, &partV1{}, &suppressionV1{}, &templateV1{}, &inboundV1{},
		&conversationV1{}, &noticeV1{}, &materialItemV1{}, &cursorV1{})
}

type messageV1 struct {
	ID             uint64    `gorm:"primaryKey"`
	Kind           string    `gorm:"size:24;not null"`
	Recipient      string    `gorm:"size:20;not null;index"`
	Text           string    `gorm:"type:text;not null"`
	Template       string    `gorm:"size:64"`
	Variables      string    `gorm:"type:text"`
	IdempotencyKey string    `gorm:"size:160;not null;uniqueIndex"`
	Status         string    `gorm:"size:16;not null;index:idx_sms_messages_due,priority:1;index:idx_sms_messages_expiry,priority:1"`
	Coding         string    `gorm:"size:8;not null"`
	PartCount      int       `gorm:"not null"`
	Attempts       int       `gorm:"not null;default:0"`
	NextAttemptAt  time.Time `gorm:"index:idx_sms_messages_due,priority:2"`
	LeaseOwner     string    `gorm:"size:64"`
	LeaseUntil     *time.Time
	ExpiresAt      time.Time `gorm:"index:idx_sms_messages_expiry,priority:2"`
	TicketNumber   string    `gorm:"size:20;index"`
	NoticeID       *uint64   `gorm:"index"`
	Error          string    `gorm:"type:text"`
	CreatedBy      string    `gorm:"size:96;not null"`
	CreatedAt      time.Time
	UpdatedAt      time.Time
	SubmittedAt    *time.Time
	FinishedAt     *time.Time
}

func (messageV1) TableName() string { return "sms_messages" }

type partV1 struct {
	ID          uint64 `gorm:"primaryKey"`
	MessageID   uint64 `gorm:"not null;uniqueIndex:idx_sms_parts_message_seq,priority:1"`
	Seq         int    `gorm:"not null;uniqueIndex:idx_sms_parts_message_seq,priority:2"`
	Text        string `gorm:"type:text;not null"`
	Status      string `gorm:"size:16;not null"`
	GatewayID   string `gorm:"size:64"`
	Detail      string `gorm:"size:255"`
	SubmittedAt *time.Time
	ReportedAt  *time.Time
}

func (partV1) TableName() string { return "sms_parts" }

type suppressionV1 struct {
	Phone     string `gorm:"primaryKey;size:20"`
	Reason    string `gorm:"size:32;not null"`
	Note      string `gorm:"size:255"`
	CreatedBy string `gorm:"size:96;not null"`
	CreatedAt time.Time
}

func (suppressionV1) TableName() string { return "sms_suppressions" }

type templateV1 struct {
	Name      string `gorm:"primaryKey;size:64"`
	Kind      string `gorm:"size:24;not null"`
	Body      string `gorm:"type:text;not null"`
	UpdatedBy string `gorm:"size:96;not null"`
	UpdatedAt time.Time
}

func (templateV1) TableName() string { return "sms_templates" }

type inboundV1 struct {
	ID           uint64  `gorm:"primaryKey"`
	GatewayRef   *string `gorm:"size:64;uniqueIndex"`
	From         string  `gorm:"size:32;not null;index"`
	To           string  `gorm:"size:32"`
	Text         string  `gorm:"type:text;not null"`
	ReceivedAt   time.Time
	Route        string `gorm:"size:16;not null;index"`
	RouteError   string `gorm:"type:text"`
	TicketNumber string `gorm:"size:20;index"`
	ReplyID      *uint64
	CreatedAt    time.Time
}

func (inboundV1) TableName() string { return "sms_inbound" }

type conversationV1 struct {
	Phone        string `gorm:"primaryKey;size:20"`
	TicketNumber string `gorm:"size:20;not null"`
	OpenedAt     time.Time
	LastAt       time.Time
}

func (conversationV1) TableName() string { return "sms_conversations" }

type noticeV1 struct {
	ID                uint64 `gorm:"primaryKey"`
	ApplicationNumber string `gorm:"size:64;not null;uniqueIndex"`
	ApplicantName     string `gorm:"size:64;not null"`
	Mobile            string `gorm:"size:20;not null;index"`
	Item              string `gorm:"size:128;not null"`
	Department        string `gorm:"size:128"`
	Hall              string `gorm:"size:255;not null"`
	Window            string `gorm:"size:32;not null"`
	ConfirmBy         string `gorm:"size:10;not null"`
	Documents         string `gorm:"type:text;not null"`
	MessageID         uint64 `gorm:"not null"`
	CreatedBy         string `gorm:"size:96;not null"`
	CreatedAt         time.Time
}

func (noticeV1) TableName() string { return "sms_notices" }

type materialItemV1 struct {
	ID         uint64 `gorm:"primaryKey"`
	Code       string `gorm:"size:32;not null;uniqueIndex"`
	Name       string `gorm:"size:128;not null"`
	Department string `gorm:"size:128"`
	Hall       string `gorm:"size:255"`
	Materials  string `gorm:"type:text;not null"`
	Active     bool   `gorm:"not null;default:true"`
	UpdatedBy  string `gorm:"size:96;not null"`
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func (materialItemV1) TableName() string { return "sms_material_items" }

type cursorV1 struct {
	Name      string `gorm:"primaryKey;size:32"`
	Value     uint64 `gorm:"not null"`
	UpdatedAt time.Time
}

func (cursorV1) TableName() string { return "sms_cursors" }

// The snapshot below is frozen as of migration 20261126_80; never edit it.

// materialItemV2 adds the approval item's other elements (办事指南要素): legal basis, time
// limit, preconditions, process, fee basis and fee standard. Existing rows get empty text.
type materialItemV2 struct {
	LegalBasis    string `gorm:"type:text;not null;default:''"`
	TimeLimit     string `gorm:"size:255;not null;default:''"`
	Preconditions string `gorm:"type:text;not null;default:''"`
	Process       string `gorm:"type:text;not null;default:''"`
	FeeBasis      string `gorm:"type:text;not null;default:''"`
	FeeStandard   string `gorm:"type:text;not null;default:''"`
}

func (materialItemV2) TableName() string { return "sms_material_items" }

var itemElementsV2 = []string{"LegalBasis", "TimeLimit", "Preconditions", "Process", "FeeBasis", "FeeStandard"}

func migrateItemElements(tx *gorm.DB) error {
	for _, f := range itemElementsV2 {
		if err := tx.Migrator().AddColumn(&materialItemV2{}, f); err != nil {
			return fmt.Errorf("add sms_material_items.%s: %w", f, err)
		}
	}
	return nil
}

func rollbackItemElements(tx *gorm.DB) error {
	for _, f := range itemElementsV2 {
		if err := tx.Migrator().DropColumn(&materialItemV2{}, f); err != nil {
			return fmt.Errorf("drop sms_material_items.%s: %w", f, err)
		}
	}
	return nil
}

// EraseNumber serves a citizen's deletion request for the number tel (national format):
// the finished messages sent to it lose the number, their text and their template's
// values (a notice's text names the applicant); the messages received from it lose the
// number; application notices to it lose the applicant's name and number; and the
// number's conversation window is closed. Messages still waiting to go keep what they
// need until they are sent; an opt-out is kept, since it is what the citizen asked for.
// It returns how many rows it changed.
func EraseNumber(ctx context.Context, db *gorm.DB, tel string) (int64, error) {
	var total int64
	n, err := pii.EraseWith(ctx, db, "sms_messages", "recipient", "recipient_idx", tel, []string{"text", "variables"},
		"status NOT IN ?", []Status{StatusQueued, StatusSubmitting})
	total += n
	if err != nil {
		return total, err
	}
	// Parts carry the text as sent, of the messages just emptied (their number is gone, so
	// they are found as the finished messages with no number and a text left in a part).
	res := db.WithContext(ctx).Exec(`UPDATE sms_parts SET text = '' WHERE text <> '' AND message_id IN
  (SELECT id FROM sms_messages WHERE recipient = '' AND text = '')`)
	if res.Error != nil {
		return total, fmt.Errorf("erase sms_parts.text: %w", res.Error)
	}
	total += res.RowsAffected
	n, err = pii.Erase(ctx, db, "sms_inbound", "from", "from_idx", tel)
	total += n
	if err != nil {
		return total, err
	}
	n, err = pii.EraseWith(ctx, db, "sms_notices", "mobile", "mobile_idx", tel, []string{"applicant_name"},
		"message_id NOT IN (SELECT id FROM sms_messages WHERE status IN ?)", []Status{StatusQueued, StatusSubmitting})
	total += n
	if err != nil {
		return total, err
	}
	res = db.WithContext(ctx).Where(pii.Is(db, "phone", "phone_idx", tel)).Delete(&Conversation{})
	if res.Error != nil {
		return total, fmt.Errorf("erase sms_conversations: %w", res.Error)
	}
	return total + res.RowsAffected, nil
}
