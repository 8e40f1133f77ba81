package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm/logger"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/dashboards/dashtest"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/tickets"
)

// speedTarget is a console page's server time at p95 that staff accept as instant.
const speedTarget = 100 * time.Millisecond

// TestSpeed measures the server time of every console page staff open in daily work over
// a large city on PostgreSQL. It runs only when asked, as seeding takes minutes:
//
//	REXIAN_TEST_DB=postgres REXIAN_SPEED_TICKETS=1000000 go test -run TestSpeed -v -timeout 100m ./web/
//
// The data are those of dashtest.Seed: two years of tickets with their assignments,
// timelines, calls and surveys. Each page is asked for through the real handler with a
// session of the role that opens it, not through the network, and must answer 200 with
// something of the seeded data on it, so that a fast error page cannot pass. A page over
// the target at p95 fails the test, with the SQL it spent its time in and the slowest
// statement's plan.
func TestSpeed(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("REXIAN_SPEED_TICKETS"))
	if n <= 0 || dbtest.Kind() != database.Postgres {
		t.Skip("set REXIAN_SPEED_TICKETS and REXIAN_TEST_DB=postgres to measure")
	}
	f := newFixture(t)
	// The fixture's context ends after five minutes; seeding and measuring a million take longer (much longer on a loaded machine).
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Minute)
	t.Cleanup(cancel)
	// As in production: the desk page reads the operator's last call, and the supervisor
	// page links to the dashboards.
	f.h.opts.IVR.DB = f.env.DB
	prompts, err := ivr.NewPrompts(f.env.DB, config.DefaultIVR().Prompts, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.h.opts.IVR.Prompts = prompts // the settings page lists them
	f.h.opts.Dashboards = true
	if u, err := url.Parse(f.env.URL); err == nil {
		schema := u.Query().Get("search_path")
		t.Logf("database %s, schema %s", strings.TrimPrefix(u.Path, "/"), schema)
		// REXIAN_SPEED_KEEP_SCHEMA=name keeps the seeded data under that name for EXPLAIN
		// in psql (drop it by hand): the schema is renamed before the fixture drops it.
		if keep := os.Getenv("REXIAN_SPEED_KEEP_SCHEMA"); keep != "" {
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := f.env.DB.WithContext(ctx).Exec("ALTER SCHEMA " + schema + " RENAME TO " + keep).Error; err != nil {
					t.Errorf("keep the schema as %s: %v", keep, err)
				}
			})
		}
	}
	sqlDB, err := f.env.DB.DB()
	if err != nil {
		t.Fatal(err)
	}
	if err := dashtest.Seed(ctx, sqlDB, n, f.clock.Now(), t.Logf); err != nil {
		t.Fatal(err)
	}
	db := f.env.DB.WithContext(ctx)
	dailyWork(t, ctx, f)
	var count int64
	if err := db.Table("tickets").Count(&count).Error; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tickets", count)
	// The dashboards' roll-up worker has made its passes, as in service.
	began := time.Now()
	days, err := f.h.opts.Cards.RollUp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("roll-up pass: %d days in %s", days, time.Since(began).Round(time.Millisecond))

	// The seed spreads the tickets evenly over the departments; a department sees its
	// sub-units' too, so the busiest is the one with the largest subtree and the typical
	// one is the median.
	busy, typical := departmentsBySize(t, f, ctx)
	for _, u := range []auth.NewUser{
		{Username: "busy", Role: auth.RoleDepartment, DepartmentCode: busy.code, Password: password},
		{Username: "typical", Role: auth.RoleDepartment, DepartmentCode: typical.code, Password: password},
		{Username: "adm", Role: auth.RoleAdmin, Password: password},
	} {
		if _, err := f.h.opts.Auth.CreateUser(ctx, u); err != nil {
			t.Fatalf("create user %s: %v", u.Username, err)
		}
	}
	t.Logf("busiest department %s (%d tickets), typical %s (%d tickets)", busy.code, busy.tickets, typical.code, typical.tickets)

	// What the pages must show, read straight from the tables.
	one := func(q string, args ...any) string {
		t.Helper()
		var s string
		if err := db.Raw(q, args...).Row().Scan(&s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return s
	}
	newest := one(`SELECT number FROM tickets ORDER BY created_at DESC, id DESC LIMIT 1`)
	newestWith := func(where string) string {
		t.Helper()
		return one(`SELECT number FROM tickets WHERE ` + where + ` ORDER BY created_at DESC, id DESC LIMIT 1`)
	}
	// holds is the condition that a ticket's title, content or address holds word.
	holds := func(word string) string {
		return `(title LIKE '%` + word + `%' OR content LIKE '%` + word + `%' OR address LIKE '%` + word + `%')`
	}
	newestHandling := one(`SELECT number FROM tickets WHERE status = 'handling' ORDER BY created_at DESC, id DESC LIMIT 1`)
	newestCompleted := one(`SELECT number FROM tickets WHERE status = 'completed' ORDER BY created_at DESC, id DESC LIMIT 1`)
	// A ticket's page takes only numbers with a right check digit; a tenth of the
	// seed's serials have one.
	valid := func(where string, args ...any) (number, phone string) {
		t.Helper()
		rows, err := db.Raw(`SELECT number, citizen_phone FROM tickets WHERE `+where+` ORDER BY id DESC LIMIT 500`, args...).Rows()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := rows.Scan(&number, &phone); err != nil {
				t.Fatal(err)
			}
			if tickets.CheckNumber(number) {
				return number, phone
			}
		}
		t.Fatalf("no seeded ticket with a valid number where %s", where)
		return "", ""
	}
	openTicket, openPhone := valid(`open`)
	closedTicket, _ := valid(`status = 'completed'`)
	inScope := func(d dept) string {
		return `EXISTS (SELECT 1 FROM assignments a WHERE a.ticket_id = tickets.id AND a.department_id IN (` + d.ids + `))`
	}

	type page struct {
		name, user, path string
		says             []string
	}
	// monthQuery is this month's bounds under the names from and to, and pairs kv.
	monthQuery := func(from, to string, kv ...string) string {
		now := f.clock.Now().In(f.h.opts.Location)
		start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, f.h.opts.Location)
		q := url.Values{from: {start.Format(time.RFC3339)}, to: {start.AddDate(0, 1, 0).Format(time.RFC3339)}}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q.Encode()
	}
	pages := []page{
		{"desk home", "op", "/console/desk", []string{`id="queue"`}},
		{"registration form", "op", "/console/tickets/new", []string{"<h1>登记工单</h1>", `value="TS-GN"`}},
		{"central inbox", "op", "/console/inbox", []string{"<h1>中心待办</h1>", `id="replied"`}},
		{"callbacks list", "op", "/console/callbacks", []string{"<h1>人工回访", `id="survey-`, "自动外呼多次无人接听"}},
		{"knowledge base", "op", "/console/knowledge", []string{"知识库 · 办事指南", "户口迁移"}},
		{"knowledge search", "op", "/console/knowledge?q=" + url.QueryEscape("户口"), []string{"户口迁移"}},
		{"ticket page, open", "op", "/console/tickets/" + openTicket, []string{`<span id="number">` + openTicket + `</span>`}},
		{"ticket page, completed", "op", "/console/tickets/" + closedTicket, []string{`<span id="number">` + closedTicket + `</span>`}},
		{"ticket list", "op", "/console/tickets", []string{"<h1>工单查询</h1>", ">" + newest + "</a>"}},
		{"ticket list, page 2", "op", "/console/tickets?page=2", []string{"<h1>工单查询</h1>", "下一页"}},
		{"ticket list, handling", "op", "/console/tickets?status=handling", []string{">" + newestHandling + "</a>"}},
		{"ticket list, completed", "op", "/console/tickets?status=completed", []string{">" + newestCompleted + "</a>"}},
		{"ticket search, number", "op", "/console/tickets?q=" + openTicket, []string{">" + openTicket + "</a>"}},
		{"ticket search, phone", "op", "/console/tickets?q=" + openPhone, []string{">" + openTicket + "</a>"}},
		{"ticket search, absent short word", "op", "/console/tickets?q=" + url.QueryEscape("暖气"), []string{"<h1>工单查询</h1>", "没有工单"}},
		{"ticket search, common word", "op", "/console/tickets?q=" + url.QueryEscape("东胜区"), []string{">" + newestWith("address LIKE '%东胜区%'") + "</a>"}},
		{"ticket search, rare word", "op", "/console/tickets?q=" + url.QueryEscape("供暖费"), []string{">" + newestWith("title LIKE '%供暖费%'") + "</a>"}},
		{"ticket search, English word", "op", "/console/tickets?q=heating", []string{">" + newestWith("content LIKE '%heating%'") + "</a>"}},
		{"ticket search, absent word", "op", "/console/tickets?q=" + url.QueryEscape("物业费"), []string{"<h1>工单查询</h1>", "没有工单"}},
		{"ticket search, short word", "op", "/console/tickets?q=" + url.QueryEscape("反映"), []string{">" + newestWith(holds("反映")) + "</a>"}},
		{"ticket search, rare short word", "op", "/console/tickets?q=" + url.QueryEscape("收取"), []string{">" + newestWith(holds("收取")) + "</a>"}},
		{"ticket search, one character", "op", "/console/tickets?q=" + url.QueryEscape("水"), []string{">" + newestWith(holds("水")) + "</a>"}},
		{"ticket search, short word, 2 years", "op", "/console/tickets?q=" + url.QueryEscape("暖气") + "&from=" + f.clock.Now().AddDate(-2, 0, -1).Format("2006-01-02"),
			[]string{"<h1>工单查询</h1>", "没有工单"}},
		{"figures, month", "sup", "/console/figures?period=month", []string{"<h1>统计报表</h1>", "<svg"}},
		{"figures, quarter by department", "sup", "/console/figures?period=quarter&group=department", []string{"<h1>统计报表</h1>", "<svg"}},
		{"figures, year by district", "sup", "/console/figures?period=year&group=district", []string{"<h1>统计报表</h1>", "<svg"}},
		{"rates and GB/T panel, month", "sup", "/console/rates", []string{"<h1>三率排名与服务标准</h1>"}},
		{"rates and GB/T panel, year", "sup", "/console/rates?period=year", []string{"<h1>三率排名与服务标准</h1>"}},
		{"overdue list", "sup", "/console/overdue", []string{"<h1>超期工单督办</h1>"}},
		{"supervisor page", "sup", "/console/supervisor", []string{"<h1>督办概览</h1>", `id="completed-count">`, `id="cards-board"`,
			`id="dissatisfied"`, ">" + newestCompleted + "</a>"}},

		{"calls behind a figure, month answered", "sup", "/console/calls?" + monthQuery("from", "to", "direction", "inbound", "ended", "true", "outcome", "answered"),
			[]string{"<h1>话务记录</h1>", `data-call="`}},
		{"surveys behind a figure, month", "sup", "/console/surveys?" + monthQuery("from", "to", "status", "done", "counted", "true"), []string{"<h1>回访记录</h1>", `data-survey="`}},
		{"returns behind a figure, month", "sup", "/console/tickets?" + monthQuery("event_from", "event_to", "event", "return"), []string{"<h1>工单查询</h1>", "退单"}},
		{"cards page", "sup", "/console/cards", []string{"<h1>红黄牌</h1>", `id="cards-board"`}},
		{"admin users", "adm", "/console/admin/users", []string{`data-user="busy"`}},
		{"admin categories", "adm", "/console/admin/categories", []string{`data-category="TS-GN"`}},
		{"admin departments", "adm", "/console/admin/departments", []string{`data-department="`}},
		{"admin knowledge", "adm", "/console/admin/knowledge", []string{`id="synonyms"`}},
		{"admin home", "adm", "/console/admin", []string{`id="admin-menu"`}},
		{"admin tokens", "adm", "/console/admin/tokens", []string{`id="create-token"`}},
		{"admin SMS templates", "adm", "/console/admin/templates", []string{"<h1>短信模板</h1>"}},
		{"admin refusal reasons and prompts", "adm", "/console/admin/settings", []string{`id="refusal-reasons"`, `id="prompts"`}},
		// dailyWork leaves an audit log as long as the ticket table: the page reads its
		// newest records, or those of one event, actor or ticket.
		{"audit log", "adm", "/console/audit", []string{`id="audit-records"`, "pii_viewed"}},
		{"audit log, one event", "adm", "/console/audit?action=export", []string{`id="audit-records"`, "export"}},
		{"audit log, one actor", "adm", "/console/audit?actor=" + url.QueryEscape("operator:op"), []string{`id="audit-records"`, "pii_viewed"}},
		{"audit log, one ticket", "adm", "/console/audit?target=" + url.QueryEscape("ticket:"+openTicket), []string{`id="audit-records"`, "ticket:" + openTicket}},
		{"audit log, one day", "adm", "/console/audit?" + url.Values{"from": {f.clock.Now().AddDate(0, 0, -30).Format("2006-01-02")},
			"to": {f.clock.Now().AddDate(0, 0, -29).Format("2006-01-02")}}.Encode(), []string{`id="audit-records"`, "pii_viewed"}},
	}
	for _, d := range []struct {
		user string
		dept dept
	}{{"busy", busy}, {"typical", typical}} {
		scope := inScope(d.dept)
		mine, _ := valid(scope)
		history := one(`SELECT number FROM tickets WHERE ` + scope + ` ORDER BY created_at DESC, id DESC LIMIT 1`)
		done := one(`SELECT number FROM tickets WHERE status = 'completed' AND ` + scope + ` ORDER BY created_at DESC, id DESC LIMIT 1`)
		// The inbox shows the nearest deadline first (the sign-for deadline while a ticket
		// waits to be signed for).
		due := one(`SELECT number FROM tickets WHERE open AND ` + scope + ` ORDER BY
			CASE WHEN status = 'dispatched' AND sign_due_at IS NOT NULL THEN sign_due_at ELSE due_at END IS NULL,
			CASE WHEN status = 'dispatched' AND sign_due_at IS NOT NULL THEN sign_due_at ELSE due_at END, id DESC LIMIT 1`)
		who := d.user + " " + d.dept.code
		pages = append(pages,
			page{"portal inbox, " + who, d.user, "/portal/", []string{"<h1>待办工单</h1>", `data-number="` + due + `"`, `id="portal-cards"`}},
			page{"portal history, " + who, d.user, "/portal/search", []string{"<h1>历史查询</h1>", ">" + history + "</a>"}},
			page{"portal history done, " + who, d.user, "/portal/search?status=completed", []string{">" + done + "</a>"}},
			page{"portal search, number, " + who, d.user, "/portal/search?q=" + mine, []string{">" + mine + "</a>"}},
			page{"portal search, absent short word, " + who, d.user, "/portal/search?q=" + url.QueryEscape("暖气"), []string{"<h1>历史查询</h1>", "没有工单"}},
			page{"portal search, common word, " + who, d.user, "/portal/search?q=" + url.QueryEscape("东胜区"),
				[]string{">" + newestWith("address LIKE '%东胜区%' AND "+scope) + "</a>"}},
			page{"portal search, rare word, " + who, d.user, "/portal/search?q=" + url.QueryEscape("供暖费"),
				[]string{">" + newestWith("title LIKE '%供暖费%' AND "+scope) + "</a>"}},
			page{"portal search, absent word, " + who, d.user, "/portal/search?q=" + url.QueryEscape("物业费"), []string{"<h1>历史查询</h1>", "没有工单"}},
			page{"portal search, short word, " + who, d.user, "/portal/search?q=" + url.QueryEscape("反映"),
				[]string{">" + newestWith(holds("反映")+" AND "+scope) + "</a>"}},
			page{"portal search, rare short word, " + who, d.user, "/portal/search?q=" + url.QueryEscape("收取"),
				[]string{">" + newestWith(holds("收取")+" AND "+scope) + "</a>"}},
			page{"portal ticket, " + who, d.user, "/portal/tickets/" + mine, []string{`<span id="number">` + mine + `</span>`}},
			// The inbox's stages, each with the work dailyWork left in it.
			page{"portal inbox stages, " + who, d.user, "/portal/", []string{`id="group-to-sign"`, `id="group-handling"`, `id="group-replied"`, `id="group-returned"`}},
		)
	}

	sessions := map[string][]*http.Cookie{}
	for _, user := range []string{"op", "sup", "busy", "typical", "adm"} {
		sessions[user] = signIn(t, ctx, f, user)
	}
	engine := f.srv.Config.Handler
	trace := &sqlTrace{Interface: f.env.DB.Logger}
	f.env.DB.Logger = trace
	t.Cleanup(func() { f.env.DB.Logger = trace.Interface })

	const runs = 20
	type result struct {
		name     string
		p50, p95 time.Duration
		bytes    int
	}
	var results []result
	for _, pg := range pages {
		var ds []time.Duration
		size := 0
		for i := range runs + 1 { // the first request warms the caches and is not counted
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, pg.path, nil)
			for _, c := range sessions[pg.user] {
				req.AddCookie(c)
			}
			rec := httptest.NewRecorder()
			trace.start()
			began := time.Now()
			engine.ServeHTTP(rec, req)
			took := time.Since(began)
			stmts := trace.stop()
			if rec.Code != http.StatusOK {
				t.Fatalf("%s: GET %s as %s: status %d\n%s", pg.name, pg.path, pg.user, rec.Code, excerpt(rec.Body.String(), ""))
			}
			body := rec.Body.String()
			for _, want := range pg.says {
				if !strings.Contains(body, want) {
					t.Fatalf("%s: GET %s as %s does not show %q:\n%s", pg.name, pg.path, pg.user, want, excerpt(body, "<main"))
				}
			}
			size = len(body)
			if i == 0 {
				continue
			}
			ds = append(ds, took)
			if took > speedTarget && i == runs {
				explainSlowest(t, ctx, f, pg.name, stmts)
			}
		}
		slices.Sort(ds)
		results = append(results, result{pg.name, ds[len(ds)/2], ds[(len(ds)*95+99)/100-1], size})
	}
	var b strings.Builder
	fmt.Fprintf(&b, "server time over %d tickets, %d requests a page:\n", count, runs)
	fmt.Fprintf(&b, "| %-44s | %9s | %9s | %8s |\n", "page", "p50", "p95", "bytes")
	for _, r := range results {
		fmt.Fprintf(&b, "| %-44s | %9s | %9s | %8d |\n", r.name, r.p50.Round(100*time.Microsecond), r.p95.Round(100*time.Microsecond), r.bytes)
	}
	t.Log(b.String())
	for _, r := range results {
		if r.p95 > speedTarget {
			t.Errorf("%s took %s at p95; the target is %s", r.name, r.p95.Round(time.Millisecond), speedTarget)
		}
	}
}

