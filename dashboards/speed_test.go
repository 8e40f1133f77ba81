package dashboards

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/database/dbtest"
)

// TestSpeed measures every figure set, the rankings, the panel and a year's bulletin
// over a large city on PostgreSQL. It runs only when asked, as seeding takes minutes:
//
//	REXIAN_TEST_DB=postgres REXIAN_SPEED_TICKETS=1000000 go test -run TestSpeed -v -timeout 60m ./dashboards/
//
// The data are written by the server itself (INSERT … SELECT over generate_series), the
// fastest batch load there is: two years of tickets with one assignment and five to
// seven timeline events each, 1.5 inbound calls per ticket and a survey for most
// completions (in a callback_surveys table with the columns the figures read).
func TestSpeed(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("REXIAN_SPEED_TICKETS"))
	if n <= 0 || dbtest.Kind() != database.Postgres {
		t.Skip("set REXIAN_SPEED_TICKETS and REXIAN_TEST_DB=postgres to measure")
	}
	e := newEnv(t)
	// The fixture's context ends after five minutes; seeding and measuring take longer.
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	t.Cleanup(cancel)
	e.ctx = ctx
	// Two years of tickets ending at the clock's time, evenly spread.
	end := monday10.UTC()
	span := 2 * 365 * 24 * time.Hour
	step := span / time.Duration(n)
	start := end.Add(-span)
	e.clk.Set(end)
	seed := []struct{ what, sql string }{
		{"tickets", `INSERT INTO tickets (number, channel, status, version, citizen_phone, title, content, category_id, urgency,
			district_id, lead_department_id, open, sign_due_at, due_at, overdue, overdue_at, registered_by, registered_at,
			dispatched_at, completed_at, answer, urge_count, reopen_count, created_at, updated_at)
			SELECT lpad(g::text, 12, '0'),
				(ARRAY['phone','phone','phone','phone','voicemail','mailbox','qq','web','sms','open311'])[1 + g % 10],
				CASE WHEN g % 97 = 0 THEN 'merged' WHEN g % 25 = 0 THEN 'handling' ELSE 'completed' END,
				1, '138' || lpad((g % 100000000)::text, 8, '0'), '标题', '内容', c.ids[1 + g % cardinality(c.ids)], 'normal',
				CASE WHEN g % 3 = 0 THEN NULL ELSE d.dist[1 + g % cardinality(d.dist)] END,
				d.ids[1 + g % cardinality(d.ids)],
				g % 25 = 0 AND g % 97 <> 0, x.at + interval '4 hours', x.at + interval '5 days',
				g % 50 = 0 AND g % 97 <> 0, CASE WHEN g % 50 = 0 THEN x.at + interval '5 days' END,
				'operator:bench', x.at, x.at + interval '5 minutes',
				CASE WHEN g % 25 = 0 OR g % 97 = 0 THEN NULL WHEN g % 13 = 0 THEN x.at + interval '6 days'
					ELSE x.at + (g % 72) * interval '1 hour' END,
				'答复', CASE WHEN g % 14 = 0 THEN 1 ELSE 0 END, 0, x.at, x.at
			FROM generate_series(1, $1::int) g
			CROSS JOIN LATERAL (SELECT $2::timestamptz + (g * $3::bigint) * interval '1 microsecond' AS at) x
			CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM categories) c
			CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids, array_agg(id ORDER BY id) FILTER (WHERE level = 'district' AND government) AS dist FROM departments) d`},
		{"assignments", `INSERT INTO assignments (ticket_id, department_id, lead, status, dispatched_at, sign_due_at, due_at,
			signed_at, replied_at, return_reason, created_at, updated_at)
			SELECT id, lead_department_id, true, CASE WHEN open THEN 'signed' ELSE 'closed' END, dispatched_at, sign_due_at, due_at,
				dispatched_at + (id % 6) * interval '1 hour', CASE WHEN completed_at IS NOT NULL THEN completed_at - interval '1 hour' END,
				'', created_at, created_at
			FROM tickets`},
		{"events", `INSERT INTO events (ticket_id, seq, at, actor, action, from_status, to_status, department_id, note, data, prev_hash, hash)
			SELECT t.id, s.seq, t.created_at + s.seq * interval '1 minute',
				CASE WHEN s.seq = 1 THEN 'operator:web' ELSE 'operator:zhang' END,
				(ARRAY['register','dispatch','sign','reply','approve','approve_extension','return','overdue'])[s.seq],
				'', '', t.lead_department_id, '', '', '', ''
			FROM tickets t CROSS JOIN generate_series(1, 8) AS s(seq)
			WHERE s.seq <= 5 OR (s.seq = 6 AND t.id % 30 = 0) OR (s.seq = 7 AND t.id % 40 = 0) OR (s.seq = 8 AND t.id % 50 = 0)`},
		{"calls", `INSERT INTO ivr_calls (node, channel_id, caller, dialled, hotline, direction, arrived_at, wait_ms, connect_ms,
			in_target, outcome)
			SELECT 'n1', 'c' || g, '138' || lpad((g % 100000000)::text, 8, '0'), '12345', '12345', 'inbound',
				$2::timestamptz + (g * $3::bigint / 3 * 2) * interval '1 microsecond', (g::bigint * 7919) % 60000, (g::bigint * 7919) % 60000 + 3000,
				(g::bigint * 7919) % 60000 < 15000 AND g % 10 < 8,
				(ARRAY['answered','answered','answered','answered','answered','answered','answered','abandoned_queue','voicemail','status_lookup'])[1 + g % 10]
			FROM generate_series(1, $1::int * 3 / 2) g`},
		{"surveys", `CREATE TABLE IF NOT EXISTS callback_surveys (id bigserial PRIMARY KEY, ticket_id bigint NOT NULL,
			completed_at timestamptz NOT NULL, category_id bigint NOT NULL, department_id bigint, status varchar(16) NOT NULL,
			result varchar(20) NOT NULL DEFAULT '');
			CREATE INDEX IF NOT EXISTS idx_callback_surveys_completed_at ON callback_surveys (completed_at)`},
		{"survey rows", `INSERT INTO callback_surveys (ticket_id, completed_at, category_id, department_id, status, result)
			SELECT id, completed_at, category_id, lead_department_id, CASE WHEN id % 10 = 0 THEN 'skipped' ELSE 'done' END,
				(ARRAY['satisfied','satisfied','satisfied','fairly_satisfied','dissatisfied','unreachable'])[1 + id % 6]
			FROM tickets WHERE completed_at IS NOT NULL AND id % 4 <> 0`},
		{"analyze", `VACUUM ANALYZE`},
	}
	sqlDB, err := e.DB.DB()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range seed {
		began := time.Now()
		var err error
		switch s.what {
		case "tickets", "calls":
			_, err = sqlDB.ExecContext(e.ctx, s.sql, n, start, step.Microseconds())
		default:
			_, err = sqlDB.ExecContext(e.ctx, s.sql)
		}
		if err != nil {
			t.Fatalf("seed %s: %v", s.what, err)
		}
		t.Logf("seeded %s in %s", s.what, time.Since(began).Round(time.Millisecond))
	}
	var count int64
	e.DB.Table("tickets").Count(&count)
	t.Logf("%d tickets", count)
	// The roll-up worker's first pass, then a second, which finds only the last minute's days.
	for _, pass := range []string{"first", "idle"} {
		began := time.Now()
		days, err := e.svc.RollUp(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s roll-up pass: %d days in %s", pass, days, time.Since(began).Round(time.Millisecond))
	}

	const runs = 10
	measure := func(name string, f func() error) time.Duration {
		t.Helper()
		ds := make([]time.Duration, 0, runs)
		for range runs {
			began := time.Now()
			if err := f(); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			ds = append(ds, time.Since(began))
		}
		slices.Sort(ds)
		p95 := ds[(len(ds)*95+99)/100-1]
		t.Logf("%-28s p50 %7s  p95 %7s", name, ds[len(ds)/2].Round(100*time.Microsecond), p95.Round(100*time.Microsecond))
		return p95
	}
	worst := time.Duration(0)
	for _, kind := range []PeriodKind{PeriodToday, PeriodWeek, PeriodMonth, PeriodQuarter, PeriodYear} {
		p, err := PeriodOf(kind, e.clk.Now(), "", "", shanghai)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []Group{GroupNone, GroupDepartment, GroupCategory, GroupChannel, GroupDistrict} {
			d := measure(fmt.Sprintf("figures %s/%s", kind, g), func() error {
				_, err := e.svc.Figures(e.ctx, supervisor, p, g)
				return err
			})
			worst = max(worst, d)
		}
		worst = max(worst, measure(fmt.Sprintf("rates %s", kind), func() error {
			_, err := e.svc.Ranking(e.ctx, supervisor, p)
			return err
		}))
		worst = max(worst, measure(fmt.Sprintf("standard %s", kind), func() error {
			_, err := e.svc.Standard(e.ctx, supervisor, p)
			return err
		}))
	}
	t.Logf("worst p95 of a figure set: %s", worst)
	if worst > 200*time.Millisecond {
		t.Errorf("a figure set took %s at p95; the target is 200 ms", worst)
	}
	began := time.Now()
	b, err := e.svc.Bulletin(e.ctx, supervisor, BulletinAnnual, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	var sink discard
	if err := WriteBulletinXLSX(&sink, b); err != nil {
		t.Fatal(err)
	}
	took := time.Since(began)
	t.Logf("annual bulletin with its workbook: %s (%d accepted)", took.Round(time.Millisecond), b.Figures.Total.Accepted)
	if took > 5*time.Second {
		t.Errorf("the annual bulletin took %s; the target is 5 s", took)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
