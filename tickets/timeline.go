package tickets

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/hashchain"
)

// eventFields are what an event's link covers: its content and the link of the event
// before it. Changing, inserting or removing any event breaks every link after it, which
// is what electronic supervision (电子监察) asks of the record. Links are made with the
// configured algorithm (Options.ChainHash) and each names its own (package hashchain),
// so a timeline begun with SHA-256 goes on with SM3 and still verifies.
//
// The chain is keyed by the ticket's number rather than its row id, so that a ticket's
// first events can be hashed before the ticket row exists (one write instead of two).
func eventFields(number string, e *Event) []string {
	dept := ""
	if e.DepartmentID != nil {
		dept = strconv.FormatUint(uint64(*e.DepartmentID), 10)
	}
	return []string{
		number, strconv.Itoa(e.Seq), e.At.UTC().Format(time.RFC3339Nano),
		e.Actor, string(e.Action), string(e.FromStatus), string(e.ToStatus), dept, e.Note, e.Data, e.PrevHash,
	}
}

// link sets e's link, with the configured algorithm.
func (s *Store) link(number string, e *Event) {
	e.Hash = s.opts.ChainHash.Link(eventFields(number, e)...)
}

// newEvent makes the next event of t's timeline and advances t's head. The caller saves
// both in one transaction; the ticket's version check makes concurrent appends conflict.
func (s *Store) newEvent(t *Ticket, at time.Time, actor string, action Action, from Status, note string, data map[string]any) *Event {
	e := &Event{
		TicketID:   t.ID,
		Seq:        t.EventSeq + 1,
		At:         at.UTC().Truncate(time.Microsecond), // what every database keeps exactly
		Actor:      actor,
		Action:     action,
		FromStatus: from,
		ToStatus:   t.Status,
		Note:       note,
		PrevHash:   t.EventHash,
	}
	if len(data) > 0 {
		b, err := json.Marshal(data)
		if err == nil {
			e.Data = string(b)
		}
	}
	s.link(t.Number, e)
	t.EventSeq, t.EventHash = e.Seq, e.Hash
	return e
}

// AuditReport is the result of checking every ticket's timeline.
type AuditReport struct {
	Tickets int
	Events  int
	// Links counts the events linked with each algorithm.
	Links hashchain.Tally
	// Broken names the first event that fails, or is empty.
	Broken string
}

// OK reports whether every chain verified.
func (r AuditReport) OK() bool { return r.Broken == "" }

// VerifyAudit walks every ticket's timeline in order and checks each event's hash, the
// link to the previous one, the sequence numbers and the ticket's recorded head. It stops
// at the first broken event and names it.
func VerifyAudit(ctx context.Context, db *gorm.DB) (AuditReport, error) {
	var rep AuditReport
	const batch = 500
	var lastID uint64
	for {
		var ts []Ticket
		err := db.WithContext(ctx).Select("id", "number", "event_seq", "event_hash").
			Where("id > ?", lastID).Order("id").Limit(batch).Find(&ts).Error
		if err != nil {
			return rep, fmt.Errorf("audit: list tickets: %w", err)
		}
		if len(ts) == 0 {
			return rep, nil
		}
		for i := range ts {
			t := &ts[i]
			var evs []Event
			if err := db.WithContext(ctx).Where("ticket_id = ?", t.ID).Order("seq").Find(&evs).Error; err != nil {
				return rep, fmt.Errorf("audit: events of ticket %s: %w", t.Number, err)
			}
			rep.Tickets++
			prev := ""
			for j := range evs {
				e := &evs[j]
				rep.Events++
				var problem string
				switch {
				case e.Seq != j+1:
					problem = fmt.Sprintf("sequence %d where %d was expected (an event is missing)", e.Seq, j+1)
				case e.PrevHash != prev:
					problem = "its link to the previous event does not match"
				case !hashchain.Check(e.Hash, eventFields(t.Number, e)...):
					problem = "its content does not match its hash (it was changed)"
				}
				if problem != "" {
					rep.Broken = fmt.Sprintf("ticket %s event %d (id %d, %s at %s): %s",
						t.Number, e.Seq, e.ID, e.Action, e.At.Format(time.RFC3339), problem)
					return rep, nil
				}
				rep.Links.Add(e.Hash)
				prev = e.Hash
			}
			if t.EventSeq != len(evs) || t.EventHash != prev {
				rep.Broken = fmt.Sprintf("ticket %s: its timeline ends at event %d but the ticket records %d (events were removed)",
					t.Number, len(evs), t.EventSeq)
				return rep, nil
			}
		}
		lastID = ts[len(ts)-1].ID
	}
}

// String renders the report as the CLI prints it.
func (r AuditReport) String() string {
	var b strings.Builder
	if r.OK() {
		fmt.Fprintf(&b, "ok: %d tickets, %d events%s", r.Tickets, r.Events, r.Links)
	} else {
		fmt.Fprintf(&b, "broken: %s", r.Broken)
	}
	return b.String()
}
