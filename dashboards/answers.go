package dashboards

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// Answer is a published question and answer (百姓直通车): a completed ticket's question
// and the answer the citizen got, with personal data removed, shown on the public page.
type Answer struct {
	ID           uint64     `gorm:"primaryKey" json:"id"`
	TicketID     uint64     `gorm:"not null;uniqueIndex" json:"-"`
	TicketNumber string     `gorm:"size:20;not null" json:"ticket"`
	Category     string     `gorm:"size:128" json:"category"`
	Department   string     `gorm:"size:128" json:"department"`
	Title        string     `gorm:"size:200;not null" json:"title"`
	Question     string     `gorm:"type:text;not null" json:"question"`
	Reply        string     `gorm:"type:text;not null" json:"answer"`
	PublishedAt  time.Time  `gorm:"index" json:"published_at"`
	PublishedBy  string     `gorm:"size:96;not null" json:"published_by"`
	WithdrawnAt  *time.Time `json:"withdrawn_at,omitempty"`
}

// TableName keeps the package's tables together.
func (Answer) TableName() string { return "dashboards_answers" }

type answerV1 struct {
	ID           uint64    `gorm:"primaryKey"`
	TicketID     uint64    `gorm:"not null;uniqueIndex:idx_dashboards_answers_ticket"`
	TicketNumber string    `gorm:"size:20;not null"`
	Category     string    `gorm:"size:128"`
	Department   string    `gorm:"size:128"`
	Title        string    `gorm:"size:200;not null"`
	Question     string    `gorm:"type:text;not null"`
	Reply        string    `gorm:"type:text;not null"`
	PublishedAt  time.Time `gorm:"index:idx_dashboards_answers_published"`
	PublishedBy  string    `gorm:"size:96;not null"`
	WithdrawnAt  *time.Time
}

func (answerV1) TableName() string { return "dashboards_answers" }

// PublishRequest names the ticket to publish. Title, Question and Answer, when given,
// replace the ticket's own wording (an editor's shorter version); whatever is published
// is redacted.
type PublishRequest struct {
	Ticket   string `json:"ticket"`
	Title    string `json:"title,omitempty"`
	Question string `json:"question,omitempty"`
	Answer   string `json:"answer,omitempty"`
}

// Publish publishes a completed ticket's question and answer; publishing it again
// replaces the earlier version (and undoes a withdrawal).
func (s *Service) Publish(ctx context.Context, who *auth.Principal, in PublishRequest) (*Answer, error) {
	if !who.Is(auth.RoleSupervisor) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "only supervisors publish answers")
	}
	number := tickets.NormalizeNumber(strings.TrimSpace(in.Ticket))
	if number == "" {
		return nil, api.Errorf(api.ErrInvalid, "missing_ticket", "ticket is required")
	}
	for field, v := range map[string]string{"title": in.Title, "question": in.Question, "answer": in.Answer} {
		max := 20000
		if field == "title" {
			max = 200
		}
		if len([]rune(v)) > max {
			return nil, api.Errorf(api.ErrInvalid, field+"_too_long", "%s is over %d characters", field, max)
		}
	}
	var t tickets.Ticket
	err := s.db.WithContext(ctx).Where("number = ?", number).Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, api.Errorf(api.ErrNotFound, "ticket_not_found", "no ticket %s", number)
	}
	if err != nil {
		return nil, fmt.Errorf("dashboards: load ticket %s: %w", number, err)
	}
	if t.Status != tickets.StatusCompleted {
		return nil, api.Errorf(api.ErrConflict, "not_completed", "ticket %s is %s; only a completed ticket can be published", number, t.Status)
	}
	pick := func(edited, own string) string {
		if v := strings.TrimSpace(edited); v != "" {
			return v
		}
		return own
	}
	a := Answer{TicketID: t.ID, TicketNumber: t.Number,
		Title:       Redact(pick(in.Title, t.Title), t.CitizenName),
		Question:    Redact(pick(in.Question, t.Content), t.CitizenName),
		Reply:       Redact(pick(in.Answer, t.Answer), t.CitizenName),
		PublishedAt: s.now(), PublishedBy: who.Actor()}
	if strings.TrimSpace(a.Reply) == "" {
		return nil, api.Errorf(api.ErrInvalid, "missing_answer", "ticket %s has no answer to publish; write one", number)
	}
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, err
	}
	if c := dir.cats[t.CategoryID]; c != nil {
		a.Category = c.Name
	}
	if t.LeadDepartmentID != nil {
		if d := dir.depts[*t.LeadDepartmentID]; d != nil {
			a.Department = d.Name
		}
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var old Answer
		err := tx.Where("ticket_id = ?", t.ID).Take(&old).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			return tx.Create(&a).Error
		case err != nil:
			return err
		}
		a.ID = old.ID
		return tx.Select("*").Save(&a).Error
	})
	if err != nil {
		return nil, fmt.Errorf("dashboards: publish %s: %w", number, err)
	}
	a.PublishedAt = a.PublishedAt.In(s.opts.Location)
	return &a, nil
}

// Withdraw takes a published answer off the public page.
func (s *Service) Withdraw(ctx context.Context, who *auth.Principal, id uint64) error {
	if !who.Is(auth.RoleSupervisor) {
		return api.Errorf(api.ErrForbidden, "forbidden", "only supervisors withdraw answers")
	}
	res := s.db.WithContext(ctx).Model(&Answer{}).Where("id = ? AND withdrawn_at IS NULL", id).Update("withdrawn_at", s.now())
	if res.Error != nil {
		return fmt.Errorf("dashboards: withdraw answer %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return api.Errorf(api.ErrNotFound, "answer_not_found", "no published answer %d", id)
	}
	return nil
}

// PublishedAnswers lists the answers on the public page, newest first. It needs no
// principal: everything in it has been redacted and chosen for the public.
func (s *Service) PublishedAnswers(ctx context.Context, page api.Page) ([]Answer, bool, error) {
	var out []Answer
	err := s.db.WithContext(ctx).Where("withdrawn_at IS NULL").Order("published_at DESC").Order("id DESC").
		Offset(page.Offset()).Limit(page.PerPage + 1).Find(&out).Error
	if err != nil {
		return nil, false, fmt.Errorf("dashboards: list answers: %w", err)
	}
	more := len(out) > page.PerPage
	if more {
		out = out[:page.PerPage]
	}
	for i := range out {
		out[i].PublishedAt = out[i].PublishedAt.In(s.opts.Location)
	}
	return out, more, nil
}

// PublishedAnswer returns one answer on the public page.
func (s *Service) PublishedAnswer(ctx context.Context, id uint64) (*Answer, error) {
	var a Answer
	err := s.db.WithContext(ctx).Where("id = ? AND withdrawn_at IS NULL", id).Take(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, api.Errorf(api.ErrNotFound, "answer_not_found", "no published answer %d", id)
	}
	if err != nil {
		return nil, fmt.Errorf("dashboards: load answer %d: %w", id, err)
	}
	a.PublishedAt = a.PublishedAt.In(s.opts.Location)
	return &a, nil
}
