package callback

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/pii"
)

// View is a survey as the API shows it.
type View struct {
	ID              uint64     `json:"id"`
	Ticket          string     `json:"ticket"`
	CompletionSeq   int        `json:"completion_seq"`
	CompletedAt     time.Time  `json:"completed_at"`
	Department      string     `json:"department,omitempty"`
	Category        string     `json:"category,omitempty"`
	Phone           string     `json:"phone"`
	PhoneKind       string     `json:"phone_kind"`
	Status          Status     `json:"status"`
	Note            string     `json:"note,omitempty"`
	DueAt           time.Time  `json:"due_at"`
	SMSQueuedAt     *time.Time `json:"sms_queued_at,omitempty"`
	SentAt          *time.Time `json:"sms_sent_at,omitempty"` // accepted by the gateway
	Attempts        int        `json:"call_attempts"`
	LastOutcome     string     `json:"last_call_outcome,omitempty"`
	Result          Result     `json:"result,omitempty"`
	Channel         Channel    `json:"channel,omitempty"`
	Reason          string     `json:"reason,omitempty"`
	Recording       string     `json:"reason_recording,omitempty"`
	AwaitingReason  bool       `json:"awaiting_reason,omitempty"`
	AnsweredAt      *time.Time `json:"answered_at,omitempty"`
	AnsweredBy      string     `json:"answered_by,omitempty"`
	Remarks         string     `json:"remarks,omitempty"`
	EscalatedAt     *time.Time `json:"reopened_at,omitempty"`
	EscalationError string     `json:"reopen_error,omitempty"`
}

type surveyRow struct {
	Survey
	DepartmentCode string
	CategoryCode   string
}

func (s *Service) in(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.In(s.opts.Location)
	return &v
}

func (s *Service) view(r *surveyRow, mask bool) View {
	v := View{ID: r.ID, Ticket: r.TicketNumber, CompletionSeq: r.CompletionSeq, CompletedAt: r.CompletedAt.In(s.opts.Location),
		Department: r.DepartmentCode, Category: r.CategoryCode, Phone: r.Phone, PhoneKind: r.PhoneKind, Status: r.Status,
		Note: r.Note, DueAt: r.DueAt.In(s.opts.Location), SMSQueuedAt: s.in(r.SMSQueuedAt), SentAt: s.in(r.SentAt), Attempts: r.Attempts, LastOutcome: r.LastOutcome,
		Result: r.Result, Channel: r.Channel, Reason: r.Reason, Recording: r.Recording, AwaitingReason: r.AwaitingReason,
		AnsweredAt: s.in(r.AnsweredAt), AnsweredBy: r.AnsweredBy, Remarks: r.Remarks, EscalatedAt: s.in(r.EscalatedAt),
		EscalationError: r.EscalationError}
	// The list reads the table with joins of its own, which the personal-data plugin
	// does not open: the number is opened here. A key missing here is a configuration
	// error, logged; the survey is still listed, without its number.
	if p, err := pii.Keys(s.db).Open(r.Phone); err != nil {
		s.log.Error("survey phone number cannot be opened", "survey", r.ID, "err", err)
		v.Phone = ""
	} else {
		v.Phone = p
	}
	if mask {
		v.Phone = phone.Mask(v.Phone)
	}
	return v
}

// Filter narrows the survey list. The period and group fields ask for what the
// dashboards' survey figures count: surveys of completions in [From, To), by the facts
// the survey keeps of its ticket at completion.
type Filter struct {
	Status Status
	Result Result
	// Results: any of them (with Result, a survey must match both).
	Results []Result
	Ticket  string
	// Since: answered (or, for the manual list, put there) at or after it.
	Since *time.Time
	// From and To bound the completion time: [From, To).
	From, To *time.Time
	// Department and District are codes: the lead department and the district at
	// completion, exactly (not sub-units); tickets.None asks for surveys without one.
	Department, District string
	// Category is a code: the category and its children.
	Category string
	// Channel is the ticket's channel; tickets.None asks for surveys without one.
	Channel string
	// Counted, when set, keeps the surveys the figures count (true: every one but the
	// skipped) or only those they never count (false: the skipped).
	Counted *bool
}

