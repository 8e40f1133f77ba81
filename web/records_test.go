package web

import (
	"bytes"
	"html"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/callback"
	"github.com/rexian/rexian/ivr"
)

// figureCalls records calls that arrived just now: two answered, one abandoned in the
// queue, one voice message with its recording.
func figureCalls(t *testing.T, f *fixture) {
	t.Helper()
	now := f.clock.Now()
	for i, o := range []ivr.Outcome{ivr.OutcomeAnswered, ivr.OutcomeAnswered, ivr.OutcomeAbandonedQueue, ivr.OutcomeVoicemail} {
		end := now.Add(-time.Minute)
		r := ivr.Record{Node: "a", ChannelID: "ch-" + strconv.Itoa(i), Caller: "1380013800" + strconv.Itoa(i), Dialled: "12345",
			Hotline: "12345", Direction: "inbound", ArrivedAt: now.Add(-2 * time.Minute), EndedAt: &end, Outcome: o, WaitMS: 4000,
			InTarget: o == ivr.OutcomeAnswered}
		if o == ivr.OutcomeVoicemail {
			r.Voicemail = "vm-1"
		}
		if err := f.env.DB.WithContext(f.env.Ctx).Create(&r).Error; err != nil {
			t.Fatal(err)
		}
	}
}

var (
	callRowRE   = regexp.MustCompile(`<tr data-call="\d+">`)
	surveyRowRE = regexp.MustCompile(`<tr data-survey="\d+">`)
	hrefRE      = regexp.MustCompile(`href="([^"]+)"`)
)

