package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/tickets"
)

// Bounds of the crawl: pages a role, and pages of one shape (a path with its numbers
// taken out: every ticket page is one shape).
const (
	crawlPages    = 150
	crawlPerShape = 3
)

var (
	linkRE   = regexp.MustCompile(`<a\s[^>]*?href="([^"]*)"[^>]*>`)
	numberRE = regexp.MustCompile(`\d+`)
	// Scripts and styles are not text; nor are identifiers shown as <code> (scopes such as
	// sms:read, a token's secret), which an administrator needs to see as they are.
	scriptRE  = regexp.MustCompile(`(?s)<script.*?</script>|<style.*?</style>|<code>.*?</code>`)
	tagRE     = regexp.MustCompile(`<[^>]*>`)
	accountRE = regexp.MustCompile(`\b(operator|department|supervisor|admin|integrator|system|web|sms|mail|qq|open311|callback|ivr):[A-Za-z0-9._-]+`)
)

// crawler is one role's walk over the consoles through Go's HTTP client.
type crawler struct {
	t      *testing.T
	base   *url.URL
	client *http.Client
	seen   map[string]bool
	shapes map[string]int
	// pages are the HTML pages visited, for the browser's pass; problems what failed.
	pages    []string
	problems []string
	names    []string // "role:username" texts, with the page they were on
}

func newCrawler(t *testing.T, base string) *crawler {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	return &crawler{t: t, base: u, client: &http.Client{Jar: jar, Timeout: 60 * time.Second},
		seen: map[string]bool{}, shapes: map[string]int{}}
}

// login signs in through the login form and returns the landing page's address.
func (c *crawler) login(user string) string {
	c.t.Helper()
	_, page := c.get("/console/login")
	m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		c.t.Fatalf("no CSRF token on the login page")
	}
	resp, err := c.client.PostForm(c.base.String()+"/console/login", url.Values{"csrf_token": {m[1]}, "username": {user}, "password": {demoPassword}})
	if err != nil {
		c.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.HasSuffix(resp.Request.URL.Path, "/login") {
		c.t.Fatalf("login as %s ended on %s with %d", user, resp.Request.URL, resp.StatusCode)
	}
	return resp.Request.URL.RequestURI()
}

func (c *crawler) get(path string) (*http.Response, string) {
	c.t.Helper()
	resp, err := c.client.Get(c.base.String() + path)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp, string(b)
}

// shape is a path with its numbers replaced, and the names of its query parameters.
func shape(u *url.URL) string {
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range u.Query() {
			if !yield(k) {
				return
			}
		}
	})
	return numberRE.ReplaceAllString(u.Path, "#") + "?" + strings.Join(keys, "&")
}

// crawl walks from start, breadth first, within the bounds.
func (c *crawler) crawl(start string) {
	queue := []string{start}
	c.seen[start] = true
	for len(queue) > 0 && len(c.pages) < crawlPages {
		path := queue[0]
		queue = queue[1:]
		resp, body := c.get(path)
		if resp.StatusCode >= 400 {
			c.problems = append(c.problems, fmt.Sprintf("%s answered %d", path, resp.StatusCode))
			continue
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			continue
		}
		c.pages = append(c.pages, path)
		text := html.UnescapeString(tagRE.ReplaceAllString(scriptRE.ReplaceAllString(body, " "), " "))
		for _, m := range accountRE.FindAllString(text, -1) {
			c.names = append(c.names, fmt.Sprintf("%s on %s", m, path))
		}
		for _, m := range linkRE.FindAllStringSubmatch(body, -1) {
			tag, href := m[0], html.UnescapeString(m[1])
			u, err := resp.Request.URL.Parse(href)
			if err != nil || u.Host != c.base.Host || u.Scheme != c.base.Scheme {
				continue // another site, or not a page
			}
			u.Fragment = ""
			target := u.RequestURI()
			if strings.HasPrefix(u.Path, "/api/") || strings.Contains(tag, " download") {
				c.checkDownload(path, target)
				continue
			}
			if c.seen[target] || c.shapes[shape(u)] >= crawlPerShape {
				continue
			}
			c.seen[target] = true
			c.shapes[shape(u)]++
			queue = append(queue, target)
		}
	}
}

