package callback

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/rexian/rexian/tickets"
)

// The scheduler reads the tickets' timeline behind a cursor, as the SMS outbox does for
// its ticket messages. Event ids are handed out before their transactions commit, so a
// later-committing event can have a lower id than one already read: the cursor never
// passes an event younger than its lag, and those are read again on the next pass (the
// unique completion key makes that harmless).

const scheduleBatch = 2000

// completions is the scheduler's cursor; the first pass looks back a day, so that turning
// surveys on does not survey every ticket ever completed.
var completions = tickets.EventCursor{Table: "callback_cursors", Name: "ticket_completions", Lookback: 24 * time.Hour, Lag: 30 * time.Second}

type completion struct {
	ID       uint64
	TicketID uint64
	Seq      int
	At       time.Time
}

type ticketRow struct {
	ID           uint64
	Number       string
	CitizenPhone string
	PhoneKind    tickets.PhoneKind
	Anonymous    bool
	WantsReply   bool
	CategoryID   uint
	Channel      tickets.Channel
	DistrictID   *uint
}

// ScheduleOnce turns the completions since the cursor into surveys and returns how many
// completion events it read.
func (s *Service) ScheduleOnce(ctx context.Context) (int, error) {
	now := s.now()
	cur, err := completions.Load(ctx, s.db, now)
	if err != nil {
		return 0, fmt.Errorf("callback: schedule: %w", err)
	}
	cats, err := s.categoryCodes(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for {
		var evs []completion
		err := s.db.WithContext(ctx).Model(&tickets.Event{}).Select("id, ticket_id, seq, at").
			Where("id > ? AND action IN ? AND to_status = ?", cur, []tickets.Action{tickets.ActApprove, tickets.ActAnswer}, tickets.StatusCompleted).
			Order("id").Limit(scheduleBatch).Scan(&evs).Error
		if err != nil {
			return total, fmt.Errorf("callback: schedule: read completions: %w", err)
		}
		if len(evs) == 0 {
			return total, nil
		}
		total += len(evs)
		if err := s.schedule(ctx, evs, cats, now); err != nil {
			return total, err
		}
		next, err := completions.Advance(ctx, s.db, cur, now, len(evs), func(i int) (uint64, time.Time) { return evs[i].ID, evs[i].At })
		if err != nil {
			return total, fmt.Errorf("callback: schedule: %w", err)
		}
		if len(evs) < scheduleBatch || next == cur {
			return total, nil
		}
		cur = next
	}
}

func (s *Service) categoryCodes(ctx context.Context) (map[uint]string, error) {
	var cs []tickets.Category
	if err := s.db.WithContext(ctx).Select("id, code").Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("callback: read categories: %w", err)
	}
	out := make(map[uint]string, len(cs))
	for _, c := range cs {
		out[c.ID] = c.Code
	}
	return out, nil
}

// schedule decides each completion's survey and inserts them all at once; a completion
// already decided (by an earlier pass or another instance) is left as it is.
func (s *Service) schedule(ctx context.Context, evs []completion, cats map[uint]string, now time.Time) error {
	ids := make([]uint64, 0, len(evs))
	for _, e := range evs {
		ids = append(ids, e.TicketID)
	}
	var ts []ticketRow
	if err := s.db.WithContext(ctx).Model(&tickets.Ticket{}).
		Select("id, number, citizen_phone, phone_kind, anonymous, wants_reply, category_id, channel, district_id").
		Where("id IN ?", ids).Scan(&ts).Error; err != nil {
		return fmt.Errorf("callback: schedule: read tickets: %w", err)
	}
	byID := make(map[uint64]*ticketRow, len(ts))
	for i := range ts {
		byID[ts[i].ID] = &ts[i]
	}
	// The lead department answerable for the result: the latest lead assignment (the
	// ticket's own lead is cleared when it is reopened).
	var leads []struct {
		TicketID     uint64
		DepartmentID uint
	}
	if err := s.db.WithContext(ctx).Model(&tickets.Assignment{}).Select("ticket_id, department_id").
		Where("ticket_id IN ? AND lead = ?", ids, true).Order("id").Scan(&leads).Error; err != nil {
		return fmt.Errorf("callback: schedule: read lead departments: %w", err)
	}
	lead := make(map[uint64]uint, len(leads))
	for _, l := range leads {
		lead[l.TicketID] = l.DepartmentID
	}
	rows := make([]Survey, 0, len(evs))
	for _, e := range evs {
		t := byID[e.TicketID]
		if t == nil {
			continue
		}
		sv := Survey{TicketID: t.ID, TicketNumber: t.Number, CompletionSeq: e.Seq, CompletedAt: e.At.UTC(),
			CategoryID: t.CategoryID, TicketChannel: string(t.Channel), DistrictID: t.DistrictID,
			Phone: t.CitizenPhone, PhoneKind: string(t.PhoneKind), Status: StatusPending,
			DueAt: s.pol.next(e.At.Add(s.pol.delay)), CreatedAt: now, UpdatedAt: now}
		if d, ok := lead[t.ID]; ok {
			sv.DepartmentID = &d
		}
		switch {
		case t.Anonymous:
			sv.Status, sv.Note = StatusSkipped, SkipAnonymous
		case !t.WantsReply:
			sv.Status, sv.Note = StatusSkipped, SkipNoReply
		case t.CitizenPhone == "" || (t.PhoneKind != tickets.PhoneMobile && t.PhoneKind != tickets.PhoneLandline):
			sv.Status, sv.Note = StatusSkipped, SkipNoPhone
		case !sampled(t.Number, e.Seq, s.pol.rate(cats[t.CategoryID])):
			sv.Status, sv.Note = StatusSkipped, SkipNotSampled
		}
		if sv.Status == StatusSkipped {
			sv.DueAt = sv.CompletedAt
		}
		rows = append(rows, sv)
	}
	if len(rows) == 0 {
		return nil
	}
	// Small multi-row inserts: the pure-Go SQLite driver binds parameters in time
	// quadratic in their number.
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "ticket_id"}, {Name: "completion_seq"}}, DoNothing: true,
	}).CreateInBatches(&rows, 50).Error
	if err != nil {
		return fmt.Errorf("callback: schedule: insert %d surveys: %w", len(rows), err)
	}
	return nil
}
