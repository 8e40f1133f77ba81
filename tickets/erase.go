package tickets

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/phone"
)

// Erasure says which tickets lost their citizen's personal data.
type Erasure struct {
	Erased []string // numbers of the tickets whose personal data was erased
	// Open are the citizen's tickets still being handled, kept whole (EraseCitizen).
	Open []string
}

// erasedColumns are what identifies a citizen on a ticket: name, phone number (and its
// blind index and kind), e-mail address, and the address and coordinates, which may be
// their home. Everything the statistics use (category, district, township, channel,
// status, dates, departments, the timeline) stays.
var erasedColumns = map[string]any{
	"citizen_name": "", "citizen_phone": "", "citizen_phone_idx": "", "phone_kind": "",
	"citizen_email": "", "address": "", "latitude": nil, "longitude": nil,
}

// hasPersonalData is the condition of tickets that still hold some.
const hasPersonalData = "(citizen_name <> '' OR citizen_phone <> '' OR citizen_email <> '' OR address <> '')"

// eraseBatch is how many tickets one erasing write changes.
const eraseBatch = 500

// erase erases the personal data of the closed tickets that cond selects, in batches.
func (s *Store) erase(ctx context.Context, cond ...any) ([]string, error) {
	var erased []string
	for {
		var ts []Ticket
		q := s.db.WithContext(ctx).Select("id", "number").Where("open = ?", false).Where(hasPersonalData)
		if len(cond) > 0 {
			q = q.Where(cond[0], cond[1:]...)
		}
		if err := q.Order("id").Limit(eraseBatch).Find(&ts).Error; err != nil {
			return erased, fmt.Errorf("erase personal data: find tickets: %w", err)
		}
		if len(ts) == 0 {
			return erased, nil
		}
		ids := make([]uint64, 0, len(ts))
		for _, t := range ts {
			ids = append(ids, t.ID)
			erased = append(erased, t.Number)
		}
		cols := make(map[string]any, len(erasedColumns))
		for k, v := range erasedColumns {
			cols[k] = v
		}
		// UpdateColumns: the ticket's workflow did not change, so neither do its version
		// and updated_at (which retention reads as its closing time when it has no
		// completion time).
		if err := s.db.WithContext(ctx).Model(&Ticket{}).Where("id IN ?", ids).UpdateColumns(cols).Error; err != nil {
			return erased, fmt.Errorf("erase personal data of %d tickets: %w", len(ids), err)
		}
	}
}

// EraseCitizen serves a citizen's deletion request (PIPL art. 47): the personal data of
// every closed ticket of the phone number tel is erased, the tickets themselves (and so
// the statistics) kept. Tickets still being handled are kept whole and listed, since the
// citizen is to be told their result; erase again once they are closed. The erasure is
// written to the audit log as done by actor (the number masked), with reason.
func (s *Store) EraseCitizen(ctx context.Context, actor, tel, reason string) (Erasure, error) {
	var out Erasure
	n, err := phone.Parse(tel)
	if err != nil {
		return out, invalid("invalid_phone", "%q is not a valid phone number: %v", tel, err)
	}
	if strings.TrimSpace(reason) == "" {
		return out, invalid("reason_required", "say why the data is erased (e.g. the citizen's request of 2026-12-06)")
	}
	var open []Ticket
	if err := s.db.WithContext(ctx).Select("number").Where(phoneIs(s.db, n.National)).Where("open = ?", true).
		Order("id").Find(&open).Error; err != nil {
		return out, fmt.Errorf("erase personal data: find open tickets: %w", err)
	}
	for _, t := range open {
		out.Open = append(out.Open, t.Number)
	}
	out.Erased, err = s.erase(ctx, phoneIs(s.db, n.National))
	if rerr := s.recordErasure(ctx, actor, fmt.Sprintf("personal data of %s erased: %s", phone.Mask(n.National), reason), out); rerr != nil {
		return out, rerr
	}
	return out, err
}

// EraseClosedBefore erases the personal data of every ticket closed before cutoff (the
// retention policy), keeping the tickets for the statistics, and audits what it erased.
func (s *Store) EraseClosedBefore(ctx context.Context, cutoff time.Time) ([]string, error) {
	erased, err := s.erase(ctx, "COALESCE(completed_at, updated_at) < ?", cutoff.UTC())
	if len(erased) > 0 {
		detail := fmt.Sprintf("personal data of tickets closed before %s erased (retention)", cutoff.In(s.opts.Location).Format(time.DateOnly))
		if rerr := s.recordErasure(ctx, "system:retention", detail, Erasure{Erased: erased}); rerr != nil {
			return erased, rerr
		}
	}
	return erased, err
}

func (s *Store) recordErasure(ctx context.Context, actor, detail string, e Erasure) error {
	detail = fmt.Sprintf("%s; %d tickets", detail, len(e.Erased))
	if len(e.Erased) > 0 {
		detail += ": " + strings.Join(e.Erased[:min(len(e.Erased), maxListed)], ", ")
	}
	if len(e.Open) > 0 {
		detail += fmt.Sprintf("; %d still open, kept: %s", len(e.Open), strings.Join(e.Open[:min(len(e.Open), maxListed)], ", "))
	}
	if err := s.opts.Audit.Record(ctx, audit.Event{Action: audit.ActionPIIErased, Actor: actor, Target: "tickets", Detail: detail}); err != nil {
		return fmt.Errorf("record the erasure of personal data: %w", err)
	}
	return nil
}