// TestFigureLinksOpenPages follows every count on the figures page: each opens a page of
// the console (never the API) that says what it lists and lists as many records as the
// count says.
func TestFigureLinksOpenPages(t *testing.T) {
	f := newFixture(t)
	figuresCity(t, f)
	figureCalls(t, f)
	sv := f.manualSurvey("2611260009", "13800138009", callback.ReasonCallsExhausted, 3)
	if _, err := f.calls.Record(f.env.Ctx, &auth.Principal{Name: "op", Role: auth.RoleOperator}, sv,
		callback.ManualAnswer{Result: callback.ResultSatisfied}); err != nil {
		t.Fatal(err)
	}
	sup := f.client()
	sup.login("sup")
	_, page := sup.do("GET", figuresPath(f, ""), nil)
	cells := map[string]figureCellSeen{}
	for k, v := range rowsOf(page)["total"] {
		cells[k] = v
	}
	for _, m := range figureRE.FindAllStringSubmatch(page, -1) {
		if _, ok := cells[m[1]]; !ok {
			cells[m[1]] = figureCellSeen{text: m[3], href: html.UnescapeString(m[2])}
		}
	}
	rowsRE := map[string]*regexp.Regexp{"/console/tickets?": ticketLinkRE, "/console/calls?": callRowRE, "/console/surveys?": surveyRowRE}
	seen := 0
	for key, c := range cells {
		if c.href == "" {
			continue
		}
		seen++
		var re *regexp.Regexp
		for prefix, r := range rowsRE {
			if strings.HasPrefix(c.href, prefix) {
				re = r
			}
		}
		if re == nil {
			t.Errorf("%s links to %q, not to a console list", key, c.href)
			continue
		}
		resp, list := sup.do("GET", c.href, nil)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: GET %s: %d %s", key, c.href, resp.StatusCode, resp.Header.Get("Content-Type"))
			continue
		}
		if got := len(re.FindAllString(list, -1)); strconv.Itoa(got) != c.text {
			t.Errorf("%s: the list behind %s shows %d records", key, c.text, got)
		}
		if !strings.Contains(list, `id="active-filters"`) {
			t.Errorf("%s: the list does not say what it filters", key)
		}
		for _, m := range hrefRE.FindAllStringSubmatch(list, -1) {
			if strings.HasPrefix(m[1], "/api/") {
				t.Errorf("%s: the list links to the API: %s", key, m[1])
			}
		}
	}
	// Every ticket count, the survey count and the four call counts.
	if seen < 10 {
		t.Errorf("%d figures link to their records, want at least 10:\n%s", seen, page)
	}
	if cells["voicemails"].text != "1" || cells["answered"].text != "2" || cells["surveys_done"].text != "1" {
		t.Errorf("calls %+v, surveys %+v: the fixtures are not counted", cells["voicemails"], cells["surveys_done"])
	}
	// The voice message plays in the page.
	_, list := sup.do("GET", cells["voicemails"].href, nil)
	if !strings.Contains(list, `<audio controls preload="none" src="/api/v1/ivr/calls/`) || !strings.Contains(list, "语音留言") {
		t.Error("the voice message list has no player")
	}

	// The supervisor page's overdue, card and bulletin links are pages too; only the
	// workbooks come from the API.
	f.h.opts.Dashboards = true
	_, page = sup.do("GET", "/console/supervisor", nil)
	for _, m := range hrefRE.FindAllStringSubmatch(page, -1) {
		if strings.HasPrefix(m[1], "/api/") && !strings.HasSuffix(m[1], "format=xlsx") {
			t.Errorf("the supervisor page links to the API: %s", m[1])
		}
	}
	if resp, page := sup.do("GET", "/console/bulletins/monthly", nil); resp.StatusCode != http.StatusOK || !strings.Contains(page, "总体情况") {
		t.Errorf("the monthly bulletin: %d", resp.StatusCode)
	}
	if resp, page := sup.do("GET", "/console/cards", nil); resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="cards-board"`) {
		t.Errorf("the cards page: %d", resp.StatusCode)
	}
}

// readSheet downloads path and returns the workbook's first sheet's rows.
func readSheet(t *testing.T, c *client, path string) [][]string {
	t.Helper()
	resp, body := c.do("GET", path, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %d\n%s", resp.StatusCode, body)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ".xlsx") {
		t.Errorf("Content-Disposition %q", cd)
	}
	x, err := excelize.OpenReader(bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatalf("the download is not a workbook: %v", err)
	}
	defer x.Close()
	rows, err := x.GetRows(x.GetSheetName(0))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestDownloads: each list and figure table downloads as a workbook with what the page
// shows.
func TestDownloads(t *testing.T) {
	f := newFixture(t)
	figuresCity(t, f)
	figureCalls(t, f)
	sup := f.client()
	sup.login("sup")

	_, page := sup.do("GET", "/console/tickets?q=暖气", nil)
	m := regexp.MustCompile(`href="(/console/export/tickets\?[^"]+)" download`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the ticket list offers no download:\n%s", page)
	}
	rows := readSheet(t, sup, html.UnescapeString(m[1]))
	if len(rows) != 3 || rows[0][0] != "编号" {
		t.Fatalf("ticket rows %q, want the header and the two heating tickets", rows)
	}
	if rows[1][6] != "市热力公司" || !strings.Contains(rows[1][1]+rows[2][1], "暖气") {
		t.Errorf("ticket rows %q", rows[1:])
	}

	_, page = sup.do("GET", figuresPath(f, "department"), nil)
	m = regexp.MustCompile(`href="(/console/export/figures\?[^"]+)" download`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the figures page offers no download")
	}
	rows = readSheet(t, sup, html.UnescapeString(m[1]))
	found := false
	for _, r := range rows {
		if len(r) > 1 && r[0] == "市热力公司" && r[1] == "2" {
			found = true
		}
	}
	if !found || rows[0][1] != "受理" {
		t.Errorf("figure rows %q lack the heating company's two tickets", rows)
	}

	// The operators' figures follow the calls: labels, then seconds per state and reason.
	at := f.clock.Now().UTC().Add(-time.Hour)
	if err := f.env.DB.WithContext(f.env.Ctx).Create(&[]ivr.Spell{
		{Operator: "op", State: ivr.AgentBusy, StartedAt: at, EndedAt: at.Add(230 * time.Second), MS: 230000},
		{Operator: "op", State: ivr.AgentPaused, Reason: "就餐", StartedAt: at.Add(5 * time.Minute), EndedAt: at.Add(35 * time.Minute), MS: 1800000},
	}).Error; err != nil {
		t.Fatal(err)
	}
	rows = readSheet(t, sup, html.UnescapeString(m[1]))
	agents := -1
	for i, r := range rows {
		if len(r) > 0 && r[0] == "占用率" {
			agents = i
		}
	}
	if agents < 0 || agents+1 >= len(rows) {
		t.Fatalf("the figures workbook has no operators' figures:\n%q", rows)
	}
	head, vals := rows[agents], rows[agents+1]
	got := map[string]string{}
	for i := range head {
		if i < len(vals) {
			got[head[i]] = vals[i]
		}
	}
	if got["通话时长"] != "230" || got["示忙：就餐"] != "1800" {
		t.Errorf("operators' figures in the workbook = %q, want 230 s talking and 1800 s 就餐", got)
	}

	rows = readSheet(t, sup, "/console/export/calls?outcome=answered")
	if len(rows) != 3 || rows[1][4] != "人工接听" {
		t.Errorf("call rows %q, want the two answered calls", rows)
	}
	rows = readSheet(t, sup, "/console/export/rates?period=month")
	if rows[0][0] != "名次" || len(rows) < 2 {
		t.Errorf("rate rows %q", rows)
	}
	rows = readSheet(t, sup, "/console/export/surveys")
	if rows[0][0] != "工单" {
		t.Errorf("survey rows %q", rows)
	}

	// Each download is in the security audit log, with what it asked for.
	var recs []audit.Record
	if err := f.env.DB.WithContext(f.env.Ctx).Where("action = ?", audit.ActionExport).Find(&recs).Error; err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, r := range recs {
		targets[r.Target] = r.Actor == "supervisor:sup"
	}
	for _, want := range []string{"tickets", "figures", "calls", "rates", "surveys"} {
		if !targets[want] {
			t.Errorf("no export of %s by the supervisor in the audit log: %v", want, targets)
		}
	}

	// Bad input is an error page in words; an operator may not download.
	if resp, page := sup.do("GET", "/console/export/tickets?status=nope", nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "nope") {
		t.Errorf("a bad status: %d", resp.StatusCode)
	}
	op := f.client()
	op.login("op")
	if resp, _ := op.do("GET", "/console/export/tickets", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an operator's download: %d, want 403", resp.StatusCode)
	}
}

// The console's call list shows callers' numbers: each page shown is a pii_viewed record
// naming its calls.
func TestCallListRecordsTheView(t *testing.T) {
	f := newFixture(t)
	figureCalls(t, f)
	sup := f.client()
	sup.login("sup")
	resp, page := sup.do("GET", "/console/calls", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "13800138000") {
		t.Fatalf("the call list: %d", resp.StatusCode)
	}
	rs, _, err := f.env.Audit.Find(f.env.Ctx, audit.Filter{Action: audit.ActionPIIViewed}, pageOne)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Target != "calls" || !strings.Contains(rs[0].Detail, "of 4 calls unmasked via the console's call list") || rs[0].Actor != "supervisor:sup" {
		t.Fatalf("recorded %+v; want one record of the four calls shown to sup", rs)
	}
}
