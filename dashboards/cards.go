package dashboards

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// Color is a card's colour.
type Color string

const (
	Yellow Color = "yellow" // 黄牌
	Red    Color = "red"    // 红牌
)

// Rule names why a card was issued.
type Rule string

const (
	// RuleOverdue: a yellow card to the lead department for each time a ticket goes
	// overdue (one per overdue timeline event).
	RuleOverdue Rule = "overdue"
	// RuleDoubleOverdue: a red card when an open ticket is late by more than its own
	// time limit again (now − due > due − dispatched), once per ticket.
	RuleDoubleOverdue Rule = "double_overdue"
	// RuleYellows: a red card for every RedAfterYellows yellow cards a department got in
	// one calendar month (in the city's zone).
	RuleYellows Rule = "yellows"
)

// CardRules say which cards are issued. DefaultCardRules is the usual set.
type CardRules struct {
	YellowOnOverdue    bool `json:"yellow_on_overdue"`
	RedOnDoubleOverdue bool `json:"red_on_double_overdue"`
	// RedAfterYellows is how many yellow cards in a month make a red one; 0 turns it off.
	RedAfterYellows int `json:"red_after_yellows"`
	// Lookback bounds how far back the worker looks for overdue events and months of
	// yellow cards; a worker stopped for longer than this misses older causes.
	Lookback time.Duration `json:"lookback"`
}

// DefaultCardRules: yellow for each overdue ticket, red for a ticket late by its limit
// again or for three yellows in a month, looking back 92 days.
func DefaultCardRules() CardRules {
	return CardRules{YellowOnOverdue: true, RedOnDoubleOverdue: true, RedAfterYellows: 3, Lookback: 92 * 24 * time.Hour}
}

// Card is a red or yellow card to a department. Cause is unique: it names the fact the
// card was issued for, so that a pass that runs twice, or on two instances at once,
// issues it once.
type Card struct {
	ID           uint64 `gorm:"primaryKey"`
	DepartmentID uint   `gorm:"not null;index:idx_dashboards_cards_dept_month,priority:1"`
	Color        Color  `gorm:"size:8;not null"`
	Rule         Rule   `gorm:"size:16;not null"`
	Cause        string `gorm:"size:96;not null;uniqueIndex"`
	// Month is the cause's month in the city's zone, "2026-11".
	Month        string  `gorm:"size:7;not null;index:idx_dashboards_cards_dept_month,priority:2"`
	EventID      *uint64 `gorm:"uniqueIndex"` // the overdue event of a yellow card
	TicketID     *uint64 `gorm:"index"`
	TicketNumber string  `gorm:"size:20"`
	Reason       string  `gorm:"type:text;not null"`
	CauseAt      time.Time
	IssuedAt     time.Time
	RevokedAt    *time.Time
	RevokedBy    string `gorm:"size:96"`
	RevokeNote   string `gorm:"type:text"`
	// The notice to the department (cardnotice.go): NotifiedAt is when its SMS was handed
	// to the outbox; NoticeSkippedAt and NoticeSkip say that none will be sent and why
	// (the department has no mobile number). A card with neither is still to notify.
	NotifiedAt      *time.Time
	NoticeMessageID *uint64
	NoticeSkippedAt *time.Time
	NoticeSkip      string `gorm:"size:255"`
	// AcknowledgedAt and AcknowledgedBy record the department's signing for the card (签收).
	AcknowledgedAt *time.Time
	AcknowledgedBy string `gorm:"size:96"`
}

// TableName keeps the package's tables together.
func (Card) TableName() string { return "dashboards_cards" }

// cardV1 is the frozen first schema of dashboards_cards.
type cardV1 struct {
	ID           uint64  `gorm:"primaryKey"`
	DepartmentID uint    `gorm:"not null;index:idx_dashboards_cards_dept_month,priority:1"`
	Color        string  `gorm:"size:8;not null"`
	Rule         string  `gorm:"size:16;not null"`
	Cause        string  `gorm:"size:96;not null;uniqueIndex:idx_dashboards_cards_cause"`
	Month        string  `gorm:"size:7;not null;index:idx_dashboards_cards_dept_month,priority:2"`
	EventID      *uint64 `gorm:"uniqueIndex:idx_dashboards_cards_event"`
	TicketID     *uint64 `gorm:"index:idx_dashboards_cards_ticket"`
	TicketNumber string  `gorm:"size:20"`
	Reason       string  `gorm:"type:text;not null"`
	CauseAt      time.Time
	IssuedAt     time.Time
	RevokedAt    *time.Time
	RevokedBy    string `gorm:"size:96"`
	RevokeNote   string `gorm:"type:text"`
}