// ReadingFrom returns the service over db, a standby of its database, for what only reads
// and may lag a moment behind: the surveys export. It must not write: a standby refuses
// writes. Nil stays nil.
func (s *Service) ReadingFrom(db *gorm.DB) *Service {
	if s == nil {
		return nil
	}
	c := *s
	c.db = db
	return &c
}

func (s *Service) query(ctx context.Context) *gorm.DB {
	return s.db.WithContext(ctx).Table("callback_surveys AS s").
		Select("s.*, d.code AS department_code, c.code AS category_code").
		Joins("LEFT JOIN departments d ON d.id = s.department_id").
		Joins("LEFT JOIN categories c ON c.id = s.category_id")
}

// Surveys lists surveys, newest first (the manual list oldest first: work the longest
// waiting citizen first).
func (s *Service) Surveys(ctx context.Context, f Filter, page api.Page, mask bool) ([]View, bool, error) {
	q, err := s.filtered(ctx, f)
	if err != nil {
		return nil, false, err
	}
	if f.Status == StatusManual {
		q = q.Order("s.updated_at, s.id")
	} else {
		q = q.Order("s.id DESC")
	}
	var rows []surveyRow
	if err := q.Offset(page.Offset()).Limit(page.PerPage + 1).Scan(&rows).Error; err != nil {
		return nil, false, fmt.Errorf("callback: list surveys: %w", err)
	}
	more := len(rows) > page.PerPage
	if more {
		rows = rows[:page.PerPage]
	}
	out := make([]View, 0, len(rows))
	for i := range rows {
		out = append(out, s.view(&rows[i], mask))
	}
	return out, more, nil
}