// checkDownload fetches a link that leaves the pages: it must be a download.
func (c *crawler) checkDownload(from, target string) {
	if c.seen[target] {
		return
	}
	c.seen[target] = true
	resp, _ := c.get(target)
	switch {
	case resp.StatusCode >= 400:
		c.problems = append(c.problems, fmt.Sprintf("%s (linked from %s) answered %d", target, from, resp.StatusCode))
	case !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment"):
		c.problems = append(c.problems, fmt.Sprintf("%s links to %s, which is %s, not a download", from, target, resp.Header.Get("Content-Type")))
	}
}

// scriptErrors opens each page in Chromium as user and returns the script errors, the
// console's errors and the browser's log errors (a refused resource, a policy
// violation) with the page they came from.
func scriptErrors(t *testing.T, ctx context.Context, base, user string, pages []string) []string {
	t.Helper()
	step := 0
	b := newBrowser(t, ctx, "crawl-"+user, t.TempDir(), &step)
	var mu sync.Mutex
	var errs []string
	current := "/console/login"
	note := func(s string) {
		mu.Lock()
		errs = append(errs, s+" on "+current)
		mu.Unlock()
	}
	if err := chromedp.Listen(b.ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			note("exception: " + msg)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				note("console.error: " + strings.Join(parts, " "))
			}
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError {
				note("log: " + e.Entry.Text + " " + e.Entry.URL)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(b.ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("enable the log: %v", err)
	}
	b.login(base, user)
	for _, p := range pages {
		mu.Lock()
		current = p
		mu.Unlock()
		// Load and let the page's script start (the desk opens its event stream).
		b.do("open "+p, chromedp.Navigate(base+p), chromedp.WaitReady(chromedp.CSS("body")),
			chromedp.Evaluate[chromedp.Void](`new Promise(r => setTimeout(r, 50))`, chromedp.EvalAwaitPromise))
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(errs)
}

// TestConsoleCrawl logs in as each role of the demo city, follows every link reachable
// from its landing page (same site, bounded), and fails on an error page, a link into
// the API that is not a download, an account's "role:username" text where a person's or
// unit's name belongs, and, with Chromium, any script error on the pages it found.
func TestConsoleCrawl(t *testing.T) {
	cfg := testConfig(t, testEnv(t, ""))
	// Some hundred pages for four roles, then each in Chromium: more than startLongApp's
	// five minutes on a loaded machine.
	r := startAppFor(t, 12*time.Minute, cfg, WithDemo(), withShutdownTimeout(5*time.Second))
	// A day's work for the lists to show: tickets at the desk and with a department.
	opr := &auth.Principal{Name: "setup", Role: auth.RoleOperator}
	for _, in := range []tickets.NewTicket{
		{Content: "小区路灯不亮", Category: "TS-GN", Dispatch: &tickets.DispatchRequest{Departments: []string{"DSQ"}}},
		{Content: "暖气不热", Category: "TS-GN", Dispatch: &tickets.DispatchRequest{}},
		{Content: "社保卡怎么补办", Category: "ZX-SHBX", Citizen: tickets.NewCitizen{Phone: "13800001234"}},
	} {
		if _, err := r.app.domains.tickets.Create(context.Background(), opr, in); err != nil {
			t.Fatal(err)
		}
	}
	roles := []struct{ user, role string }{{"operator1", "operator"}, {"dsq", "department"}, {"supervisor1", "supervisor"}, {"admin", "admin"}}
	found := map[string][]string{}
	var names []string
	for _, ro := range roles {
		c := newCrawler(t, r.base)
		landing := c.login(ro.user)
		c.crawl(landing)
		t.Logf("%s (%s): %d pages from %s", ro.user, ro.role, len(c.pages), landing)
		for _, p := range c.problems {
			t.Errorf("%s: %s", ro.user, p)
		}
		if len(c.pages) < 3 {
			t.Errorf("%s reached only %v", ro.user, c.pages)
		}
		found[ro.user] = c.pages
		for _, n := range c.names {
			names = append(names, ro.user+": "+n)
		}
	}
	if len(names) > 0 {
		sort.Strings(names)
		names = slices.Compact(names)
		t.Errorf("%d account names shown where a person's or a unit's name belongs:\n%s", len(names), strings.Join(names, "\n"))
	}

	if _, err := os.Stat(chromiumPath); err != nil {
		dbtest.Unavailable(t, "Chromium", "apt-get install chromium fonts-wqy-microhei (scripts/test does it)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	for _, ro := range roles {
		for _, e := range scriptErrors(t, ctx, r.base, ro.user, found[ro.user]) {
			t.Errorf("%s: %s", ro.user, e)
		}
	}
}
