package tickets

import (
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/database"
)

// Migrations returns the ticket schema's versioned steps. Each step creates tables from
// snapshots frozen at the time it was written, so that later changes to the models never
// rewrite history: a new column is a new step.
func Migrations() []*database.Migration {
	return []*database.Migration{
		{ID: "20261126_10_tickets_init", Migrate: migrateInit},
	}
}

func migrateInit(tx *gorm.DB) error {
	type Department struct {
		ID         uint   `gorm:"primaryKey"`
		Code       string `gorm:"size:32;uniqueIndex;not null"`
		Name       string `gorm:"size:128;not null"`
		Level      string `gorm:"size:16;not null"`
		ParentID   *uint  `gorm:"index"`
		Path       string `gorm:"size:255;index;not null"`
		Government bool   `gorm:"not null;default:false"`
		Phone      string `gorm:"size:32"`
		Active     bool   `gorm:"not null;default:true"`
		CreatedAt  time.Time
		UpdatedAt  time.Time
	}
	type Category struct {
		ID                  uint   `gorm:"primaryKey"`
		Code                string `gorm:"size:32;uniqueIndex;not null"`
		Name                string `gorm:"size:128;not null"`
		Kind                string `gorm:"size:16;not null"`
		ParentID            *uint  `gorm:"index"`
		DefaultDepartmentID *uint
		SignLimit           string `gorm:"size:16"`
		HandleLimit         string `gorm:"size:16"`
		UrgentSignLimit     string `gorm:"size:16"`
		UrgentHandleLimit   string `gorm:"size:16"`
		CriticalSignLimit   string `gorm:"size:16"`
		CriticalHandleLimit string `gorm:"size:16"`
		Active              bool   `gorm:"not null;default:true"`
		CreatedAt           time.Time
		UpdatedAt           time.Time
	}
	type Ticket struct {
		ID               uint64 `gorm:"primaryKey"`
		Number           string `gorm:"size:20;uniqueIndex;not null"`
		Channel          string `gorm:"size:16;not null;index"`
		Status           string `gorm:"size:16;not null;index"`
		Version          int    `gorm:"not null;default:1"`
		CitizenName      string `gorm:"size:64"`
		CitizenPhone     string `gorm:"size:32;index"`
		PhoneKind        string `gorm:"size:16"`
		CitizenEmail     string `gorm:"size:254"`
		Anonymous        bool   `gorm:"not null;default:false"`
		WantsReply       bool   `gorm:"not null;default:true"`
		Title            string `gorm:"size:200;not null"`
		Content          string `gorm:"type:text;not null"`
		CategoryID       uint   `gorm:"not null;index"`
		Urgency          string `gorm:"size:16;not null"`
		DistrictID       *uint  `gorm:"index"`
		TownshipID       *uint
		Address          string `gorm:"size:255"`
		Latitude         *float64
		Longitude        *float64
		ExternalRef      string `gorm:"size:255;index"`
		Recording        string `gorm:"size:255"`
		LeadDepartmentID *uint  `gorm:"index:idx_tickets_lead_open,priority:1"`
		Open             bool   `gorm:"not null;default:true;index:idx_tickets_lead_open,priority:2;index:idx_tickets_open_created,priority:1"`
		SignDueAt        *time.Time
		DueAt            *time.Time `gorm:"index"`
		Overdue          bool       `gorm:"not null;default:false;index"`
		OverdueAt        *time.Time
		RegisteredBy     string `gorm:"size:96;not null"`
		RegisteredAt     time.Time
		DispatchedAt     *time.Time
		CompletedAt      *time.Time `gorm:"index"`
		Answer           string     `gorm:"type:text"`
		RefusalReason    string     `gorm:"size:64"`
		MergedIntoID     *uint64
		ReopenCount      int       `gorm:"not null;default:0"`
		UrgeCount        int       `gorm:"not null;default:0"`
		ReturnCount      int       `gorm:"not null;default:0"`
		EventSeq         int       `gorm:"not null;default:0"`
		EventHash        string    `gorm:"size:64;not null;default:''"`
		CreatedAt        time.Time `gorm:"index;index:idx_tickets_lead_open,priority:3,sort:desc;index:idx_tickets_open_created,priority:2,sort:desc"`
		UpdatedAt        time.Time
	}
	type Assignment struct {
		ID               uint64 `gorm:"primaryKey"`
		TicketID         uint64 `gorm:"not null;index;index:idx_assignments_dept_ticket,priority:2"`
		DepartmentID     uint   `gorm:"not null;index:idx_assignments_dept_ticket,priority:1"`
		Lead             bool   `gorm:"not null;default:false"`
		Status           string `gorm:"size:16;not null"`
		ParentID         *uint64
		DispatchedAt     time.Time
		SignDueAt        time.Time
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
	type Event struct {
		ID           uint64    `gorm:"primaryKey"`
		TicketID     uint64    `gorm:"not null;uniqueIndex:idx_events_ticket_seq,priority:1"`
		Seq          int       `gorm:"not null;uniqueIndex:idx_events_ticket_seq,priority:2"`
		At           time.Time `gorm:"not null"`
		Actor        string    `gorm:"size:96;not null"`
		Action       string    `gorm:"size:32;not null"`
		FromStatus   string    `gorm:"size:16"`
		ToStatus     string    `gorm:"size:16"`
		DepartmentID *uint
		Note         string `gorm:"type:text"`
		Data         string `gorm:"type:text"`
		PrevHash     string `gorm:"size:64;not null"`
		Hash         string `gorm:"size:64;not null"`
	}
	type Attachment struct {
		ID          uint64 `gorm:"primaryKey"`
		TicketID    uint64 `gorm:"not null;index"`
		EventSeq    int
		FileName    string `gorm:"size:255;not null"`
		ContentType string `gorm:"size:128;not null"`
		Size        int64  `gorm:"not null"`
		SHA256      string `gorm:"size:64;not null"`
		StoredName  string `gorm:"size:128;not null"`
		UploadedBy  string `gorm:"size:96;not null"`
		CreatedAt   time.Time
	}
	type Counter struct {
		Name  string `gorm:"primaryKey;size:32"`
		Value int64  `gorm:"not null"`
	}
	return tx.Migrator().CreateTable(&Department{}, &Category{}, &Ticket{}, &Assignment{}, &Event{}, &Attachment{}, &Counter{})
}
