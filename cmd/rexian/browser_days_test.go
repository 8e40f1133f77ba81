package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/ivr/aritest"
)

// flash checks that the last step ended on a page saying what happened.
func (b *browser) flash(what, want string) {
	b.t.Helper()
	b.do(what+": the message", chromedp.WaitVisible(chromedp.ID("flash")))
	if got := b.text("#flash"); got != want {
		b.t.Errorf("%s: %s: the page says %q, want %q", b.name, what, got, want)
	}
}

// gone checks that none of sels is on the page: no control is left that the step has
// made pointless (the server would refuse it).
func (b *browser) gone(what string, sels ...string) {
	b.t.Helper()
	for _, sel := range sels {
		if b.eval(`document.querySelector(` + jsString(sel) + `) !== null`) {
			b.shot("stale-" + strings.Trim(sel, "#."))
			b.t.Errorf("%s: %s: %s is still on the page", b.name, what, sel)
		}
	}
}

// value is the value of a form field.
func (b *browser) value(sel string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("%s: value of %s: %v", b.name, sel, err)
	}
	return v
}

// strings evaluates expr, which yields a list of strings.
func (b *browser) strings(expr string) []string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](expr))
	if err != nil {
		b.t.Fatalf("%s: evaluate %s: %v", b.name, expr, err)
	}
	return v
}