// dailyWork adds to the seed what a working day leaves for the pages to show, which the
// seed's handled and completed tickets do not: tickets waiting at the central desk on
// every channel (a voice message each on the voicemail one), replies to verify, returns
// to decide, surveys for a person to call back, dissatisfied answers of the last week,
// and this month's cards.
func dailyWork(t *testing.T, ctx context.Context, f *fixture) {
	t.Helper()
	now := f.clock.Now()
	var channels []string
	for _, ch := range inboxChannels {
		channels = append(channels, "'"+string(ch)+"'")
	}
	steps := []struct {
		what string
		sql  string
		args []any
	}{
		{"registered", `WITH x AS (SELECT id, row_number() OVER (ORDER BY id DESC) AS rn FROM tickets WHERE status = 'completed'
				ORDER BY id DESC LIMIT 210)
			UPDATE tickets t SET status = 'registered', open = true, completed_at = NULL, lead_department_id = NULL,
				dispatched_at = NULL, channel = (ARRAY[` + strings.Join(channels, ",") + `])[1 + x.rn % ` + strconv.Itoa(len(channels)) + `],
				external_ref = 'call:' || t.id FROM x WHERE x.id = t.id`, nil},
		{"replied", `WITH x AS (SELECT id FROM tickets WHERE status = 'handling' ORDER BY id DESC LIMIT 40)
			UPDATE tickets t SET status = 'replied' FROM x WHERE x.id = t.id`, nil},
		{"returned", `WITH x AS (SELECT id FROM tickets WHERE status = 'handling' ORDER BY id DESC LIMIT 10)
			UPDATE tickets t SET status = 'returned' FROM x WHERE x.id = t.id`, nil},
		{"answered surveys", `UPDATE callback_surveys SET answered_at = updated_at WHERE status = 'done'`, nil},
		{"manual surveys", `WITH x AS (SELECT id FROM callback_surveys WHERE status = 'done' ORDER BY id DESC LIMIT 30)
			UPDATE callback_surveys s SET status = 'manual', result = '', answered_at = NULL, note = 'calls_exhausted' FROM x WHERE x.id = s.id`, nil},
		{"cards", `INSERT INTO dashboards_cards (department_id, color, rule, cause, month, ticket_number, reason, cause_at, issued_at)
			SELECT d.id, 'yellow', 'overdue', d.code || ':' || t.number || ':overdue', ?, t.number, '工单 ' || t.number || ' 超期未办结',
				?::timestamptz - interval '1 hour', ?
			FROM departments d CROSS JOIN LATERAL (SELECT number FROM tickets WHERE lead_department_id = d.id AND overdue
				ORDER BY id DESC LIMIT 2) t`, []any{now.Format("2006-01"), now, now}},
		// Words to search for, which the seed's texts do not hold: a tenth of the tickets
		// get an address in 东胜区 (a common word), one in a thousand a title about 供暖费
		// (a rare one, with 收取 a rare short one), spread over both years and all
		// departments.
		{"addresses", `UPDATE tickets SET address = '东胜区天骄街道' || (id % 300) || '号' WHERE id % 10 = 3`, nil},
		{"rare words", `UPDATE tickets SET title = '供暖费收取不合理', content = '小区供暖费按面积多收 heating fee' WHERE id % 1000 = 3`, nil},
		// Two years of a city's audit log, a record per ticket: mostly operators opening
		// citizens' details, some downloads, every record naming its ticket. The chain's
		// head moves past them so that what the pages record goes on after them.
		{"audit log", `INSERT INTO audit_records (seq, at, actor, action, target, detail, reason, ip, prev_hash, hash)
			SELECT h.seq + t.id, t.created_at + interval '10 minutes',
				CASE WHEN t.id % 7 = 0 THEN 'supervisor:sup' ELSE 'operator:op' END,
				CASE WHEN t.id % 50 = 0 THEN 'export' ELSE 'pii_viewed' END,
				'ticket:' || t.number, '查看来电人信息', '', '10.0.0.' || (t.id % 200), '', md5(t.id::text) || md5(t.number)
			FROM tickets t CROSS JOIN (SELECT coalesce(max(seq), 0) AS seq FROM audit_records) h`, nil},
		{"audit head", `UPDATE audit_head SET seq = (SELECT max(seq) FROM audit_records)`, nil},
		{"analyze", `VACUUM ANALYZE tickets, callback_surveys, dashboards_cards, audit_records`, nil},
	}
	for _, s := range steps {
		began := time.Now()
		res := f.env.DB.WithContext(ctx).Exec(s.sql, s.args...)
		if res.Error != nil {
			t.Fatalf("daily work, %s: %v", s.what, res.Error)
		}
		t.Logf("daily work: %s, %d rows in %s", s.what, res.RowsAffected, time.Since(began).Round(time.Millisecond))
	}
}

