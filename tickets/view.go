package tickets

import (
	"time"
)

// The JSON shapes of the API. They are separate from the gorm models so that a column
// can change without changing what integrators see, and so that masking is applied in one
// place.

// DepartmentRef names a department in a ticket.
type DepartmentRef struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// CategoryRef names a category in a ticket.
type CategoryRef struct {
	Code string `json:"code"`
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
}

// CitizenView is the citizen as the viewer may see them.
type CitizenView struct {
	Name       string    `json:"name,omitempty"`
	Phone      string    `json:"phone,omitempty"` // masked (138****1234) for department users
	PhoneKind  PhoneKind `json:"phone_kind,omitempty"`
	Email      string    `json:"email,omitempty"`
	Anonymous  bool      `json:"anonymous"`
	WantsReply bool      `json:"wants_reply"`
}

// LocationView is where the matter is.
type LocationView struct {
	District  *DepartmentRef `json:"district,omitempty"`
	Township  *DepartmentRef `json:"township,omitempty"`
	Address   string         `json:"address,omitempty"`
	Latitude  *float64       `json:"latitude,omitempty"`
	Longitude *float64       `json:"longitude,omitempty"`
}

// AssignmentView is one department's share of the work.
type AssignmentView struct {
	Department       DepartmentRef    `json:"department"`
	Lead             bool             `json:"lead"`
	Status           AssignmentStatus `json:"status"`
	DispatchedAt     time.Time        `json:"dispatched_at"`
	SignDueAt        time.Time        `json:"sign_due_at"`
	DueAt            *time.Time       `json:"due_at,omitempty"`
	SignedAt         *time.Time       `json:"signed_at,omitempty"`
	RepliedAt        *time.Time       `json:"replied_at,omitempty"`
	Reply            string           `json:"reply,omitempty"`
	ReturnReason     string           `json:"return_reason,omitempty"`
	ExtensionPending bool             `json:"extension_pending,omitempty"`
	ExtensionUntil   *time.Time       `json:"extension_until,omitempty"`
	ExtensionNote    string           `json:"extension_note,omitempty"`
}

// EventView is one timeline entry.
type EventView struct {
	Seq        int            `json:"seq"`
	At         time.Time      `json:"at"`
	Actor      string         `json:"actor"`
	Action     Action         `json:"action"`
	FromStatus Status         `json:"from_status,omitempty"`
	ToStatus   Status         `json:"to_status,omitempty"`
	Department *DepartmentRef `json:"department,omitempty"`
	Note       string         `json:"note,omitempty"`
	Data       map[string]any `json:"data,omitempty"`
	Hash       string         `json:"hash"`
}

// AttachmentView describes a stored file.
type AttachmentView struct {
	ID          uint64    `json:"id"`
	FileName    string    `json:"file_name"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	UploadedBy  string    `json:"uploaded_by"`
	CreatedAt   time.Time `json:"created_at"`
	URL         string    `json:"url"`
}

// View is a ticket as the API returns it.
type View struct {
	Number         string           `json:"number"`
	Channel        Channel          `json:"channel"`
	Status         Status           `json:"status"`
	Version        int              `json:"version"`
	Citizen        CitizenView      `json:"citizen"`
	Title          string           `json:"title"`
	Content        string           `json:"content"`
	Category       CategoryRef      `json:"category"`
	Urgency        Urgency          `json:"urgency"`
	Location       LocationView     `json:"location"`
	LeadDepartment *DepartmentRef   `json:"lead_department,omitempty"`
	Assignments    []AssignmentView `json:"assignments"`
	SignDueAt      *time.Time       `json:"sign_due_at,omitempty"`
	DueAt          *time.Time       `json:"due_at,omitempty"`
	// Late is computed when the ticket is read: an open ticket past its sign-for or
	// handling deadline. Overdue is what the overdue worker has recorded.
	Late          bool       `json:"late"`
	Overdue       bool       `json:"overdue"`
	OverdueAt     *time.Time `json:"overdue_at,omitempty"`
	RegisteredBy  string     `json:"registered_by"`
	RegisteredAt  time.Time  `json:"registered_at"`
	DispatchedAt  *time.Time `json:"dispatched_at,omitempty"`
	CompletedAt   *time.Time `json:"completed_at,omitempty"`
	Answer        string     `json:"answer,omitempty"`
	RefusalReason string     `json:"refusal_reason,omitempty"`
	MergedInto    string     `json:"merged_into,omitempty"`
	ReopenCount   int        `json:"reopen_count"`
	UrgeCount     int        `json:"urge_count"`
	ReturnCount   int        `json:"return_count"`
	ExternalRef   string     `json:"external_ref,omitempty"`
	Recording     string     `json:"recording,omitempty"`
	UpdatedAt     time.Time  `json:"updated_at"`

	// Actions are the workflow actions the viewer may take on the ticket now (POST
	// /api/v1/tickets/:number/:action accepts exactly these, given valid fields).
	Actions []Action `json:"actions"`

	Timeline           []EventView      `json:"timeline,omitempty"`
	Attachments        []AttachmentView `json:"attachments,omitempty"`
	PossibleDuplicates []string         `json:"possible_duplicates,omitempty"`
}
