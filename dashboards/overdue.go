package dashboards

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/idempotency"
	"github.com/rexian/rexian/tickets"
)

// OverdueTicket is a line of the overdue list (超期工单).
type OverdueTicket struct {
	Number         string     `json:"number"`
	Title          string     `json:"title"`
	Status         string     `json:"status"`
	Department     string     `json:"department,omitempty"`
	DepartmentName string     `json:"department_name,omitempty"`
	RegisteredAt   time.Time  `json:"registered_at"`
	DueAt          *time.Time `json:"due_at,omitempty"`
	OverdueAt      *time.Time `json:"overdue_at,omitempty"`
	// LateHours is how long past the deadline (or since marked overdue) it is now.
	LateHours float64 `json:"late_hours"`
	Urges     int     `json:"urges"`
	Version   int     `json:"version"`
}

// Overdue lists the open overdue tickets, longest late first; department (a code)
// narrows to tickets led by it or its sub-units. A department user sees its own only.
func (s *Service) Overdue(ctx context.Context, who *auth.Principal, department string, page api.Page) ([]OverdueTicket, bool, error) {
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, false, err
	}
	own, err := dir.visibleDepartment(who)
	if err != nil {
		return nil, false, err
	}
	scope := own
	if department != "" {
		d, ok := dir.deptCode[department]
		if !ok {
			return nil, false, api.Errorf(api.ErrInvalid, "unknown_department", "unknown department %q", department)
		}
		if own != nil && !dir.within(d.ID, own) {
			return nil, false, api.Errorf(api.ErrForbidden, "other_department", "department %s is not yours or one of your sub-units", d.Code)
		}
		scope = d
	}
	// Written out rather than bound, so that PostgreSQL's generic plan still knows it may
	// walk idx_dash_tickets_overdue_list, the open overdue tickets in this order.
	q := s.read.WithContext(ctx).Model(&tickets.Ticket{}).Where("open AND overdue")
	if scope != nil {
		var ids []uint
		for id := range dir.depts {
			if dir.within(id, scope) {
				ids = append(ids, id)
			}
		}
		q = q.Where("lead_department_id IN ?", ids)
	}
	var ts []tickets.Ticket
	err = q.Select("id", "number", "title", "status", "lead_department_id", "registered_at", "due_at", "sign_due_at", "overdue_at", "urge_count", "version").
		Order("overdue_at").Order("id").Offset(page.Offset()).Limit(page.PerPage + 1).Find(&ts).Error
	if err != nil {
		return nil, false, fmt.Errorf("dashboards: overdue list: %w", err)
	}
	more := len(ts) > page.PerPage
	if more {
		ts = ts[:page.PerPage]
	}
	now := s.now()
	out := make([]OverdueTicket, 0, len(ts))
	for _, t := range ts {
		o := OverdueTicket{Number: t.Number, Title: t.Title, Status: string(t.Status), RegisteredAt: t.RegisteredAt.In(s.opts.Location),
			DueAt: s.in(t.DueAt), OverdueAt: s.in(t.OverdueAt), Urges: t.UrgeCount, Version: t.Version}
		if t.LeadDepartmentID != nil {
			if d := dir.depts[*t.LeadDepartmentID]; d != nil {
				o.Department, o.DepartmentName = d.Code, d.Name
			}
		}
		since := t.OverdueAt
		if t.DueAt != nil && t.DueAt.Before(now) {
			since = t.DueAt
		} else if t.SignDueAt != nil && t.SignDueAt.Before(now) {
			since = t.SignDueAt
		}
		if since != nil {
			o.LateHours = float64(now.Sub(*since).Round(time.Minute)) / float64(time.Hour)
		}
		out = append(out, o)
	}
	return out, more, nil
}

func (s *Service) in(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	x := t.In(s.opts.Location)
	return &x
}

// UrgeRequest is a one-click urge (督办) from the overdue list.
type UrgeRequest struct {
	Note string `json:"note"`
	// Department is the department urged; empty urges the ticket as a whole.
	Department string `json:"department,omitempty"`
}