// excerpt is a page's main part, cut to a readable length for a failure message.
func excerpt(page, from string) string {
	if i := strings.Index(page, from); i >= 0 {
		page = page[i:]
	}
	if len(page) > 3000 {
		page = page[:3000] + "…"
	}
	return page
}

// dept is a department with the tickets it sees: its own and its sub-units'.
type dept struct {
	code    string
	ids     string // the subtree's ids, for SQL
	tickets int64
}

// departmentsBySize returns the department that sees the most tickets and the median one.
func departmentsBySize(t *testing.T, f *fixture, ctx context.Context) (busiest, typical dept) {
	t.Helper()
	var rows []struct {
		Code    string
		IDs     string
		Tickets int64
	}
	err := f.env.DB.WithContext(ctx).Raw(`SELECT d.code, string_agg(DISTINCT s.id::text, ',') AS ids,
			(SELECT count(*) FROM assignments a JOIN departments x ON x.id = a.department_id WHERE x.path LIKE d.path || '%') AS tickets
		FROM departments d JOIN departments s ON s.path LIKE d.path || '%'
		WHERE d.active GROUP BY d.id, d.code, d.path ORDER BY tickets DESC, d.code`).Scan(&rows).Error
	if err != nil || len(rows) == 0 {
		t.Fatalf("departments by size: %v", err)
	}
	pick := func(i int) dept { return dept{code: rows[i].Code, ids: rows[i].IDs, tickets: rows[i].Tickets} }
	return pick(0), pick(len(rows) / 2)
}

