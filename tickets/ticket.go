package tickets

import "time"

// Channel is where a ticket came from.
type Channel string

const (
	ChannelPhone     Channel = "phone"
	ChannelVoicemail Channel = "voicemail"
	ChannelMailbox   Channel = "mailbox" // 市长信箱
	ChannelQQ        Channel = "qq"
	ChannelWeb       Channel = "web"
	ChannelOpen311   Channel = "open311"
	ChannelSMS       Channel = "sms"
	ChannelWalkIn    Channel = "walk_in"
)

var channels = []Channel{ChannelPhone, ChannelVoicemail, ChannelMailbox, ChannelQQ, ChannelWeb, ChannelOpen311, ChannelSMS, ChannelWalkIn}

// Valid reports whether c is a known channel.
func (c Channel) Valid() bool {
	for _, k := range channels {
		if c == k {
			return true
		}
	}
	return false
}

// Urgency decides which limits apply: normal limits run on the working calendar, urgent
// and critical ones on the clock.
type Urgency string

const (
	UrgencyNormal   Urgency = "normal"
	UrgencyUrgent   Urgency = "urgent"
	UrgencyCritical Urgency = "critical"
)

// Valid reports whether u is a known urgency.
func (u Urgency) Valid() bool {
	return u == UrgencyNormal || u == UrgencyUrgent || u == UrgencyCritical
}

// PhoneKind says whether a citizen's number can receive SMS.
type PhoneKind string

const (
	PhoneNone     PhoneKind = ""
	PhoneMobile   PhoneKind = "mobile"
	PhoneLandline PhoneKind = "landline"
	PhoneOther    PhoneKind = "other"
)

// Ticket is a citizen's request (工单) from registration to completion.
type Ticket struct {
	ID uint64 `gorm:"primaryKey"`
	// Number is what the citizen is told and keys in on a phone: digits only, the last
	// one a check digit (see number.go).
	Number  string  `gorm:"size:20;uniqueIndex;not null"`
	Channel Channel `gorm:"size:16;not null;index"`
	Status  Status  `gorm:"size:16;not null"`
	// Version increases with every change; writers name the version they read and lose
	// with a conflict when someone else changed the ticket first.
	Version int `gorm:"not null;default:1"`

	// The citizen's name, phone number (national format, e.g. 13812345678 or
	// 04778581234) and e-mail address are sealed with SM4 when personal-data keys are
	// configured (package pii); CitizenPhoneIndex is then the phone number's blind index,
	// by which it is found (phoneIs).
	CitizenName       string    `gorm:"type:text;pii"`
	CitizenPhone      string    `gorm:"type:text;index;pii"`
	CitizenPhoneIndex string    `gorm:"column:citizen_phone_idx;size:64;not null;default:'';index;blindindex:citizen_phone"`
	PhoneKind         PhoneKind `gorm:"size:16"`
	CitizenEmail      string    `gorm:"type:text;pii"`
	Anonymous         bool      `gorm:"not null;default:false"`
	// No default tag here (the column has one): with it, gorm leaves a false out of the
	// INSERT and the database turns "does not want a reply" into true.
	WantsReply bool `gorm:"not null"`

	Title      string  `gorm:"size:200;not null"`
	Content    string  `gorm:"type:text;not null"`
	CategoryID uint    `gorm:"not null;index"`
	Urgency    Urgency `gorm:"size:16;not null"`

	DistrictID *uint    `gorm:"index"` // banner/district government department
	TownshipID *uint    // township/street government department
	Address    string   `gorm:"size:255"`
	Latitude   *float64 //
	Longitude  *float64 //

	// ExternalRef ties the ticket to what it came from: a call id, a Message-ID, an
	// Open311 token; Recording is the call or voice-message recording name.
	ExternalRef string `gorm:"size:255;index"`
	Recording   string `gorm:"size:255"`

	// LeadDepartmentID is the department answerable for the ticket now (the lead one in
	// a parallel dispatch); nil while at the central desk.
	LeadDepartmentID *uint `gorm:"index:idx_tickets_lead_open,priority:1"`
	Open             bool  `gorm:"not null;index:idx_tickets_lead_open,priority:2"` // no default in the tag: gorm would store a ticket completed at registration as open

	SignDueAt *time.Time
	DueAt     *time.Time `gorm:"index"`
	Overdue   bool       `gorm:"not null;default:false;index"`
	OverdueAt *time.Time

	RegisteredBy string `gorm:"size:96;not null"`
	RegisteredAt time.Time
	DispatchedAt *time.Time
	CompletedAt  *time.Time
	// Answer is the result told to the citizen: the verified reply or the direct answer.
	Answer        string `gorm:"type:text"`
	RefusalReason string `gorm:"size:64"`
	MergedIntoID  *uint64
	ReopenCount   int `gorm:"not null;default:0"`
	UrgeCount     int `gorm:"not null;default:0"`
	ReturnCount   int `gorm:"not null;default:0"`

	// The head of the tamper-evident timeline: the sequence number and hash of the last
	// event, so that appending an event needs no extra read.
	EventSeq  int    `gorm:"not null;default:0"`
	EventHash string `gorm:"size:80;not null;default:''"`

	CreatedAt time.Time `gorm:"index:idx_tickets_lead_open,priority:3,sort:desc"`
	UpdatedAt time.Time
}