// Urge urges a ticket as the supervisor, through the tickets workflow: the urge is on
// the ticket's timeline like any other. An empty note gets the standard wording.
func (s *Service) Urge(ctx context.Context, who *auth.Principal, number string, in UrgeRequest) (*tickets.View, error) {
	if !who.Is(auth.RoleSupervisor) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "only supervisors urge tickets")
	}
	if s.opts.Tickets == nil {
		return nil, api.Errorf(api.ErrUnavailable, "urge_unavailable", "urging is not configured")
	}
	note := strings.TrimSpace(in.Note)
	if note == "" {
		note = "该工单已超期，请尽快办理并回复。"
	}
	return s.opts.Tickets.Act(ctx, who, number, tickets.ActUrge, tickets.ActionRequest{Note: note, Department: in.Department})
}

// Supervision is an on-site supervision record (现场督办): who went where about which
// ticket, and what they found.
type Supervision struct {
	ID           uint64    `gorm:"primaryKey" json:"id"`
	TicketID     *uint64   `gorm:"index" json:"-"`
	TicketNumber string    `gorm:"size:20" json:"ticket,omitempty"`
	Date         string    `gorm:"size:10;not null;index" json:"date"` // 2026-11-26, the city's calendar
	Place        string    `gorm:"size:255;not null" json:"place"`
	People       string    `gorm:"type:text;not null" json:"people"`
	Findings     string    `gorm:"type:text;not null" json:"findings"`
	CreatedBy    string    `gorm:"size:96;not null" json:"created_by"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// TableName keeps the package's tables together.
func (Supervision) TableName() string { return "dashboards_supervisions" }

type supervisionV1 struct {
	ID           uint64  `gorm:"primaryKey"`
	TicketID     *uint64 `gorm:"index:idx_dashboards_supervisions_ticket"`
	TicketNumber string  `gorm:"size:20"`
	Date         string  `gorm:"size:10;not null;index:idx_dashboards_supervisions_date"`
	Place        string  `gorm:"size:255;not null"`
	People       string  `gorm:"type:text;not null"`
	Findings     string  `gorm:"type:text;not null"`
	CreatedBy    string  `gorm:"size:96;not null"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (supervisionV1) TableName() string { return "dashboards_supervisions" }

// SupervisionInput is what a supervisor writes about an on-site supervision.
type SupervisionInput struct {
	Ticket   string `json:"ticket"`
	Date     string `json:"date"`
	Place    string `json:"place"`
	People   string `json:"people"`
	Findings string `json:"findings"`
}

func (s *Service) checkSupervision(ctx context.Context, in SupervisionInput) (*Supervision, error) {
	text := func(field, v string, max int) (string, error) {
		v = strings.TrimSpace(v)
		if v == "" {
			return "", api.Errorf(api.ErrInvalid, "missing_"+field, "%s is required", field)
		}
		if len([]rune(v)) > max {
			return "", api.Errorf(api.ErrInvalid, field+"_too_long", "%s is over %d characters", field, max)
		}
		return v, nil
	}
	var sv Supervision
	var err error
	if _, err := time.ParseInLocation(time.DateOnly, in.Date, s.opts.Location); err != nil {
		return nil, api.Errorf(api.ErrInvalid, "invalid_date", "date must look like 2026-11-26, not %q", in.Date)
	}
	sv.Date = in.Date
	if sv.Place, err = text("place", in.Place, 255); err != nil {
		return nil, err
	}
	if sv.People, err = text("people", in.People, 2000); err != nil {
		return nil, err
	}
	if sv.Findings, err = text("findings", in.Findings, 20000); err != nil {
		return nil, err
	}
	if n := strings.TrimSpace(in.Ticket); n != "" {
		var t tickets.Ticket
		err := s.db.WithContext(ctx).Select("id", "number").Where("number = ?", tickets.NormalizeNumber(n)).Take(&t).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, api.Errorf(api.ErrInvalid, "unknown_ticket", "no ticket %s", n)
		}
		if err != nil {
			return nil, fmt.Errorf("dashboards: find ticket %s: %w", n, err)
		}
		sv.TicketID, sv.TicketNumber = &t.ID, t.Number
	}
	return &sv, nil
}

