package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/ivr/aritest"
	"github.com/rexian/rexian/tickets"
)

// chromiumPath is Debian's Chromium, which scripts/test installs.
const chromiumPath = "/usr/bin/chromium"

// demoPassword is the demo users' password (tickets/demo-city.yaml).
const demoPassword = "demo-rexian-2026"

// xssContent is a ticket's content that would run script if a page ever put it into the
// document as HTML: each payload sets a window flag the test looks for.
const xssContent = `暖气不热 <script>window.__xss="script"</script><img src=x onerror="window.__xss='img'">`

// browser is one headless Chromium with its own profile, so that every person in the
// scenario has their own cookies.
type browser struct {
	t    *testing.T
	ctx  context.Context
	name string
	dir  string // where screenshots go
	step *int
}

func newBrowser(t *testing.T, ctx context.Context, name, artifacts string, step *int, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return &browser{t: t, ctx: bctx, name: name, dir: artifacts, step: step}
}

// do runs steps, failing the test with what was being done.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.shot("failed-" + what)
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
}

// submit clicks sel and waits for the page the click loads.
func (b *browser) submit(what, sel string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		b.shot("failed-" + what)
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.shot("failed-text")
		b.t.Fatalf("%s: text of %s: %v", b.name, sel, err)
	}
	return s
}

func (b *browser) eval(expr string) bool {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](expr))
	if err != nil {
		b.t.Fatalf("%s: evaluate %s: %v", b.name, expr, err)
	}
	return v
}

// shot keeps a screenshot of the page as a test artifact.
func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("%s: screenshot %s: %v", b.name, name, err)
		return
	}
	*b.step++
	file := filepath.Join(b.dir, fmt.Sprintf("%02d-%s-%s.png", *b.step, b.name, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Errorf("write screenshot: %v", err)
	}
}

// login signs in through the console's login page.
func (b *browser) login(base, user string) {
	b.t.Helper()
	b.do("open the login page", chromedp.Navigate(base+"/console/login"), chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), user), chromedp.SendKeys(chromedp.ID("password"), demoPassword))
	b.submit("log in as "+user, `#login button[type=submit]`)
}

// logout ends the session with the header's button.
func (b *browser) logout() {
	b.t.Helper()
	b.submit("log out", `form.logout button`)
	b.do("back at the login page", chromedp.WaitVisible(chromedp.ID("username")))
}

// noScriptRan checks that none of the payloads ran or became elements.
func (b *browser) noScriptRan(where string) {
	b.t.Helper()
	if !b.eval(`window.__xss === undefined`) {
		b.t.Errorf("%s: a payload in the ticket's content ran", where)
	}
	if b.eval(`Array.from(document.querySelectorAll("main script, main img")).length > 0`) {
		b.t.Errorf("%s: the ticket's content became elements", where)
	}
}

// completedToday reads the dashboards' completed figure for today with the browser's
// session, as the supervisor page's link does.
func (b *browser) completedToday() int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](
		`fetch("/api/v1/dashboards/figures?period=today").then(r => r.ok ? r.json() : Promise.reject(r.status)).then(f => f.total.completed)`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: the dashboards' figures: %v", b.name, err)
	}
	return n
}

func (b *browser) navigate(what, url string, visible string) {
	b.t.Helper()
	b.do(what, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(visible)))
}