// signIn logs user in through the login form and returns the session's cookies.
func signIn(t testing.TB, ctx context.Context, f *fixture, user string) []*http.Cookie {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(method, path string, form url.Values) (*http.Response, string) {
		t.Helper()
		var body *strings.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		} else {
			body = strings.NewReader("")
		}
		req, err := http.NewRequestWithContext(ctx, method, f.srv.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp, sb.String()
	}
	_, page := get("GET", "/console/login", nil)
	resp, body := get("POST", "/console/login", url.Values{"csrf_token": {token(t, page)}, "username": {user}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: status %d\n%s", user, resp.StatusCode, body)
	}
	u, _ := url.Parse(f.srv.URL)
	return jar.Cookies(u)
}

// sqlTrace records the statements run between start and stop, with their times, so that
// a slow page can say where its time went.
type sqlTrace struct {
	logger.Interface
	mu    sync.Mutex
	on    bool
	stmts []tracedSQL
}

type tracedSQL struct {
	sql  string
	took time.Duration
}

// LogMode keeps the trace: the level only matters to the logger wrapped.
func (s *sqlTrace) LogMode(logger.LogLevel) logger.Interface { return s }

func (s *sqlTrace) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	s.mu.Lock()
	if s.on {
		q, _ := fc()
		s.stmts = append(s.stmts, tracedSQL{sql: q, took: time.Since(begin)})
	}
	s.mu.Unlock()
	s.Interface.Trace(ctx, begin, fc, err)
}

