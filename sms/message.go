package sms

import (
	"time"
)

// Kind is what a message is for. Rules (quiet hours, opt-out, templates' variables) go by
// kind.
type Kind string

const (
	KindReceipt           Kind = "receipt"            // a ticket's number after registration
	KindResult            Kind = "result"             // a ticket's result after completion
	KindSurvey            Kind = "survey"             // callback satisfaction survey (回访)
	KindApplicationNotice Kind = "application_notice" // come and confirm your online application
	KindMaterialsNotice   Kind = "materials_notice"   // one-time notice of required materials (一次性告知)
	KindFreeText          Kind = "free_text"          // written by an operator
	KindReply             Kind = "reply"              // automatic answer to what a citizen sent
	KindCardNotice        Kind = "card_notice"        // a red or yellow card, to the department that got it (红黄牌)
)

// Kinds lists every kind.
var Kinds = []Kind{KindReceipt, KindResult, KindSurvey, KindApplicationNotice, KindMaterialsNotice, KindFreeText, KindReply,
	KindCardNotice}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	for _, x := range Kinds {
		if k == x {
			return true
		}
	}
	return false
}

// suppressible reports whether an opt-out stops k. Service notices the citizen asked for
// (receipts, results, application and materials notices) and replies to the citizen's own
// messages are still sent.
func (k Kind) suppressible() bool { return k == KindSurvey || k == KindFreeText }

// Status is where a message stands in the outbox.
type Status string

const (
	StatusQueued     Status = "queued"     // waiting for its time (or for a gateway)
	StatusSubmitting Status = "submitting" // claimed by a sender under a lease
	StatusSubmitted  Status = "submitted"  // every part accepted by the gateway
	StatusDelivered  Status = "delivered"  // every part delivered (final)
	StatusFailed     Status = "failed"     // refused, or a part will not arrive (final)
	StatusExpired    Status = "expired"    // no gateway took it in time (final)
	StatusSuppressed Status = "suppressed" // the recipient opted out (final, never sent)
	// StatusCancelled: withdrawn while still queued, because it had become pointless (a
	// survey answered meanwhile by another channel); final, never sent.
	StatusCancelled Status = "cancelled"
)

// Statuses lists every status in the order a message goes through them.
var Statuses = []Status{StatusQueued, StatusSubmitting, StatusSubmitted, StatusDelivered, StatusFailed, StatusExpired, StatusSuppressed,
	StatusCancelled}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, x := range Statuses {
		if s == x {
			return true
		}
	}
	return false
}

// Final reports whether nothing more happens to a message in status s.
func (s Status) Final() bool {
	return s == StatusDelivered || s == StatusFailed || s == StatusExpired || s == StatusSuppressed || s == StatusCancelled
}

// PartStatus is one part's delivery state.
type PartStatus string

const (
	PartPending   PartStatus = "pending"   // not yet accepted by the gateway
	PartSubmitted PartStatus = "submitted" // accepted by the gateway
	PartAccepted  PartStatus = "accepted"  // the SMS centre has it
	PartBuffered  PartStatus = "buffered"  // the SMS centre keeps trying
	PartDelivered PartStatus = "delivered" // on the phone (final)
	PartFailed    PartStatus = "failed"    // will not arrive (final)
)

// finalPart are the part states a report never changes.
var finalPart = []PartStatus{PartDelivered, PartFailed}

