package tickets

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/pii"
)

// withAudit gives f's store an audit log, as the application's has.
func withAudit(t *testing.T, f *fixture) {
	t.Helper()
	if err := database.Migrate(f.ctx, f.store.db, audit.Migrations()); err != nil {
		t.Fatal(err)
	}
	f.store.opts.Audit = audit.New(f.store.db, audit.Options{Now: f.clock.Now, ActorOf: func(context.Context) string { return "system" }})
}

func auditDetails(t *testing.T, f *fixture, action string) []string {
	t.Helper()
	var rows []struct{ Actor, Detail string }
	if err := f.store.db.WithContext(f.ctx).Raw(`SELECT actor, detail FROM audit_records WHERE action = ? ORDER BY seq`, action).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, r.Actor+" "+r.Detail)
	}
	return out
}

func TestErasePersonalData(t *testing.T) {
	for _, keys := range []string{"", testKeys} {
		name := "plain"
		if keys != "" {
			name = "sealed"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			if keys != "" {
				if err := pii.Install(f.store.db, mustKeys(t, keys)); err != nil {
					t.Fatal(err)
				}
			}
			withAudit(t, f)
			in := heating()
			in.Citizen.Email = "li@example.cn"
			closed := f.act(t, operator, f.create(t, in).Number, ActRefuse, ActionRequest{Reason: "litigation"})
			open := f.create(t, in)
			other := heating()
			other.Citizen = NewCitizen{Name: "赵先生", Phone: "13900001111"}
			otherClosed := f.act(t, operator, f.create(t, other).Number, ActRefuse, ActionRequest{Reason: "litigation"})

			e, err := f.store.EraseCitizen(f.ctx, "admin:zhao", "138-1234-5678", "市民2026年11月23日来电要求删除")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(e.Erased, ",") != closed.Number || strings.Join(e.Open, ",") != open.Number {
				t.Fatalf("erasure = %+v, want %s erased and %s kept open", e, closed.Number, open.Number)
			}
			name, tel, idx, email := rawCitizen(t, f, closed.Number)
			if name+tel+idx+email != "" {
				t.Errorf("the erased ticket still holds %q %q %q %q", name, tel, idx, email)
			}
			v, err := f.store.Find(f.ctx, operator, closed.Number)
			if err != nil {
				t.Fatal(err)
			}
			if v.Citizen.Phone != "" || v.Citizen.Name != "" || v.Location.Address != "" || v.Category.Code != "TS-GN" || v.Status != StatusRefused {
				t.Errorf("erased ticket = citizen %+v, address %q, category %s, status %s; want no personal data, the rest kept",
					v.Citizen, v.Location.Address, v.Category.Code, v.Status)
			}
			if got := f.listed(t, operator, Filter{Phone: "13812345678"}, api.Page{Page: 1, PerPage: 20}); strings.Join(got, ",") != open.Number {
				t.Errorf("search by the phone after erasure = %v, want only the open ticket %s", got, open.Number)
			}
			if v, err := f.store.Find(f.ctx, operator, otherClosed.Number); err != nil || v.Citizen.Phone != "13900001111" {
				t.Errorf("another citizen's ticket lost its data: %+v, %v", v.Citizen, err)
			}
			recs := auditDetails(t, f, audit.ActionPIIErased)
			if len(recs) != 1 || !strings.HasPrefix(recs[0], "admin:zhao ") || !strings.Contains(recs[0], closed.Number) ||
				!strings.Contains(recs[0], "市民2026年11月23日来电要求删除") || strings.Contains(recs[0], "13812345678") {
				t.Errorf("audit of the request = %q, want one record by admin:zhao naming the ticket and reason, not the number", recs)
			}
			if _, err := f.store.EraseCitizen(f.ctx, "admin:zhao", "13812345678", " "); err == nil {
				t.Error("an erasure without a reason was accepted")
			}

			// Retention: three years on, tickets closed more than two years ago lose their
			// personal data; the open one keeps it.
			f.clock.Add(3 * 365 * 24 * time.Hour)
			erased, err := f.store.EraseClosedBefore(f.ctx, f.clock.Now().AddDate(-2, 0, 0))
			if err != nil || strings.Join(erased, ",") != otherClosed.Number {
				t.Fatalf("retention erased %v, %v; want only %s", erased, err, otherClosed.Number)
			}
			if v, err := f.store.Find(f.ctx, operator, open.Number); err != nil || v.Citizen.Phone != "13812345678" {
				t.Errorf("the open ticket lost its data: %+v, %v", v.Citizen, err)
			}
			if erased, err := f.store.EraseClosedBefore(f.ctx, f.clock.Now().AddDate(-2, 0, 0)); err != nil || len(erased) != 0 {
				t.Errorf("second retention pass erased %v, %v", erased, err)
			}
			if recs := auditDetails(t, f, audit.ActionPIIErased); len(recs) != 2 || !strings.HasPrefix(recs[1], "system:retention ") {
				t.Errorf("audit records = %q, want the retention's second", recs)
			}
			// The timelines are untouched.
			if rep, err := VerifyAudit(f.ctx, f.store.db); err != nil || !rep.OK() {
				t.Errorf("timelines after erasure: %v, %v", rep, err)
			}
		})
	}
}