func (s *sqlTrace) start() { s.mu.Lock(); s.on, s.stmts = true, nil; s.mu.Unlock() }

func (s *sqlTrace) stop() []tracedSQL {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.on = false
	return s.stmts
}

// explainSlowest logs a slow page's statements, the slowest first, and the plan of the
// slowest.
func explainSlowest(t *testing.T, ctx context.Context, f *fixture, name string, stmts []tracedSQL) {
	t.Helper()
	var total time.Duration
	for _, s := range stmts {
		total += s.took
	}
	sort.SliceStable(stmts, func(i, j int) bool { return stmts[i].took > stmts[j].took })
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d statements, %s in SQL; the slowest:\n", name, len(stmts), total.Round(100*time.Microsecond))
	for _, s := range stmts[:min(len(stmts), 5)] {
		fmt.Fprintf(&b, "  %8s  %s\n", s.took.Round(100*time.Microsecond), s.sql)
	}
	if len(stmts) > 0 && strings.HasPrefix(strings.TrimSpace(stmts[0].sql), "SELECT") {
		rows, err := f.env.DB.WithContext(ctx).Raw("EXPLAIN (ANALYZE, BUFFERS) " + stmts[0].sql).Rows()
		if err == nil {
			for rows.Next() {
				var line string
				if rows.Scan(&line) == nil {
					b.WriteString("    " + line + "\n")
				}
			}
			rows.Close()
		}
	}
	t.Log(b.String())
}