func (cardV1) TableName() string { return "dashboards_cards" }

// The snapshot below is frozen as of migration 20261127_75; never edit it.

// cardNoticesV2 adds the notice to the department and its acknowledgement (签收) to
// dashboards_cards; every column is nullable, so existing rows need no default.
type cardNoticesV2 struct {
	NotifiedAt      *time.Time
	NoticeMessageID *uint64
	NoticeSkippedAt *time.Time
	NoticeSkip      string `gorm:"size:255"`
	AcknowledgedAt  *time.Time
	AcknowledgedBy  string `gorm:"size:96"`
}

func (cardNoticesV2) TableName() string { return "dashboards_cards" }

var cardNoticeColumnsV2 = []string{"NotifiedAt", "NoticeMessageID", "NoticeSkippedAt", "NoticeSkip", "AcknowledgedAt", "AcknowledgedBy"}

// migrateCardNotices adds the columns. The cards issued before it are marked as not to
// be notified: the first notice pass after an upgrade must not text every department
// for months of old cards. They still wait for the department's acknowledgement.
func migrateCardNotices(tx *gorm.DB) error {
	for _, f := range cardNoticeColumnsV2 {
		if err := tx.Migrator().AddColumn(&cardNoticesV2{}, f); err != nil {
			return fmt.Errorf("add dashboards_cards.%s: %w", f, err)
		}
	}
	return tx.Exec(`UPDATE dashboards_cards SET notice_skipped_at = issued_at, notice_skip = ? WHERE notified_at IS NULL`,
		"issued before card notices").Error
}

func rollbackCardNotices(tx *gorm.DB) error {
	for _, f := range cardNoticeColumnsV2 {
		if err := tx.Migrator().DropColumn(&cardNoticesV2{}, f); err != nil {
			return fmt.Errorf("drop dashboards_cards.%s: %w", f, err)
		}
	}
	return nil
}

func (s *Service) month(t time.Time) string { return t.In(s.opts.Location).Format("2006-01") }