// Message is one SMS to one recipient: a row before it is sent, so that a crash loses
// nothing. Its parts are rows of their own.
type Message struct {
	ID   uint64 `gorm:"primaryKey"`
	Kind Kind   `gorm:"size:24;not null"`
	// Recipient is the national mobile number, sealed at rest when personal-data keys
	// are configured (package pii) and found through RecipientIndex.
	Recipient      string `gorm:"not null;pii"`
	RecipientIndex string `gorm:"column:recipient_idx;size:64;not null;default:'';index;blindindex:recipient"`
	// Text (signature included, as sent) and Variables (a JSON object) are sealed at rest
	// too: a notice names the applicant, a free text may name anyone.
	Text      string `gorm:"type:text;not null;pii"`
	Template  string `gorm:"size:64"`
	Variables string `gorm:"type:text;pii"`
	// IdempotencyKey makes a second enqueue of the same message return the first.
	IdempotencyKey string    `gorm:"size:160;not null;uniqueIndex"`
	Status         Status    `gorm:"size:16;not null;index:idx_sms_messages_due,priority:1;index:idx_sms_messages_expiry,priority:1"`
	Coding         Coding    `gorm:"size:8;not null"`
	PartCount      int       `gorm:"not null"`
	Attempts       int       `gorm:"not null;default:0"`
	NextAttemptAt  time.Time `gorm:"index:idx_sms_messages_due,priority:2"`
	// LeaseOwner holds a submitting message until LeaseUntil; past it, reconciling decides.
	LeaseOwner   string `gorm:"size:64"`
	LeaseUntil   *time.Time
	ExpiresAt    time.Time `gorm:"index:idx_sms_messages_expiry,priority:2"`
	TicketNumber string    `gorm:"size:20;index"`
	NoticeID     *uint64   `gorm:"index"`
	Error        string    `gorm:"type:text"`
	CreatedBy    string    `gorm:"size:96;not null"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
	SubmittedAt  *time.Time
	FinishedAt   *time.Time
}

// TableName keeps the outbox's tables together.
func (Message) TableName() string { return "sms_messages" }

// MessagePart is one part of a message, with its own delivery state.
type MessagePart struct {
	ID        uint64     `gorm:"primaryKey"`
	MessageID uint64     `gorm:"not null;uniqueIndex:idx_sms_parts_message_seq,priority:1"`
	Seq       int        `gorm:"not null;uniqueIndex:idx_sms_parts_message_seq,priority:2"`
	Text      string     `gorm:"type:text;not null;pii"` // sealed at rest like Message.Text
	Status    PartStatus `gorm:"size:16;not null"`
	GatewayID string     `gorm:"size:64"`
	Detail    string     `gorm:"size:255"`
	// SubmittedAt is when the gateway accepted it; ReportedAt the last delivery report.
	SubmittedAt *time.Time
	ReportedAt  *time.Time
}

// TableName keeps the outbox's tables together.
func (MessagePart) TableName() string { return "sms_parts" }

// Suppression is a number that opted out of surveys and free text. The number is sealed
// at rest like Message.Recipient and found through PhoneIndex; one number has one row,
// kept so by writing under the number's lock (a sealed value cannot be a unique key).
type Suppression struct {
	ID         uint64 `gorm:"primaryKey"`
	Phone      string `gorm:"not null;pii"`
	PhoneIndex string `gorm:"column:phone_idx;size:64;not null;default:'';index;blindindex:phone"`
	Reason     string `gorm:"size:32;not null"` // opt_out (by SMS) or manual
	Note       string `gorm:"size:255"`
	CreatedBy  string `gorm:"size:96;not null"`
	CreatedAt  time.Time
}

// TableName keeps the outbox's tables together.
func (Suppression) TableName() string { return "sms_suppressions" }

// Template is an edited or added message template; the built-in ones live in code until
// an administrator changes them.
type Template struct {
	Name      string `gorm:"primaryKey;size:64"`
	Kind      Kind   `gorm:"size:24;not null"`
	Body      string `gorm:"type:text;not null"`
	UpdatedBy string `gorm:"size:96;not null"`
	UpdatedAt time.Time
}

// TableName keeps the outbox's tables together.
func (Template) TableName() string { return "sms_templates" }

// InboundMessage is a stored incoming message and what was done with it.
type InboundMessage struct {
	ID uint64 `gorm:"primaryKey"`
	// GatewayRef is the gateway's id when it gives one, so that a callback repeated by the
	// gateway is stored once. NULL when absent: NULLs never collide.
	GatewayRef *string `gorm:"size:64;uniqueIndex"`
	// From is in national format when it parses; sealed at rest like Message.Recipient.
	From       string `gorm:"not null;pii"`
	FromIndex  string `gorm:"column:from_idx;size:64;not null;default:'';index;blindindex:from"`
	To         string `gorm:"size:32"`
	Text       string `gorm:"type:text;not null"`
	ReceivedAt time.Time
	// Route is what the text was taken for; RouteError why routing failed.
	Route        Route  `gorm:"size:16;not null;index"`
	RouteError   string `gorm:"type:text"`
	TicketNumber string `gorm:"size:20;index"`
	ReplyID      *uint64
	CreatedAt    time.Time
}

// TableName keeps the outbox's tables together.
func (InboundMessage) TableName() string { return "sms_inbound" }

// Route is what an inbound message was taken for.
type Route string

const (
	RoutePending      Route = "pending"       // stored, not yet routed (or routing failed and will be retried)
	RouteOptOut       Route = "opt_out"       // 退订
	RouteQuery        Route = "query"         // 查询 <number>
	RouteSurvey       Route = "survey"        // a survey answer, taken by the survey hook
	RouteTicket       Route = "ticket"        // opened a new ticket
	RouteTicketAppend Route = "ticket_append" // joined the ticket of its conversation window
	RouteIgnored      Route = "ignored"       // nothing to do (empty, or not from a phone number)
	RouteFailed       Route = "failed"        // routing gave up; an operator reads it in the list
)

// Conversation is the SMS channel's window state per number: further messages within the
// window join the ticket the first one opened. The number is sealed at rest and found
// through PhoneIndex, like Suppression's.
type Conversation struct {
	ID           uint64 `gorm:"primaryKey"`
	Phone        string `gorm:"not null;pii"`
	PhoneIndex   string `gorm:"column:phone_idx;size:64;not null;default:'';index;blindindex:phone"`
	TicketNumber string `gorm:"size:20;not null"`
	OpenedAt     time.Time
	LastAt       time.Time
}

// TableName keeps the outbox's tables together.
func (Conversation) TableName() string { return "sms_conversations" }

// Notice is an application-confirmation notice (come and confirm your online application)
// posted by the online-approval system.
type Notice struct {
	ID                uint64 `gorm:"primaryKey"`
	ApplicationNumber string `gorm:"size:64;not null;uniqueIndex"`
	// The applicant's name and mobile number are sealed at rest like Message.Recipient.
	ApplicantName string `gorm:"not null;pii"`
	Mobile        string `gorm:"not null;pii"`
	MobileIndex   string `gorm:"column:mobile_idx;size:64;not null;default:'';index;blindindex:mobile"`
	Item          string `gorm:"size:128;not null"`
	Department    string `gorm:"size:128"`
	Hall          string `gorm:"size:255;not null"`
	Window        string `gorm:"size:32;not null"`
	ConfirmBy     string `gorm:"size:10;not null"`   // YYYY-MM-DD in the city's zone
	Documents     string `gorm:"type:text;not null"` // JSON array of strings
	MessageID     uint64 `gorm:"not null"`
	CreatedBy     string `gorm:"size:96;not null"`
	CreatedAt     time.Time
}

// TableName keeps the outbox's tables together.
func (Notice) TableName() string { return "sms_notices" }

// MaterialItem is an approval item and the materials an applicant must bring, for the
// one-time materials notice (一次性告知).
type MaterialItem struct {
	ID         uint64 `gorm:"primaryKey"`
	Code       string `gorm:"size:32;not null;uniqueIndex"`
	Name       string `gorm:"size:128;not null"`
	Department string `gorm:"size:128"`
	Hall       string `gorm:"size:255"`
	Materials  string `gorm:"type:text;not null"` // JSON array of strings
	// The other elements of the item (办事指南要素) beside its name and materials.
	LegalBasis    string `gorm:"type:text;not null;default:''"` // 设定依据
	TimeLimit     string `gorm:"size:255;not null;default:''"`  // 办理时限
	Preconditions string `gorm:"type:text;not null;default:''"` // 申请条件
	Process       string `gorm:"type:text;not null;default:''"` // 办理流程
	FeeBasis      string `gorm:"type:text;not null;default:''"` // 收费依据
	FeeStandard   string `gorm:"type:text;not null;default:''"` // 收费标准
	Active        bool   `gorm:"not null"`                      // the column defaults to true; the model does not say so, or gorm would store every false as true
	UpdatedBy     string `gorm:"size:96;not null"`
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// TableName keeps the outbox's tables together.
func (MaterialItem) TableName() string { return "sms_material_items" }

// Cursor is how far a worker that derives messages from another domain's log has read.
type Cursor struct {
	Name      string `gorm:"primaryKey;size:32"`
	Value     uint64 `gorm:"not null"`
	UpdatedAt time.Time
}

// TableName keeps the outbox's tables together.
func (Cursor) TableName() string { return "sms_cursors" }
