// Package dashtest loads a city-sized data set into PostgreSQL, for measuring the
// dashboards and the consoles at the scale of a real city.
package dashtest

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Seed writes n tickets spread evenly over the two years ending at end, with one
// assignment and five to eight timeline events each, 1.5 inbound calls per ticket and a
// survey for most completions, then analyses the tables. The database must hold the
// tickets, ivr and callback schemas and the city's departments and categories; the data
// are written by the server itself (INSERT … SELECT over generate_series), the fastest
// batch load there is, so PostgreSQL only. logf reports each step's time.
func Seed(ctx context.Context, db *sql.DB, n int, end time.Time, logf func(format string, args ...any)) error {
	span := 2 * 365 * 24 * time.Hour
	step := span / time.Duration(n)
	start := end.Add(-span)
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
			in_target, outcome, updated_at)
			SELECT 'n1', 'c' || g, '138' || lpad((g % 100000000)::text, 8, '0'), '12345', '12345', 'inbound',
				$2::timestamptz + (g * $3::bigint / 3 * 2) * interval '1 microsecond', (g::bigint * 7919) % 60000, (g::bigint * 7919) % 60000 + 3000,
				(g::bigint * 7919) % 60000 < 15000 AND g % 10 < 8,
				(ARRAY['answered','answered','answered','answered','answered','answered','answered','abandoned_queue','voicemail','status_lookup'])[1 + g % 10],
				LEAST($2::timestamptz + (g * $3::bigint / 3 * 2) * interval '1 microsecond' + interval '5 minutes', $4::timestamptz)
			FROM generate_series(1, $1::int * 3 / 2) g`},
		{"surveys", `INSERT INTO callback_surveys (ticket_id, ticket_number, completion_seq, completed_at, category_id,
			department_id, ticket_channel, district_id, phone, phone_kind, status, due_at, result, created_at, updated_at)
			SELECT id, number, 5, completed_at, category_id, lead_department_id, channel, district_id, citizen_phone, 'mobile',
				CASE WHEN id % 10 = 0 THEN 'skipped' ELSE 'done' END, completed_at + interval '1 day',
				(ARRAY['satisfied','satisfied','satisfied','fairly_satisfied','dissatisfied','unreachable'])[1 + id % 6],
				completed_at, LEAST(completed_at + interval '1 day', $1::timestamptz)
			FROM tickets WHERE completed_at IS NOT NULL AND id % 4 <> 0`},
		{"analyze", `VACUUM ANALYZE`},
	}
	for _, s := range seed {
		began := time.Now()
		var err error
		switch s.what {
		case "tickets":
			_, err = db.ExecContext(ctx, s.sql, n, start, step.Microseconds())
		case "calls":
			_, err = db.ExecContext(ctx, s.sql, n, start, step.Microseconds(), end)
		case "surveys":
			_, err = db.ExecContext(ctx, s.sql, end)
		default:
			_, err = db.ExecContext(ctx, s.sql)
		}
		if err != nil {
			return fmt.Errorf("seed %s: %w", s.what, err)
		}
		logf("seeded %s in %s", s.what, time.Since(began).Round(time.Millisecond))
	}
	return nil
}