// AssignmentStatus is one department's progress on a dispatched ticket.
type AssignmentStatus string

const (
	AssignDispatched AssignmentStatus = "dispatched" // waiting for sign-for
	AssignSigned     AssignmentStatus = "signed"     // being handled
	AssignReplied    AssignmentStatus = "replied"    // reply waiting for verification
	AssignReturned   AssignmentStatus = "returned"   // return waiting for arbitration
	AssignDelegated  AssignmentStatus = "delegated"  // handed down to a sub-unit
	AssignClosed     AssignmentStatus = "closed"     // finished, withdrawn or return accepted
)

// Assignment is one department's share of a dispatch. A parallel dispatch (并联) has one
// assignment per department, one of them the lead.
type Assignment struct {
	ID           uint64           `gorm:"primaryKey"`
	TicketID     uint64           `gorm:"not null;index"`
	DepartmentID uint             `gorm:"not null;index"`
	Lead         bool             `gorm:"not null;default:false"`
	Status       AssignmentStatus `gorm:"size:16;not null"`
	// ParentID is the assignment this one was re-dispatched from (downwards to a sub-unit).
	ParentID     *uint64
	DispatchedAt time.Time
	SignDueAt    time.Time
	// DueAt is nil until the handling clock starts (at sign-for, when so configured).
	DueAt            *time.Time
	HandleLimit      string `gorm:"size:16"`
	SignedAt         *time.Time
	RepliedAt        *time.Time
	Reply            string `gorm:"type:text"`
	ReturnReason     string `gorm:"type:text"`
	ExtensionPending bool   `gorm:"not null;default:false"`
	ExtensionUntil   *time.Time
	ExtensionNote    string `gorm:"type:text"`
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Event is one entry of a ticket's timeline. The timeline is append-only and each event
// carries a hash over the previous one (电子监察), so an edit or deletion is detectable.
type Event struct {
	ID           uint64    `gorm:"primaryKey"`
	TicketID     uint64    `gorm:"not null;uniqueIndex:idx_events_ticket_seq,priority:1"`
	Seq          int       `gorm:"not null;uniqueIndex:idx_events_ticket_seq,priority:2"`
	At           time.Time `gorm:"not null"`
	Actor        string    `gorm:"size:96;not null"`
	Action       Action    `gorm:"size:32;not null"`
	FromStatus   Status    `gorm:"size:16"`
	ToStatus     Status    `gorm:"size:16"`
	DepartmentID *uint
	Note         string `gorm:"type:text"`
	// Data is a JSON object with the action's details (departments, deadlines, reasons).
	Data     string `gorm:"type:text"`
	PrevHash string `gorm:"size:80;not null"`
	Hash     string `gorm:"size:80;not null"`
}

// Attachment is a file kept with a ticket under the data directory.
type Attachment struct {
	ID          uint64 `gorm:"primaryKey"`
	TicketID    uint64 `gorm:"not null;index"`
	EventSeq    int    // the timeline event it came with (0: registration)
	FileName    string `gorm:"size:255;not null"`
	ContentType string `gorm:"size:128;not null"`
	Size        int64  `gorm:"not null"`
	SHA256      string `gorm:"size:64;not null"`
	// StoredName is the file's name in the attachment folder: its SHA-256, so that the
	// same upload twice is stored once and a path can never come from the client.
	StoredName string `gorm:"size:128;not null"`
	UploadedBy string `gorm:"size:96;not null"`
	CreatedAt  time.Time
}

// Counter hands out ticket serial numbers.
type Counter struct {
	Name  string `gorm:"primaryKey;size:32"`
	Value int64  `gorm:"not null"`
}
