// Package dashtest loads a city-sized data set into PostgreSQL, for measuring the
// dashboards and the consoles at the scale of a real city.
package dashtest

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Seed writes n tickets spread evenly over the two years ending at end, with texts of a
// citizen's complaint's length (titles, contents, addresses), one assignment and five to eight timeline events each, 1.5 inbound calls per ticket and a
// survey for most completions, then analyses the tables. The database must hold the
// tickets, ivr and callback schemas and the city's departments and categories; the data
// are written by the server itself (INSERT … SELECT over generate_series), the fastest
// batch load there is, so PostgreSQL only. logf reports each step's time, and the
// word indexes' sizes.
func Seed(ctx context.Context, db *sql.DB, n int, end time.Time, logf func(format string, args ...any)) error {
	span := 2 * 365 * 24 * time.Hour
	step := span / time.Duration(n)
	start := end.Add(-span)
	seed := []struct{ what, sql string }{
		{"tickets", `INSERT INTO tickets (number, channel, status, version, citizen_phone, title, content, category_id, urgency,
			district_id, lead_department_id, open, sign_due_at, due_at, overdue, overdue_at, registered_by, registered_at,
			dispatched_at, completed_at, answer, urge_count, reopen_count, created_at, updated_at, address)
			SELECT lpad(g::text, 12, '0'),
				(ARRAY['phone','phone','phone','phone','voicemail','mailbox','qq','web','sms','open311'])[1 + g % 10],
				CASE WHEN g % 97 = 0 THEN 'merged' WHEN g % 25 = 0 THEN 'handling' ELSE 'completed' END,
				1, '138' || lpad((g % 100000000)::text, 8, '0'), ` + titles + `, ` + contents + `, c.ids[1 + g % cardinality(c.ids)], 'normal',
				CASE WHEN g % 3 = 0 THEN NULL ELSE d.dist[1 + g % cardinality(d.dist)] END,
				d.ids[1 + g % cardinality(d.ids)],
				g % 25 = 0 AND g % 97 <> 0, x.at + interval '4 hours', x.at + interval '5 days',
				g % 50 = 0 AND g % 97 <> 0, CASE WHEN g % 50 = 0 THEN x.at + interval '5 days' END,
				'operator:bench', x.at, x.at + interval '5 minutes',
				CASE WHEN g % 25 = 0 OR g % 97 = 0 THEN NULL WHEN g % 13 = 0 THEN x.at + interval '6 days'
					ELSE x.at + (g % 72) * interval '1 hour' END,
				'答复', CASE WHEN g % 14 = 0 THEN 1 ELSE 0 END, 0, x.at, x.at, ` + addresses + `
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
	// A bulk load builds the word indexes once after it rather than entry by entry: drop
	// the tickets' GIN indexes and build them again when the tickets are in, reporting
	// each build's time (what migrating a database of that size to them costs).
	rows, err := db.QueryContext(ctx, `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'tickets' AND indexdef LIKE '% USING gin %'`)
	if err != nil {
		return fmt.Errorf("seed: list the word indexes: %w", err)
	}
	var words []struct{ name, def string }
	for rows.Next() {
		var ix struct{ name, def string }
		if err := rows.Scan(&ix.name, &ix.def); err != nil {
			rows.Close()
			return fmt.Errorf("seed: list the word indexes: %w", err)
		}
		words = append(words, ix)
	}
	rows.Close()
	for _, ix := range words {
		if _, err := db.ExecContext(ctx, `DROP INDEX `+ix.name); err != nil {
			return fmt.Errorf("seed: drop %s: %w", ix.name, err)
		}
	}
	for _, s := range seed {
		if s.what == "assignments" {
			for _, ix := range words {
				began := time.Now()
				if _, err := db.ExecContext(ctx, ix.def); err != nil {
					return fmt.Errorf("seed: build %s: %w", ix.name, err)
				}
				var size string
				if err := db.QueryRowContext(ctx, `SELECT pg_size_pretty(pg_relation_size($1::regclass))`, ix.name).Scan(&size); err != nil {
					return fmt.Errorf("seed: size of %s: %w", ix.name, err)
				}
				logf("built %s, %s, in %s", ix.name, size, time.Since(began).Round(time.Millisecond))
			}
		}
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

// The tickets' texts: a title, a content of seventy-odd characters and, for two tickets
// in three, an address, combined from lists of unequal lengths so that the tickets do
// not repeat in step, for the word indexes to be the size a city's would be. They hold
// none of the words the speed tests look for as rare or absent (暖气, 物业费, 供暖费,
// 东胜区, heating, 收取).
const (
	titles = `(ARRAY['反映小区噪音扰民问题','反映道路积水问题','咨询户口迁移办理','投诉出租车拒载','反映路灯不亮问题',
		'反映供水水压低','咨询社保缴费','投诉商户占道经营','反映垃圾清运不及时','建议增设公交站点','反映楼道堆放杂物',
		'咨询不动产登记','投诉餐馆油烟扰民','反映井盖缺失','反映停车难问题','咨询医保报销','投诉工地夜间施工',
		'反映小区电梯故障','咨询营业执照办理','反映农民工工资拖欠'])[1 + g % 20]`
	contents = `(ARRAY['市民来电反映，','来电人称，','群众反映：','市民通过网站留言，','来信人反映，','市民来电称，',
		'来电人反映：','群众来电，','市民QQ留言，','来电人说，','市民称，','群众网上反映，','市民来信，'])[1 + g % 13] ||
		(ARRAY['康巴什区青春山街道','伊金霍洛旗阿勒腾席热镇','达拉特旗树林召镇','准格尔旗薛家湾镇','鄂托克旗乌兰镇',
		'杭锦旗锡尼镇','乌审旗嘎鲁图镇','鄂托克前旗敖勒召其镇','康巴什区哈巴格希街道'])[1 + g % 9] ||
		(ARRAY['某小区','某路段','某商业街','某居民楼','某村','某学校附近','某市场'])[1 + g % 7] || (g % 300) || '号附近' ||
		(ARRAY['近期夜间经常有大声喧哗，严重影响休息，多次与对方沟通无果。','路面出现大面积坑洼，雨后积水严重，行人和车辆通行困难。',
		'想了解办理相关手续需要准备哪些材料、到哪个窗口办理、需要多长时间。','路灯已经连续多日不亮，晚上出行很不安全，老人孩子容易摔倒。',
		'自来水水压一直很低，高层住户基本用不上水，已经持续一周。','商户长期把货物摆放到人行道上，影响行人通行，也影响市容。',
		'垃圾桶已经满了好几天没有人清运，气味很大，招来很多蚊蝇。','在该公司务工半年，工资一直拖欠未发，多次讨要无果，生活困难。',
		'电梯经常出现故障停运，住户上下楼很不方便，存在安全隐患。','工地每天晚上十一点以后还在施工，噪声很大，附近居民无法入睡。',
		'井盖丢失已经很久了，存在严重安全隐患，希望尽快补装。','餐馆排放的油烟直接进入居民家中，窗户都不敢打开。',
		'小区内车位严重不足，车辆乱停乱放，消防通道也被占用。','医保报销的比例和流程不清楚，希望相关部门给予解答。',
		'公交车站距离太远，上下班很不方便，希望增设站点。','楼道里堆满了杂物，一旦发生火灾后果不堪设想。',
		'出租车司机以各种理由拒载，还存在不打表的情况。'])[1 + g % 17] ||
		(ARRAY['希望相关部门尽快处理。','请有关部门核实并解决。','希望能够给予答复。','请求政府帮助协调解决。',
		'希望尽快给个说法。','恳请有关部门重视。','望尽快处理并回复。'])[1 + g % 7]`
	addresses = `CASE WHEN g % 3 = 0 THEN NULL ELSE (ARRAY['康巴什区','伊金霍洛旗','达拉特旗','准格尔旗'])[1 + g % 4] ||
		'某街道' || (g % 500) || '号' END`
)
