package tickets

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/pii"
)

// phoneIs is the condition that finds the tickets of the citizen with the phone number
// tel (national format). With personal-data keys the number is sealed and found by its
// blind index under every index key; tickets written before the keys were configured,
// and not yet re-sealed (rexian keys rotate), still hold it in plain text.
func phoneIs(db *gorm.DB, tel string) clause.Expr {
	return pii.Is(db, "citizen_phone", "citizen_phone_idx", tel)
}

// seesPII reports whether p is shown citizens' phone numbers, names and e-mail addresses
// unmasked. Departments handle the matter, not the person: they call back through the
// desk, so they see them masked. Everyone else handling tickets sees them, and every such
// view is recorded (RecordView). A token sees them only with scope personal:read: a
// machine gets them when its purpose needs them, not because its role could. Without a
// principal the store is serving itself (a receipt, a notice), and the data goes to the
// citizen, not to a person at a console.
func seesPII(p *auth.Principal) bool {
	return p == nil || p.SeesPersonal()
}

// maskedToken reports whether p is a token shown personal data masked: it also gets the
// citizen's name masked, which a department (which may need to address the citizen in its
// reply) sees.
func maskedToken(p *auth.Principal) bool {
	return p != nil && p.TokenID != 0 && !seesPII(p)
}

// maskName keeps a name's first character: 王丽 → 王*, 欧阳娜娜 → 欧***.
func maskName(name string) string {
	r := []rune(name)
	if len(r) == 0 {
		return ""
	}
	return string(r[0]) + strings.Repeat("*", len(r)-1)
}

// checkPhoneSearch refuses a search by a citizen's phone number to a principal who is
// shown phone numbers masked and is not a department (which may look up its own
// tickets' citizens): finding whose tickets a number has is reading personal data.
func checkPhoneSearch(p *auth.Principal) error {
	if maskedToken(p) {
		return api.Errorf(api.ErrForbidden, "insufficient_scope",
			"searching by phone number needs scope %s; this token lacks it", auth.ScopePersonal)
	}
	return nil
}

// maxListed bounds how many ticket numbers one record names.
const maxListed = audit.MaxListed

// RecordView writes to the audit log that p was shown the unmasked personal data of the
// tickets numbered, and through what (via: "api", "console ticket page", "console search",
// …), so that who saw a citizen's number, when and for which ticket can be answered
// (PIPL). One ticket makes a record with target "ticket:N"; a list makes one record
// naming its tickets in the detail. A principal who sees masked data, or no tickets,
// records nothing.
//
// An error means the view was not recorded: callers then do not show the data.
func (s *Store) RecordView(ctx context.Context, p *auth.Principal, via string, numbers ...string) error {
	if p == nil || !seesPII(p) || len(numbers) == 0 {
		return nil
	}
	return s.opts.Audit.RecordViewed(ctx, "ticket", "tickets", via, numbers...)
}

// RecordListView is RecordView for a page of summaries that show phone numbers.
func (s *Store) RecordListView(ctx context.Context, p *auth.Principal, via string, items []Summary) error {
	var numbers []string
	for _, it := range items {
		if it.CitizenPhone != "" {
			numbers = append(numbers, it.Number)
		}
	}
	return s.RecordView(ctx, p, via, numbers...)
}

// RecordCallerView records that p was shown a caller's number in the screen-pop of call
// (target "call:N"), with the caller's earlier tickets listed there.
func (s *Store) RecordCallerView(ctx context.Context, p *auth.Principal, call string, earlier []Summary) error {
	if p == nil || !seesPII(p) {
		return nil
	}
	numbers := make([]string, 0, len(earlier))
	for _, t := range earlier {
		numbers = append(numbers, t.Number)
	}
	detail := "caller's number shown in the screen-pop"
	if len(numbers) > 0 {
		detail += " with their earlier tickets: " + strings.Join(numbers[:min(len(numbers), maxListed)], ", ")
	}
	if err := s.opts.Audit.Record(ctx, audit.Event{Action: audit.ActionPIIViewed, Actor: p.Actor(), Target: call, Detail: detail}); err != nil {
		return fmt.Errorf("record the screen-pop of %s: %w", call, err)
	}
	return nil
}

// ResealReport says what Reseal did.
type ResealReport struct {
	Resealed int // tickets whose personal data was sealed again with the current keys
	Changed  int // tickets changed by someone else meanwhile, left for the next pass
}

// Reseal seals the personal data of every ticket that is not sealed with the current
// keys (plain rows from before encryption, or rows sealed with an older key) with the
// current key, and computes its blind index with the current index key. It works in
// batches of batch tickets, each row its own short write, so the hotline keeps serving;
// a row written meanwhile is already sealed with the current key (every write seals)
// or is taken in the next pass. It is idempotent and resumable: it looks only for rows
// that still need it, so a second run finds nothing and a run stopped halfway (ctx
// cancelled, the process killed) goes on where it stopped. progress, if not nil, is
// told after every batch.
//
// Every instance must have the new key configured before Reseal runs, or the values it
// seals cannot be read there.
func Reseal(ctx context.Context, db *gorm.DB, batch int, progress func(ResealReport)) (ResealReport, error) {
	var rep ResealReport
	keys := pii.Keys(db)
	if !keys.Enabled() {
		return rep, errors.New("reseal: no personal-data keys are configured (personal_data.keys_file or REXIAN_PERSONAL_DATA_KEYS)")
	}
	if batch < 1 {
		batch = 500
	}
	seal, index := keys.Current()
	sealedNow, indexedNow := escapeLike(pii.Prefix+seal+":")+"%", escapeLike(index+":")+"%"
	stale := gorm.Expr(`((citizen_name <> '' AND citizen_name NOT LIKE ? ESCAPE '\')
		OR (citizen_phone <> '' AND citizen_phone NOT LIKE ? ESCAPE '\')
		OR (citizen_email <> '' AND citizen_email NOT LIKE ? ESCAPE '\')
		OR (citizen_phone <> '' AND citizen_phone_idx NOT LIKE ? ESCAPE '\'))`, sealedNow, sealedNow, sealedNow, indexedNow)
	// A few passes catch the rows that changed under the first; what is left after them
	// is reported, and the next run takes it.
	for pass := 0; pass < 3; pass++ {
		changed := 0
		var last uint64
		for {
			var ts []Ticket
			err := db.WithContext(ctx).Select("id", "version", "citizen_name", "citizen_phone", "citizen_email").
				Where("id > ?", last).Where(stale).Order("id").Limit(batch).Find(&ts).Error
			if err != nil {
				return rep, fmt.Errorf("reseal: read tickets after id %d: %w", last, err)
			}
			if len(ts) == 0 {
				break
			}
			for _, t := range ts {
				// UpdateColumns: re-sealing is not a change of the ticket, so its
				// version and updated_at stay as they are.
				res := db.WithContext(ctx).Model(&Ticket{}).Where("id = ? AND version = ?", t.ID, t.Version).
					UpdateColumns(map[string]any{"citizen_name": t.CitizenName, "citizen_phone": t.CitizenPhone, "citizen_email": t.CitizenEmail})
				if res.Error != nil {
					return rep, fmt.Errorf("reseal: ticket id %d: %w", t.ID, res.Error)
				}
				if res.RowsAffected == 0 {
					changed++
				} else {
					rep.Resealed++
				}
			}
			last = ts[len(ts)-1].ID
			if progress != nil {
				progress(rep)
			}
		}
		rep.Changed = changed
		if changed == 0 {
			break
		}
	}
	return rep, nil
}