// browserArtifacts skips the test without Chromium (fails it when services are required)
// and returns the folder for its screenshots: under REXIAN_TEST_ARTIFACTS, named after
// the test and the time, when that is set, else a temporary one.
func browserArtifacts(t *testing.T, name string) string {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		dbtest.Unavailable(t, "Chromium", "apt-get install chromium fonts-wqy-microhei (scripts/test does it)", err)
	}
	artifacts := os.Getenv("REXIAN_TEST_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	} else {
		artifacts = filepath.Join(artifacts, name+"-"+time.Now().UTC().Format("20060102T150405"))
		if err := os.MkdirAll(artifacts, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", artifacts)
	return artifacts
}

// startLongApp is startApp with room for a browser scenario: five minutes, and a short
// shutdown.
func startLongApp(t *testing.T, cfg config.Config, opts ...Option) *running {
	t.Helper()
	return startAppFor(t, 5*time.Minute, cfg, append(opts, withShutdownTimeout(5*time.Second))...)
}

// TestConsolesInBrowser drives the consoles in headless Chromium: an operator takes a
// call with a screen-pop, registers and dispatches the caller's ticket; the department
// signs for it and replies on a phone-sized screen; the operator verifies and completes
// it; the supervisor's completed count moves. Payloads in a ticket are shown as text and
// run nothing, and a department cannot open another department's ticket by its address.
func TestConsolesInBrowser(t *testing.T) {
	artifacts := browserArtifacts(t, "browser")

	cfg := testConfig(t, testEnv(t, ""))
	asterisk := emulatedAsterisk(t, &cfg)
	r := startLongApp(t, cfg, WithDemo())
	base := r.base

	// A ticket of another department (the 东胜区 government), for the address test.
	opr := &auth.Principal{Name: "setup", Role: auth.RoleOperator}
	other, err := r.app.domains.tickets.Create(context.Background(), opr, tickets.NewTicket{
		Content: "东胜区某小区路灯不亮", Category: "TS-GN", Dispatch: &tickets.DispatchRequest{Departments: []string{"DSQ"}},
	})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	step := 0
	desk := newBrowser(t, ctx, "operator", artifacts, &step)
	dept := newBrowser(t, ctx, "department", artifacts, &step)

	// The supervisor's completed count before.
	dept.login(base, "supervisor1")
	dept.navigate("open the supervisor page", base+"/console/supervisor", "#completed-count")
	before, err := strconv.Atoi(dept.text("#completed-count"))
	if err != nil {
		t.Fatalf("completed count: %v", err)
	}
	dept.do("the dashboards link", chromedp.WaitVisible(chromedp.ID("figures-today")))
	figureBefore := dept.completedToday()
	dept.shot("supervisor-before")
	dept.logout()

	// The operator logs in and joins the queue.
	desk.login(base, "operator1")
	desk.do("the desk", chromedp.WaitVisible(chromedp.ID("join")))
	desk.shot("desk")
	eventually(t, "the controller connects to Asterisk", asterisk.Connected)
	asterisk.SetPhone("PJSIP/8001", aritest.Phone{AnswerAfter: 300 * time.Millisecond})
	desk.do("type the phone", chromedp.SetValue(chromedp.ID("phone"), "PJSIP/8001"))
	desk.submit("join the queue", "#join")
	if got := desk.text("#my-state"); got != "就绪" {
		t.Errorf("state after joining: %q, want 就绪", got)
	}
	desk.shot("joined")

	// An earlier ticket of the caller whose content carries the payloads.
	const caller = "13700000001"
	desk.navigate("the registration form", base+"/console/tickets/new?phone="+caller, "#new-ticket")
	desk.do("fill in the earlier ticket", chromedp.SetValue(chromedp.ID("category"), "TS-GN"),
		chromedp.SetValue(chromedp.ID("content"), xssContent))
	desk.submit("register the earlier ticket", "#register")
	xss := desk.text("#number")
	if got := desk.text("#content"); !strings.Contains(got, `<script>window.__xss="script"</script>`) || !strings.Contains(got, `onerror=`) {
		t.Errorf("the content is not shown as text: %q", got)
	}
	desk.noScriptRan("desk ticket page")
	desk.submit("dispatch the earlier ticket from its page", "#dispatch")
	if got := desk.text("#status"); got != "待签收" {
		t.Errorf("status %q after the dispatch from the ticket page, want 待签收", got)
	}
	desk.noScriptRan("desk ticket page after the dispatch")
	desk.shot("payload-ticket")

	// A call: the screen-pop shows the caller, the line, the wait and the earlier ticket.
	desk.navigate("back to the desk", base+"/console/desk", "#live[data-connected]")
	// A state changed elsewhere (here the JSON API, as a second tab would) reaches the page
	// by server-sent events, and the queue button follows it.
	setState := func(state string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](`fetch("/api/v1/ivr/agents/me/state", {method: "POST", headers: {"Content-Type": "application/json",
			"X-CSRF-Token": document.querySelector("input[name=csrf_token]").value}, body: JSON.stringify({state: "` + state + `"})})`)
	}
	// Not ready: 就绪 shows; the reason picker stays, to change the reason.
	desk.do("pause elsewhere", setState("paused"), chromedp.WaitVisible(chromedp.ID("ready")))
	if got := desk.text("#my-state"); got != "小休" {
		t.Errorf("state after pausing elsewhere: %q, want 小休", got)
	}
	desk.do("ready elsewhere", setState("ready"), chromedp.WaitNotVisible(chromedp.ID("ready")))
	call, err := asterisk.Dial(ctx, aritest.Caller{Number: caller, Dialled: "12345"})
	if err != nil {
		t.Fatal(err)
	}
	defer call.Hangup()
	// The caller has an open ticket: any key but 1 skips its progress, then 1 is a complaint.
	call.Press("2")
	call.Press("1")
	rung, cancelRung := context.WithTimeout(ctx, 20*time.Second)
	defer cancelRung()
	if _, err := asterisk.WaitOriginated(rung, "PJSIP/8001"); err != nil {
		var recs []ivr.Record
		r.app.db.Find(&recs)
		t.Fatalf("the operator's phone was not rung: %v; live %+v; calls %+v", err, r.app.domains.ivr.Snapshot(), recs)
	}
	desk.do("the screen-pop", chromedp.WaitVisible(chromedp.ID("pop-live")))
	if got := desk.text("#pop-caller"); got != caller {
		t.Errorf("screen-pop caller %q, want %s", got, caller)
	}
	if got := desk.text("#pop-tickets"); !strings.Contains(got, xss) || !strings.Contains(got, "<script>") {
		t.Errorf("screen-pop's earlier tickets %q, want %s shown with its title as text", got, xss)
	}
	desk.noScriptRan("screen-pop")
	desk.shot("screen-pop")

	// One click starts the ticket with the number filled in; register and dispatch it to
	// the category's default department.
	desk.submit("start a ticket from the pop", "#pop-start")
	if got, _ := chromedp.Run(desk.ctx, chromedp.Value(chromedp.ID("phone"))); got != caller {
		t.Errorf("registration form's phone %q, want %s", got, caller)
	}
	desk.do("fill in the ticket", chromedp.SetValue(chromedp.ID("category"), "TS-GN"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("category").dispatchEvent(new Event("change"))`),
		chromedp.SetValue(chromedp.ID("content"), "小区3号楼暖气不热，室温只有12度"))
	if got := desk.text("#suggestion"); got != "市热力公司" {
		t.Errorf("dispatch suggestion %q, want 市热力公司", got)
	}
	desk.shot("registration")
	desk.submit("register and dispatch", "#register-dispatch")
	number := desk.text("#number")
	if got := desk.text("#lead"); got != "市热力公司" {
		t.Errorf("lead department %q, want 市热力公司", got)
	}
	if got := desk.text("#status"); got != "待签收" {
		t.Errorf("status %q after dispatch, want 待签收", got)
	}
	desk.shot("dispatched")

	// The department signs for it and replies on a phone.
	dept.do("phone-sized screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch))
	dept.login(base, "srlgs")
	dept.do("the portal inbox", chromedp.WaitVisible(chromedp.CSS(`#portal-inbox li[data-number="`+number+`"]`)))
	if !dept.eval(`document.documentElement.scrollWidth <= window.innerWidth`) {
		t.Error("the portal inbox is wider than a phone's screen")
	}
	dept.noScriptRan("portal inbox")
	dept.shot("portal-inbox")
	dept.navigate("the ticket in the portal", base+"/portal/tickets/"+number, "#sign")
	if got := dept.text("#citizen-phone"); got != "137****0001" {
		t.Errorf("the department sees the phone as %q, want it masked", got)
	}
	dept.submit("sign for it", "#sign")
	dept.do("the reply form", chromedp.WaitVisible(chromedp.ID("reply-form")))
	attachment := filepath.Join(t.TempDir(), "维修记录.txt")
	if err := os.WriteFile(attachment, []byte("3号楼管道已排气，室温恢复到20度。"), 0o644); err != nil {
		t.Fatal(err)
	}
	dept.do("write the reply", chromedp.SetValue(chromedp.ID("reply"), "已派人排气检修，室温已恢复正常。"),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{attachment}))
	dept.shot("reply")
	dept.submit("send the reply", "#send-reply")
	if got := dept.text("#status"); got != "待审核" {
		t.Errorf("status %q after the reply, want 待审核", got)
	}
	if got := dept.text("#attachments"); !strings.Contains(got, "维修记录.txt") {
		t.Errorf("attachments %q, want the reply's file", got)
	}
	if !dept.eval(`document.documentElement.scrollWidth <= window.innerWidth`) {
		t.Error("the portal's ticket page is wider than a phone's screen")
	}
	dept.shot("replied")

	// The payload ticket is text in the portal too.
	dept.navigate("the payload ticket in the portal", base+"/portal/tickets/"+xss, "#sign")
	if got := dept.text("#content"); !strings.Contains(got, `<img src=x onerror=`) {
		t.Errorf("the portal does not show the content as text: %q", got)
	}
	dept.noScriptRan("portal ticket page")
	dept.shot("payload-in-portal")

	// Another department's ticket is not found by its address.
	for _, n := range []string{other.Number} {
		resp, err := chromedp.Run(dept.ctx, chromedp.NavigateResponse(base+"/portal/tickets/"+n))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 404 {
			t.Errorf("a department opening %s got %d, want 404", n, resp.Status)
		}
		if got := dept.text("#error-page h1"); !strings.Contains(got, "404") {
			t.Errorf("the page for %s says %q, want the 404 page", n, got)
		}
	}
	dept.shot("other-department-404")
	dept.logout()

	// The operator verifies the reply and completes the ticket.
	desk.navigate("the desk inbox", base+"/console/inbox", `#replied a[href="/console/tickets/`+number+`"]`)
	desk.noScriptRan("desk inbox")
	desk.shot("inbox")
	desk.navigate("the replied ticket", base+"/console/tickets/"+number, "#approve")
	desk.submit("approve", "#approve")
	// A final step asks first, on a page of its own (no script needed).
	if got := desk.text("#confirm-what"); !strings.Contains(got, "办结") {
		t.Errorf("the confirmation says %q", got)
	}
	desk.shot("confirm-approve")
	desk.submit("confirm the approval", "#confirm")
	if got := desk.text("#status"); got != "已办结" {
		t.Errorf("status %q after approval, want 已办结", got)
	}
	desk.shot("completed")

	// The supervisor's completed count has moved by one.
	dept.login(base, "supervisor1")
	dept.navigate("the supervisor page", base+"/console/supervisor", "#completed-count")
	after, err := strconv.Atoi(dept.text("#completed-count"))
	if err != nil {
		t.Fatalf("completed count: %v", err)
	}
	if after != before+1 {
		t.Errorf("completed count %d after the approval, want %d", after, before+1)
	}
	if got := dept.completedToday(); got != figureBefore+1 {
		t.Errorf("the dashboards' completed figure for today is %d after the approval, want %d", got, figureBefore+1)
	}
	dept.shot("supervisor-after")

	// The payload ticket is text in the search list too.
	desk.navigate("search", base+"/console/tickets?q="+xss, "table.list")
	desk.noScriptRan("desk search")
}