// IssueCards derives the cards due from the timeline and the tickets, and returns how
// many it issued. It is safe to run at any time and on several instances at once.
func (s *Service) IssueCards(ctx context.Context) (int, error) {
	r := s.rules
	now := s.now()
	since := now.Add(-r.Lookback)
	issued := 0
	insert := func(c *Card) error {
		c.IssuedAt = now
		c.Month = s.month(c.CauseAt)
		res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(c)
		if res.Error != nil {
			return fmt.Errorf("dashboards: issue card %s: %w", c.Cause, res.Error)
		}
		if res.RowsAffected > 0 {
			issued++
			s.opts.Log.InfoContext(ctx, "card issued", "color", c.Color, "cause", c.Cause, "department", c.DepartmentID)
		}
		return nil
	}
	if r.YellowOnOverdue {
		var evs []struct {
			ID           uint64
			TicketID     uint64
			At           time.Time
			DepartmentID *uint
			Number       string
			Lead         *uint
		}
		err := s.db.WithContext(ctx).Raw(`SELECT e.id, e.ticket_id, e.at, e.department_id, t.number, t.lead_department_id AS lead
			FROM events e JOIN tickets t ON t.id = e.ticket_id
			WHERE e.action = ? AND e.at >= ?
			AND NOT EXISTS (SELECT 1 FROM dashboards_cards c WHERE c.event_id = e.id)
			ORDER BY e.id`, tickets.ActOverdue, since).Scan(&evs).Error
		if err != nil {
			return issued, fmt.Errorf("dashboards: find overdue events: %w", err)
		}
		for _, e := range evs {
			dept := e.DepartmentID
			if dept == nil {
				dept = e.Lead
			}
			if dept == nil {
				continue // late before anyone was dispatched: the desk's own delay, no card
			}
			id, tid := e.ID, e.TicketID
			err := insert(&Card{DepartmentID: *dept, Color: Yellow, Rule: RuleOverdue, Cause: fmt.Sprintf("overdue:%d", e.ID),
				EventID: &id, TicketID: &tid, TicketNumber: e.Number, CauseAt: e.At,
				Reason: fmt.Sprintf("工单 %s 超期未办结", e.Number)})
			if err != nil {
				return issued, err
			}
		}
	}
	if r.RedOnDoubleOverdue {
		var ts []struct {
			ID           uint64
			Number       string
			Lead         *uint
			DueAt        time.Time
			DispatchedAt time.Time
		}
		err := s.db.WithContext(ctx).Raw(`SELECT t.id, t.number, t.lead_department_id AS lead, t.due_at, t.dispatched_at
			FROM tickets t WHERE t.open = ? AND t.overdue = ? AND t.due_at < ? AND t.dispatched_at IS NOT NULL
			AND t.lead_department_id IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM dashboards_cards c WHERE c.ticket_id = t.id AND c.rule = ?)`,
			true, true, now, RuleDoubleOverdue).Scan(&ts).Error
		if err != nil {
			return issued, fmt.Errorf("dashboards: find late tickets: %w", err)
		}
		for _, t := range ts {
			limit := t.DueAt.Sub(t.DispatchedAt)
			if limit <= 0 || now.Sub(t.DueAt) <= limit {
				continue
			}
			id := t.ID
			err := insert(&Card{DepartmentID: *t.Lead, Color: Red, Rule: RuleDoubleOverdue,
				Cause: fmt.Sprintf("double_overdue:%d", t.ID), TicketID: &id, TicketNumber: t.Number,
				CauseAt: t.DueAt.Add(limit), Reason: fmt.Sprintf("工单 %s 超期时间超过其办理时限", t.Number)})
			if err != nil {
				return issued, err
			}
		}
	}
	if n := r.RedAfterYellows; n > 0 {
		var ms []struct {
			DepartmentID uint
			Month        string
			N            int
		}
		err := s.db.WithContext(ctx).Raw(`SELECT department_id, month, COUNT(*) AS n FROM dashboards_cards
			WHERE color = ? AND revoked_at IS NULL AND month >= ? GROUP BY department_id, month`,
			Yellow, s.month(since)).Scan(&ms).Error
		if err != nil {
			return issued, fmt.Errorf("dashboards: count yellow cards: %w", err)
		}
		for _, m := range ms {
			if m.N < n {
				continue
			}
			// The red card's moment is that of the yellow card that made it.
			var at []time.Time
			err := s.db.WithContext(ctx).Model(&Card{}).Where("color = ? AND revoked_at IS NULL AND department_id = ? AND month = ?",
				Yellow, m.DepartmentID, m.Month).Order("cause_at").Order("id").Pluck("cause_at", &at).Error
			if err != nil {
				return issued, fmt.Errorf("dashboards: yellow cards of %d in %s: %w", m.DepartmentID, m.Month, err)
			}
			for k := 1; k*n <= len(at); k++ {
				err := insert(&Card{DepartmentID: m.DepartmentID, Color: Red, Rule: RuleYellows,
					Cause: fmt.Sprintf("yellows:%d:%s:%d", m.DepartmentID, m.Month, k), CauseAt: at[k*n-1],
					Reason: fmt.Sprintf("%s 累计黄牌 %d 张", m.Month, k*n)})
				if err != nil {
					return issued, err
				}
			}
		}
	}
	return issued, nil
}

// CardView is a card as the API shows it.
type CardView struct {
	ID         uint64     `json:"id"`
	Department string     `json:"department"`
	Color      Color      `json:"color"`
	Rule       Rule       `json:"rule"`
	Reason     string     `json:"reason"`
	Ticket     string     `json:"ticket,omitempty"`
	Month      string     `json:"month"`
	CauseAt    time.Time  `json:"cause_at"`
	IssuedAt   time.Time  `json:"issued_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	RevokeNote string     `json:"revoke_note,omitempty"`
	// NotifiedAt is when the SMS to the department was queued; NoticeSkipped says why
	// none will be (no mobile number). Neither: the notice is still to come.
	NotifiedAt     *time.Time `json:"notified_at,omitempty"`
	NoticeSkipped  string     `json:"notice_skipped,omitempty"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
}

// DepartmentCards is one department's line on the board.
type DepartmentCards struct {
	Department string     `json:"department"`
	Name       string     `json:"name"`
	Yellow     int        `json:"yellow"`
	Red        int        `json:"red"`
	Cards      []CardView `json:"cards"`
}

// Board is the cards of a month per department, most red first.
type Board struct {
	Month       string            `json:"month"`
	Departments []DepartmentCards `json:"departments"`
}