// TestRoleDaysInBrowser walks each role's day through the consoles only, in headless
// Chromium, and checks that every step ends on a page saying what happened with no
// control left that the step made pointless:
//   - the operator takes a call, registers the caller's ticket from the screen-pop (地点
//     shows the place given), sends the materials SMS from it (number filled in, the send
//     in the timeline, back on the ticket), dispatches it to 东胜区 with the department
//     picker's search, merges the caller's second report into it after seeing both side
//     by side, and refuses another ticket with a configured refusal reason;
//   - 东胜区 signs for the ticket and asks for an extension (a date before the deadline is
//     refused with the console's wording, keeping what was typed);
//   - the supervisor finds the request in the central inbox, sees its date and reason,
//     approves it, and urges the ticket, which is not overdue;
//   - 东胜区 sees the new deadline and the urging, and replies.
func TestRoleDaysInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		dbtest.Unavailable(t, "Chromium", "apt-get install chromium fonts-wqy-microhei (scripts/test does it)", err)
	}
	cfg := testConfig(t, testEnv(t, ""))
	// A city's own refusal reason beside the usual ones: the page offers what is configured.
	const reasonCode, reasonName = "civil_dispute", "属于民间借贷等民事纠纷，建议通过人民调解或诉讼解决"
	cfg.Tickets.RefusalReasons = []string{"outside_remit=不属于本市管辖范围", reasonCode + "=" + reasonName}
	asterisk := emulatedAsterisk(t, &cfg)
	r := startAppFor(t, 10*time.Minute, cfg, WithDemo(), withShutdownTimeout(5*time.Second))
	base := r.base

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	step := 0
	artifacts := os.Getenv("REXIAN_TEST_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	op := newBrowser(t, ctx, "operator", artifacts, &step)
	dept := newBrowser(t, ctx, "department", artifacts, &step)
	sup := newBrowser(t, ctx, "supervisor", artifacts, &step)

	// --- The operator's day.
	op.login(base, "operator1")
	op.do("the desk", chromedp.WaitVisible(chromedp.ID("join")))
	eventually(t, "the controller connects to Asterisk", asterisk.Connected)
	asterisk.SetPhone("PJSIP/8001", aritest.Phone{AnswerAfter: 300 * time.Millisecond})
	op.do("type the phone", chromedp.SetValue(chromedp.ID("phone"), "PJSIP/8001"))
	op.submit("join the queue", "#join")
	op.flash("join the queue", "已签入队列。")
	op.do("the live panel", chromedp.WaitVisible(chromedp.CSS("#live[data-connected]")))

	const caller = "13700000021"
	call, err := asterisk.Dial(ctx, aritest.Caller{Number: caller, Dialled: "12345"})
	if err != nil {
		t.Fatal(err)
	}
	defer call.Hangup()
	call.Press("1") // a complaint: to an operator
	rung, cancelRung := context.WithTimeout(ctx, 30*time.Second)
	defer cancelRung()
	if _, err := asterisk.WaitOriginated(rung, "PJSIP/8001"); err != nil {
		t.Fatalf("the operator's phone was not rung: %v", err)
	}
	op.do("the screen-pop", chromedp.WaitVisible(chromedp.ID("pop-live")))
	if got := op.text("#pop-caller"); got != caller {
		t.Errorf("screen-pop caller %q, want %s", got, caller)
	}
	op.submit("start a ticket from the pop", "#pop-start")
	if got := op.value("#phone"); got != caller {
		t.Errorf("registration form's phone %q, want %s", got, caller)
	}
	// The township list follows the district chosen.
	op.do("fill in the ticket", chromedp.SetValue(chromedp.ID("category"), "QZ-SZSS"),
		chromedp.SetValue(chromedp.ID("district"), "DSQ"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("district").dispatchEvent(new Event("change"))`))
	if got := op.strings(`Array.from(document.querySelectorAll("#township optgroup")).filter(g => !g.disabled && !g.hidden).map(g => g.dataset.district)`); strings.Join(got, ",") != "DSQ" {
		t.Errorf("townships offered for 东胜区: groups %v, want only DSQ's", got)
	}
	const address = "天骄北路12号院3号楼"
	op.do("fill in the place and the complaint", chromedp.SetValue(chromedp.ID("township"), "DSQ-JTJD"),
		chromedp.SetValue(chromedp.ID("address"), address),
		chromedp.SetValue(chromedp.ID("content"), "天骄北路12号院3号楼前的路灯一直不亮，晚上出行很不安全，请尽快修复"))
	op.submit("register", "#register")
	op.flash("register", "工单已登记。")
	number := op.text("#number")
	if got := op.text("#place"); got != "东胜区 交通街道 "+address {
		t.Errorf("地点 %q, want the place the citizen gave (东胜区 交通街道 %s)", got, address)
	}
	op.shot("registered")

	// The materials SMS from the ticket: the number is filled in, the send is in the
	// timeline, and the operator is back on the ticket.
	op.submit("open the knowledge base from the ticket", "#materials-link")
	op.do("search the knowledge base", chromedp.WaitVisible(chromedp.ID("for-ticket")),
		chromedp.SetValue(chromedp.CSS(`#knowledge-search input[name=q]`), "户口"))
	op.submit("search", `#knowledge-search button`)
	form := `section.item form[action="/console/knowledge/send"]`
	if got := op.value(form + ` input[name=mobile]`); got != caller {
		t.Errorf("the SMS form's number %q, want the citizen's %s", got, caller)
	}
	if got := op.value(form + ` input[name=ticket]`); got != number {
		t.Errorf("the SMS form's ticket %q, want %s", got, number)
	}
	item := op.text(`section.item h2`)
	op.submit("send the materials", form+` button`)
	op.flash("send the materials", "材料清单短信已排队发送。")
	if got := op.text("#number"); got != number {
		t.Errorf("after the SMS the page shows ticket %q, want back on %s", got, number)
	}
	if got := op.text("#timeline"); !strings.Contains(got, "材料清单短信") || !strings.Contains(got, "137****0021") {
		t.Errorf("the timeline does not record the SMS to the citizen (%s): %q", item, got)
	}

	// Dispatch to 东胜区 with the picker's search: typing part of a name leaves only the
	// units that hold it, and the first of them is chosen.
	op.do("search the picker", chromedp.SendKeys(chromedp.CSS(`#dispatch-form input.dept-search`), "东胜区人民"))
	visible := op.strings(`Array.from(document.querySelectorAll("#department option")).filter(o => o.value && !o.hidden && !o.disabled).map(o => o.textContent)`)
	if len(visible) != 1 || visible[0] != "东胜区人民政府" {
		t.Errorf("the picker offers %v after typing 东胜区人民, want only 东胜区人民政府", visible)
	}
	if got := op.value("#department"); got != "DSQ" {
		t.Errorf("the picker chose %q, want DSQ", got)
	}
	op.do("search the picker again", chromedp.Evaluate[chromedp.Void](`document.querySelector("#dispatch-form input.dept-search").value = ""`),
		chromedp.SendKeys(chromedp.CSS(`#dispatch-form input.dept-search`), "东胜"))
	visible = op.strings(`Array.from(document.querySelectorAll("#department option")).filter(o => o.value && !o.hidden && !o.disabled).map(o => o.textContent)`)
	if len(visible) < 3 {
		t.Errorf("the picker offers %v after typing 东胜, want 东胜区's units", visible)
	}
	for _, name := range visible {
		if !strings.Contains(name, "东胜") {
			t.Errorf("the picker offers %q after typing 东胜", name)
		}
	}
	op.do("choose 东胜区人民政府", chromedp.SetValue(chromedp.ID("department"), "DSQ"))
	op.shot("picker")
	op.submit("dispatch", "#dispatch")
	op.flash("dispatch", "工单已派单。")
	if got := op.text("#lead"); got != "东胜区人民政府" {
		t.Errorf("lead department %q, want 东胜区人民政府", got)
	}
	if got := op.text("#status"); got != "待签收" {
		t.Errorf("status %q after the dispatch, want 待签收", got)
	}
	op.gone("dispatch", "#dispatch-form", "#merge", "#refuse", "#answer-form")

	// The caller's second report of the same lamp: both side by side, one click merges.
	op.navigate("the registration form", base+"/console/tickets/new?phone="+caller, "#new-ticket")
	op.do("fill in the duplicate", chromedp.SetValue(chromedp.ID("category"), "QZ-SZSS"),
		chromedp.SetValue(chromedp.ID("content"), "天骄北路12号院3号楼前的路灯还是不亮，晚上出行很不安全，请尽快修复"))
	op.submit("register the duplicate", "#register")
	op.flash("register the duplicate", "工单已登记。")
	dup := op.text("#number")
	op.do("the duplicates", chromedp.WaitVisible(chromedp.CSS(`#duplicates article.dup[data-number="`+number+`"]`)))
	if got := op.text("#duplicates article.this"); !strings.Contains(got, dup) || !strings.Contains(got, "还是不亮") {
		t.Errorf("this ticket's side: %q", got)
	}
	if got := op.text(`#duplicates article.dup[data-number="` + number + `"]`); !strings.Contains(got, "一直不亮") {
		t.Errorf("the earlier ticket's side: %q", got)
	}
	op.shot("duplicates")
	op.submit("merge", "#merge-into-"+number)
	if got := op.text("#confirm-facts"); !strings.Contains(got, number) {
		t.Errorf("the merge's confirmation says %q, want the ticket it goes into", got)
	}
	op.submit("confirm the merge", "#confirm")
	op.flash("merge", "已作为重复件并入原工单。")
	if got := op.text("#number"); got != dup {
		t.Errorf("after the merge the page shows %q, want %s", got, dup)
	}
	op.gone("merge", "#merge", "#refuse", "#dispatch-form", "#answer-form")

	// A ticket refused with the city's own reason.
	op.navigate("the registration form", base+"/console/tickets/new?phone=13700000022", "#new-ticket")
	op.do("fill in a civil dispute", chromedp.SetValue(chromedp.ID("category"), "QZ-SZSS"),
		chromedp.SetValue(chromedp.ID("content"), "邻居借了我三万元一直不还，请热线帮我讨要"))
	op.submit("register the civil dispute", "#register")
	refused := op.text("#number")
	reasons := op.strings(`Array.from(document.querySelectorAll("#refuse-reason option")).filter(o => o.value).map(o => o.value + "=" + o.textContent)`)
	if strings.Join(reasons, "|") != "outside_remit=不属于本市管辖范围|"+reasonCode+"="+reasonName {
		t.Errorf("refusal reasons offered %v, want the configured ones", reasons)
	}
	op.do("choose the reason", chromedp.Click(chromedp.CSS("#refuse summary")),
		chromedp.SetValue(chromedp.ID("refuse-reason"), reasonCode))
	op.submit("refuse", "#refuse-submit")
	if got := op.text("#confirm-facts"); !strings.Contains(got, reasonName) {
		t.Errorf("the refusal's confirmation says %q, want the reason", got)
	}
	op.submit("confirm the refusal", "#confirm")
	op.flash("refuse", "已不予受理，工单已结束。")
	if got := op.text("#number"); got != refused {
		t.Errorf("after the refusal the page shows %q, want %s", got, refused)
	}
	if got := op.text("#ticket"); !strings.Contains(got, reasonName) {
		t.Errorf("the refused ticket does not say why: %q", got)
	}
	op.gone("refuse", "#refuse", "#merge", "#dispatch-form", "#answer-form")
	op.shot("refused")

	// --- 东胜区 signs for the ticket and asks for more time.
	dept.login(base, "dsq")
	dept.do("the inbox", chromedp.WaitVisible(chromedp.CSS(`#group-to-sign li[data-number="`+number+`"]`)))
	dept.submit("open the ticket", `#group-to-sign li[data-number="`+number+`"] a`)
	dept.submit("sign", "#sign")
	dept.flash("sign", "已签收。")
	dept.gone("sign", "#sign")
	dept.do("the reply form", chromedp.WaitVisible(chromedp.ID("reply-form")))

	deptP := &auth.Principal{Name: "setup", Role: auth.RoleSupervisor}
	v, err := r.app.domains.tickets.Find(ctx, deptP, number)
	if err != nil || len(v.Assignments) == 0 || v.Assignments[0].DueAt == nil {
		t.Fatalf("the ticket's deadline: %+v, %v", v, err)
	}
	due := v.Assignments[0].DueAt.In(cfg.Location())
	const why = "需协调供电公司更换线路，预计需要五个工作日"
	dept.do("ask for a day before the deadline", chromedp.Click(chromedp.CSS("#extension summary")),
		chromedp.SetValue(chromedp.ID("until"), due.Add(-24*time.Hour).Format("2006-01-02T15:04")),
		chromedp.SetValue(chromedp.ID("ext-reason"), why))
	dept.submit("ask for an earlier date", "#request-extension")
	if got := dept.text("#error"); got != "延期后的期限须晚于当前办理期限。" {
		t.Errorf("an extension before the deadline says %q", got)
	}
	if got := dept.value("#ext-reason"); got != why {
		t.Errorf("the reason typed is lost after the error: %q", got)
	}
	until := time.Date(due.Year(), due.Month(), due.Day()+7, 17, 30, 0, 0, cfg.Location())
	dept.do("ask for a week more", chromedp.SetValue(chromedp.ID("until"), until.Format("2006-01-02T15:04")))
	dept.submit("ask for the extension", "#request-extension")
	dept.flash("ask for the extension", "延期申请已提交。")
	if got := dept.text("#extension-pending"); !strings.Contains(got, until.Format("2006-01-02 15:04")) || !strings.Contains(got, why) {
		t.Errorf("the pending request says %q, want its date and reason", got)
	}
	dept.gone("ask for the extension", "#request-extension")
	dept.shot("extension-asked")

	// --- The supervisor approves the request and urges the ticket.
	sup.login(base, "supervisor1")
	sup.navigate("the central inbox", base+"/console/inbox", `#extensions a[href="/console/tickets/`+number+`"]`)
	sup.submit("open the request", `#extensions a[href="/console/tickets/`+number+`"]`)
	req := `#extensions .request[data-department="DSQ"]`
	if got := sup.text(req + " .extension-until"); got != until.Format("2006-01-02 15:04") {
		t.Errorf("the request's date %q, want %s", got, until.Format("2006-01-02 15:04"))
	}
	if got := sup.text(req + " .content"); got != why {
		t.Errorf("the request's reason %q, want %q", got, why)
	}
	sup.shot("extension-request")
	sup.submit("approve the extension", "#approve-extension-DSQ")
	sup.flash("approve the extension", "已批准延期，办理期限已延至申请的日期。")
	sup.gone("approve the extension", "#extensions", "#approve-extension-DSQ", "#refuse-extension-DSQ")
	if got := sup.text("#assignments"); strings.Contains(got, "延期申请中") || !strings.Contains(got, until.Format("2006-01-02 15:04")) {
		t.Errorf("the department's row after the approval: %q, want the new deadline", got)
	}
	if sup.eval(`document.querySelector("#ticket .badge.late") !== null`) {
		t.Fatal("the ticket is overdue; the supervisor should urge an ordinary ticket")
	}
	const urging = "请本周内修复并答复市民"
	sup.do("write the urging", chromedp.Click(chromedp.CSS("#urge summary")),
		chromedp.SetValue(chromedp.ID("urge-department"), "DSQ"), chromedp.SetValue(chromedp.ID("urge-note"), urging))
	sup.submit("urge", "#urge-submit")
	sup.flash("urge", "已督办，督办意见已记入办理经过。")
	if got := sup.text("#timeline"); !strings.Contains(got, urging) {
		t.Errorf("the timeline does not hold the urging: %q", got)
	}
	sup.shot("urged")

	// --- 东胜区 sees the new deadline and the urging, and replies.
	dept.navigate("the ticket again", base+"/portal/tickets/"+number, "#reply-form")
	dept.gone("after the approval", "#extension-pending")
	if got := dept.text("#timeline"); !strings.Contains(got, urging) {
		t.Errorf("the department does not see the urging: %q", got)
	}
	dept.do("write the reply", chromedp.SetValue(chromedp.ID("reply"), "已协调供电公司更换线路，路灯已恢复照明。"))
	dept.submit("reply", "#send-reply")
	dept.flash("reply", "回复已提交，等待审核。")
	if got := dept.text("#status"); got != "待审核" {
		t.Errorf("status %q after the reply, want 待审核", got)
	}
	dept.gone("reply", "#reply-form", "#extension", "#sign", "#return")
	dept.shot("replied")
}

// TestReportTownshipFollowsDistrict checks the citizens' web form: without script the
// townships are one list grouped by banner/district; in Chromium the list follows the
// district chosen, and a township of another district is unselected.
func TestReportTownshipFollowsDistrict(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		dbtest.Unavailable(t, "Chromium", "apt-get install chromium fonts-wqy-microhei (scripts/test does it)", err)
	}
	cfg := testConfig(t, testEnv(t, ""))
	r := startLongApp(t, cfg, WithDemo())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Without script: every district's townships, grouped.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/report", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	for _, want := range []string{`<optgroup label="东胜区" data-district="DSQ">`, `data-district="KBSQ"`, `<script src="/report.js" defer></script>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the form does not hold %s", want)
		}
	}

	b := newBrowser(t, ctx, "citizen", t.TempDir(), new(int))
	b.navigate("the form", r.base+"/report", "#district")
	groups := func() string {
		return strings.Join(b.strings(`Array.from(document.querySelectorAll("#township optgroup")).filter(g => !g.disabled && !g.hidden).map(g => g.dataset.district)`), ",")
	}
	if got := groups(); !strings.Contains(got, "DSQ,") {
		t.Errorf("before a district is chosen the groups are %q, want all", got)
	}
	choose := func(what, code string) {
		t.Helper()
		b.do(what, chromedp.SetValue(chromedp.ID("district"), code),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("district").dispatchEvent(new Event("change"))`))
	}
	choose("choose 东胜区", "DSQ")
	if got := groups(); got != "DSQ" {
		t.Errorf("townships offered for 东胜区: %q, want only DSQ's", got)
	}
	b.do("choose a township", chromedp.SetValue(chromedp.ID("township"), "DSQ-JTJD"))
	choose("choose 康巴什区", "KBSQ")
	if got := groups(); got != "KBSQ" {
		t.Errorf("townships offered for 康巴什区: %q, want only KBSQ's", got)
	}
	if got := b.value("#township"); got != "" {
		t.Errorf("a 东胜区 township (%q) stays chosen after choosing 康巴什区", got)
	}
}