// EachSurvey hands every survey f asks for to fn, newest first, a batch at a time
// (keyed on the id, so that a download of many surveys reads in bounded steps).
func (s *Service) EachSurvey(ctx context.Context, f Filter, mask bool, fn func([]View) error) error {
	const batch = 1000
	var last uint64
	for {
		q, err := s.filtered(ctx, f)
		if err != nil {
			return err
		}
		if last > 0 {
			q = q.Where("s.id < ?", last)
		}
		var rows []surveyRow
		if err := q.Order("s.id DESC").Limit(batch).Scan(&rows).Error; err != nil {
			return fmt.Errorf("callback: read surveys: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		out := make([]View, len(rows))
		for i := range rows {
			out[i] = s.view(&rows[i], mask)
		}
		if err := fn(out); err != nil {
			return err
		}
		if len(rows) < batch {
			return nil
		}
		last = rows[len(rows)-1].ID
	}
}

// filtered is the surveys f asks for, unordered.
func (s *Service) filtered(ctx context.Context, f Filter) (*gorm.DB, error) {
	q := s.query(ctx)
	if f.Status != "" {
		q = q.Where("s.status = ?", f.Status)
	}
	if f.Result != "" {
		q = q.Where("s.result = ?", f.Result)
	}
	if len(f.Results) > 0 {
		q = q.Where("s.result IN ?", f.Results)
	}
	if f.Ticket != "" {
		q = q.Where("s.ticket_number = ?", f.Ticket)
	}
	if f.From != nil {
		q = q.Where("s.completed_at >= ?", f.From.UTC())
	}
	if f.To != nil {
		q = q.Where("s.completed_at < ?", f.To.UTC())
	}
	if f.Counted != nil {
		if *f.Counted {
			q = q.Where("s.status <> ?", StatusSkipped)
		} else {
			q = q.Where("s.status = ?", StatusSkipped)
		}
	}
	q, err := s.groupFilter(ctx, q, f)
	if err != nil {
		return nil, err
	}
	if f.Since != nil {
		if f.Status == StatusManual {
			q = q.Where("s.updated_at >= ?", f.Since.UTC())
		} else {
			q = q.Where("s.answered_at >= ?", f.Since.UTC())
		}
	}
	return q, nil
}

// Find returns one survey.
func (s *Service) Find(ctx context.Context, id uint64, mask bool) (View, error) {
	var rows []surveyRow
	if err := s.query(ctx).Where("s.id = ?", id).Limit(1).Scan(&rows).Error; err != nil {
		return View{}, fmt.Errorf("callback: find survey %d: %w", id, err)
	}
	if len(rows) == 0 {
		return View{}, api.Errorf(api.ErrNotFound, "survey_not_found", "no survey %d", id)
	}
	return s.view(&rows[0], mask), nil
}

// ManualAnswer is what an operator records from the manual callback list.
type ManualAnswer struct {
	Result Result `json:"result"`
	// Reason is why the citizen is dissatisfied (it goes into the reopened ticket's
	// timeline); Note is the operator's remark.
	Reason string `json:"reason"`
	Note   string `json:"note"`
}

// Record records an operator's answer for a survey not yet answered: an opinion, or
// unreachable or refused. A dissatisfied answer reopens the ticket at once.
func (s *Service) Record(ctx context.Context, p *auth.Principal, id uint64, in ManualAnswer) (View, error) {
	if !in.Result.Valid() {
		return View{}, api.Errorf(api.ErrInvalid, "invalid_result", "result %q is not one of %v", in.Result, Results)
	}
	reason, note := strings.TrimSpace(in.Reason), strings.TrimSpace(in.Note)
	if len([]rune(reason)) > MaxReasonRunes || len([]rune(note)) > MaxReasonRunes {
		return View{}, api.Errorf(api.ErrInvalid, "too_long", "reason and note are limited to %d characters each", MaxReasonRunes)
	}
	if reason != "" && in.Result != ResultDissatisfied {
		return View{}, api.Errorf(api.ErrInvalid, "reason_not_dissatisfied", "a reason is recorded only with result dissatisfied; use note")
	}
	var sv Survey
	if err := s.db.WithContext(ctx).First(&sv, id).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return View{}, api.Errorf(api.ErrNotFound, "survey_not_found", "no survey %d", id)
		}
		return View{}, fmt.Errorf("callback: find survey %d: %w", id, err)
	}
	switch sv.Status {
	case StatusSkipped:
		return View{}, api.Errorf(api.ErrConflict, "survey_skipped", "survey %d was not carried out (%s); nothing to record", id, sv.Note)
	case StatusDone:
		return View{}, api.Errorf(api.ErrConflict, "already_answered", "survey %d already has the result %s (by %s); the first answer stands", id, sv.Result, sv.Channel)
	}
	now := s.now()
	set := map[string]any{"answered_by": p.Actor(), "reason": reason}
	if note != "" {
		who := p.DisplayName // the remark is read by people: 话务员 王丽, not operator:wangli
		if who == "" {
			who = p.Name
		}
		set["remarks"] = joinRemark(sv.Remarks, fmt.Sprintf("%s %s：%s", now.In(s.opts.Location).Format("01-02 15:04"), who, note))
	}
	first, err := s.record(ctx, &sv, in.Result, ChannelManual, set, now)
	if err != nil {
		return View{}, err
	}
	if !first {
		return View{}, api.Errorf(api.ErrConflict, "already_answered", "survey %d was answered meanwhile; the first answer stands", id)
	}
	s.log.InfoContext(ctx, "callback: survey recorded by hand", "survey", id, "ticket", sv.TicketNumber, "result", in.Result, "by", p.Actor())
	if in.Result == ResultDissatisfied {
		if _, err := s.escalate(ctx, id); err != nil {
			s.log.WarnContext(ctx, "callback: reopening deferred", "survey", id, "err", err)
		}
	}
	return s.Find(ctx, id, false)
}