// CreateSupervision records an on-site supervision.
func (s *Service) CreateSupervision(ctx context.Context, who *auth.Principal, in SupervisionInput) (*Supervision, error) {
	if !who.Is(auth.RoleSupervisor) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "only supervisors record on-site supervisions")
	}
	sv, err := s.checkSupervision(ctx, in)
	if err != nil {
		return nil, err
	}
	sv.CreatedBy = who.Actor()
	now := s.now()
	sv.CreatedAt, sv.UpdatedAt = now, now
	// The record and its link to the request's Idempotency-Key are one write, so that a
	// retry after a crash finds this record rather than make a second.
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(sv).Error; err != nil {
			return err
		}
		return idempotency.Link(ctx, tx, "supervision:"+strconv.FormatUint(sv.ID, 10))
	})
	if err != nil {
		return nil, fmt.Errorf("dashboards: create supervision: %w", err)
	}
	return sv, nil
}

// UpdateSupervision rewrites a record.
func (s *Service) UpdateSupervision(ctx context.Context, who *auth.Principal, id uint64, in SupervisionInput) (*Supervision, error) {
	old, err := s.Supervision(ctx, who, id)
	if err != nil {
		return nil, err
	}
	sv, err := s.checkSupervision(ctx, in)
	if err != nil {
		return nil, err
	}
	sv.ID, sv.CreatedBy, sv.CreatedAt, sv.UpdatedAt = old.ID, old.CreatedBy, old.CreatedAt, s.now()
	if err := s.db.WithContext(ctx).Select("*").Save(sv).Error; err != nil {
		return nil, fmt.Errorf("dashboards: update supervision %d: %w", id, err)
	}
	return sv, nil
}

// Supervision returns one record.
func (s *Service) Supervision(ctx context.Context, who *auth.Principal, id uint64) (*Supervision, error) {
	if !who.Is(auth.RoleSupervisor) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "only supervisors see on-site supervisions")
	}
	var sv Supervision
	err := s.db.WithContext(ctx).First(&sv, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, api.Errorf(api.ErrNotFound, "supervision_not_found", "no on-site supervision %d", id)
	}
	if err != nil {
		return nil, fmt.Errorf("dashboards: load supervision %d: %w", id, err)
	}
	return &sv, nil
}

// DeleteSupervision removes a record entered by mistake.
func (s *Service) DeleteSupervision(ctx context.Context, who *auth.Principal, id uint64) error {
	if _, err := s.Supervision(ctx, who, id); err != nil {
		return err
	}
	if err := s.db.WithContext(ctx).Delete(&Supervision{}, id).Error; err != nil {
		return fmt.Errorf("dashboards: delete supervision %d: %w", id, err)
	}
	return nil
}

// Supervisions lists records, newest first; ticket narrows to one ticket's.
func (s *Service) Supervisions(ctx context.Context, who *auth.Principal, ticket string, page api.Page) ([]Supervision, bool, error) {
	if !who.Is(auth.RoleSupervisor) {
		return nil, false, api.Errorf(api.ErrForbidden, "forbidden", "only supervisors see on-site supervisions")
	}
	q := s.db.WithContext(ctx).Model(&Supervision{})
	if ticket != "" {
		q = q.Where("ticket_number = ?", tickets.NormalizeNumber(ticket))
	}
	var out []Supervision
	if err := q.Order("date DESC").Order("id DESC").Offset(page.Offset()).Limit(page.PerPage + 1).Find(&out).Error; err != nil {
		return nil, false, fmt.Errorf("dashboards: list supervisions: %w", err)
	}
	more := len(out) > page.PerPage
	if more {
		out = out[:page.PerPage]
	}
	return out, more, nil
}