// Board returns the month's cards ("" for the current month) that are not revoked. A
// department user sees its own department and its sub-units only.
func (s *Service) Board(ctx context.Context, who *auth.Principal, month string) (*Board, error) {
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, err
	}
	own, err := dir.visibleDepartment(who)
	if err != nil {
		return nil, err
	}
	if month == "" {
		month = s.month(s.now())
	} else if _, err := time.Parse("2006-01", month); err != nil {
		return nil, api.Errorf(api.ErrInvalid, "invalid_month", "month must look like 2026-11, not %q", month)
	}
	var cs []Card
	if err := s.db.WithContext(ctx).Where("month = ? AND revoked_at IS NULL", month).Order("cause_at, id").Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("dashboards: list cards: %w", err)
	}
	byDept := map[uint]*DepartmentCards{}
	b := &Board{Month: month, Departments: []DepartmentCards{}}
	for _, c := range cs {
		if own != nil && !dir.within(c.DepartmentID, own) {
			continue
		}
		d, ok := byDept[c.DepartmentID]
		if !ok {
			d = &DepartmentCards{}
			if x := dir.depts[c.DepartmentID]; x != nil {
				d.Department, d.Name = x.Code, x.Name
			}
			byDept[c.DepartmentID] = d
		}
		if c.Color == Red {
			d.Red++
		} else {
			d.Yellow++
		}
		d.Cards = append(d.Cards, s.cardView(dir, &c))
	}
	for _, d := range byDept {
		b.Departments = append(b.Departments, *d)
	}
	sort.Slice(b.Departments, func(i, j int) bool {
		x, y := b.Departments[i], b.Departments[j]
		if x.Red != y.Red {
			return x.Red > y.Red
		}
		if x.Yellow != y.Yellow {
			return x.Yellow > y.Yellow
		}
		return x.Department < y.Department
	})
	return b, nil
}

func (s *Service) cardView(dir *directory, c *Card) CardView {
	v := CardView{ID: c.ID, Color: c.Color, Rule: c.Rule, Reason: c.Reason, Ticket: c.TicketNumber, Month: c.Month,
		CauseAt: c.CauseAt.In(s.opts.Location), IssuedAt: c.IssuedAt.In(s.opts.Location), RevokeNote: c.RevokeNote}
	if c.RevokedAt != nil {
		r := c.RevokedAt.In(s.opts.Location)
		v.RevokedAt = &r
	}
	if c.NotifiedAt != nil {
		n := c.NotifiedAt.In(s.opts.Location)
		v.NotifiedAt = &n
	} else if c.NoticeSkippedAt != nil {
		v.NoticeSkipped = c.NoticeSkip
	}
	if c.AcknowledgedAt != nil {
		a := c.AcknowledgedAt.In(s.opts.Location)
		v.AcknowledgedAt, v.AcknowledgedBy = &a, c.AcknowledgedBy
	}
	if x := dir.depts[c.DepartmentID]; x != nil {
		v.Department = x.Code
	}
	return v
}

// RevokeCard withdraws a card issued in error (e.g. an overdue caused by a wrong
// dispatch); it leaves the board and stops counting towards a red card. A revoked card
// stays revoked: the worker never issues its cause again.
func (s *Service) RevokeCard(ctx context.Context, who *auth.Principal, id uint64, note string) (*CardView, error) {
	if !who.Is(auth.RoleSupervisor) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "only supervisors revoke cards")
	}
	note = strings.TrimSpace(note)
	if note == "" || len([]rune(note)) > 500 {
		return nil, api.Errorf(api.ErrInvalid, "invalid_note", "note is required (at most 500 characters): say why the card is revoked")
	}
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, err
	}
	var c Card
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.First(&c, id).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return api.Errorf(api.ErrNotFound, "card_not_found", "no card %d", id)
			}
			return fmt.Errorf("dashboards: load card %d: %w", id, err)
		}
		if c.RevokedAt != nil {
			return api.Errorf(api.ErrConflict, "already_revoked", "card %d is already revoked", id)
		}
		now := s.now()
		c.RevokedAt, c.RevokedBy, c.RevokeNote = &now, who.Actor(), note
		res := tx.Model(&Card{}).Where("id = ? AND revoked_at IS NULL", id).
			Updates(map[string]any{"revoked_at": now, "revoked_by": c.RevokedBy, "revoke_note": note})
		if res.Error != nil {
			return fmt.Errorf("dashboards: revoke card %d: %w", id, res.Error)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	v := s.cardView(dir, &c)
	return &v, nil
}
