package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"gorm.io/gorm"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/dashboards"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/tickets"
)

// TestPrimaryStandby runs rexian on a primary/standby pair of real PostgreSQL servers
// (the standby made with pg_basebackup, streaming): database_url lists an address that
// refuses, the standby and the primary with target_session_attrs=read-write, and rexian
// must write to the primary; database_read_url names the standby, and the supervisors'
// figures and the spreadsheet export must read there — shown by pausing the standby's
// replay: a ticket registered meanwhile is missing from both until replay resumes.
func TestPrimaryStandby(t *testing.T) {
	if dbtest.Kind() != database.Postgres {
		t.Skip("a primary/standby pair is PostgreSQL's; this test runs in the PostgreSQL run (REXIAN_TEST_DB=postgres)")
	}
	primary := dbtest.StartPostgres(t)
	standby := primary.StartStandby(t)
	refused := closedPort(t)
	hosts := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", refused, standby.Port(), primary.Port())
	env := []string{
		"REXIAN_DATA_DIR=" + t.TempDir(),
		"REXIAN_DATABASE_URL=postgres://postgres@" + hosts + "/postgres?sslmode=disable&target_session_attrs=read-write&connect_timeout=5",
		"REXIAN_DATABASE_READ_URL=" + standby.URL(),
		"REXIAN_REDIS_URL=",
		"REXIAN_ADDR=127.0.0.1:0",
	}
	if code, _, stderr := runCLI(t, env, "", "seed", "--demo"); code != exitOK {
		t.Fatalf("seed --demo through the multi-host URL: exit %d: %s", code, stderr)
	}
	r := startApp(t, testConfig(t, env))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for _, c := range []struct {
		name     string
		db       *gorm.DB
		port     int
		recovery bool
	}{{"database_url", r.app.db, primary.Port(), false}, {"database_read_url", r.app.domains.read, standby.Port(), true}} {
		var s struct {
			Port     int
			Recovery bool
		}
		if err := c.db.WithContext(ctx).Raw(`SELECT inet_server_port() AS port, pg_is_in_recovery() AS recovery`).Scan(&s).Error; err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if s.Port != c.port || s.Recovery != c.recovery {
			t.Errorf("%s reaches port %d (in recovery %v); want %d (in recovery %v)", c.name, s.Port, s.Recovery, c.port, c.recovery)
		}
	}

	store := r.app.domains.tickets
	opr := &auth.Principal{Name: "operator1", Role: auth.RoleOperator}
	register := func(what string) string {
		t.Helper()
		v, err := store.Create(ctx, opr, tickets.NewTicket{Channel: tickets.ChannelPhone,
			Citizen: tickets.NewCitizen{Name: "张三", Phone: "13900001111"}, Content: what, Category: "TS-GN"})
		if err != nil {
			t.Fatalf("register a ticket on the primary: %v", err)
		}
		return v.Number
	}
	sup := &auth.Principal{Name: "supervisor1", Role: auth.RoleSupervisor}
	accepted := func() int64 {
		t.Helper()
		p, err := dashboards.PeriodOf(dashboards.PeriodToday, time.Now(), "", "", r.app.cfg.Location())
		if err != nil {
			t.Fatal(err)
		}
		fs, err := r.app.domains.dashboards.Figures(ctx, sup, p, dashboards.GroupNone)
		if err != nil {
			t.Fatalf("figures: %v", err)
		}
		return fs.Total.Accepted
	}
	c := newCrawler(t, r.base)
	c.login("supervisor1")
	exported := func() []string { t.Helper(); return exportedColumn(t, c, r.base+"/console/export/tickets") }

	first := register("路灯不亮（主库写入，备库可见）")
	eventually(t, "the standby to replay the first ticket", func() bool { return accepted() == 1 })
	if got := exported(); !slices.Contains(got, first) {
		t.Fatalf("export %v lacks %s after replay", got, first)
	}

	// Hold the standby still: what is registered now is on the primary only.
	sdb := dbtest.OpenURL(t, standby.URL())
	if err := sdb.WithContext(ctx).Exec(`SELECT pg_wal_replay_pause()`).Error; err != nil {
		t.Fatal(err)
	}
	second := register("井盖缺失（备库暂停回放）")
	var onPrimary int64
	if err := r.app.db.WithContext(ctx).Model(&tickets.Ticket{}).Count(&onPrimary).Error; err != nil || onPrimary != 2 {
		t.Fatalf("tickets on the primary: %d, %v; want 2", onPrimary, err)
	}
	if n := accepted(); n != 1 {
		t.Errorf("figures count %d accepted while the standby is paused; want 1: they do not read the standby", n)
	}
	if got := exported(); slices.Contains(got, second) {
		t.Errorf("export holds %s while the standby is paused: it does not read the standby", second)
	}
	if err := sdb.WithContext(ctx).Exec(`SELECT pg_wal_replay_resume()`).Error; err != nil {
		t.Fatal(err)
	}
	eventually(t, "the figures to catch up once replay resumes", func() bool { return accepted() == 2 })
	if got := exported(); !slices.Contains(got, second) {
		t.Errorf("export %v lacks %s after replay resumed", got, second)
	}

	// The surveys export reads the standby too: a survey made while replay is paused is
	// not in it until replay resumes.
	if err := sdb.WithContext(ctx).Exec(`SELECT pg_wal_replay_pause()`).Error; err != nil {
		t.Fatal(err)
	}
	answered, err := store.Create(ctx, opr, tickets.NewTicket{Channel: tickets.ChannelPhone,
		Citizen: tickets.NewCitizen{Name: "李四", Phone: "13900002222"}, Content: "社保关系怎么转移", Category: "ZX-SHBX",
		Answer: "请携带身份证到市社保中心窗口办理转移手续。"})
	if err != nil {
		t.Fatalf("answer a consultation on the primary: %v", err)
	}
	if _, err := r.app.domains.callback.ScheduleOnce(ctx); err != nil {
		t.Fatalf("schedule its survey on the primary: %v", err)
	}
	surveys := func() []string { t.Helper(); return exportedColumn(t, c, r.base+"/console/export/surveys") }
	if got := surveys(); slices.Contains(got, answered.Number) {
		t.Errorf("the surveys export holds %s's survey while the standby is paused: it does not read the standby", answered.Number)
	}
	if err := sdb.WithContext(ctx).Exec(`SELECT pg_wal_replay_resume()`).Error; err != nil {
		t.Fatal(err)
	}
	eventually(t, "the surveys export to show the survey once replay resumes", func() bool {
		return slices.Contains(surveys(), answered.Number)
	})
}

// exportedColumn downloads a console export as c and returns its first column below the
// header.
func exportedColumn(t *testing.T, c *crawler, url string) []string {
	t.Helper()
	resp, err := c.client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export %s: %d %s", url, resp.StatusCode, body)
	}
	f, err := excelize.OpenReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("export %s is no workbook: %v", url, err)
	}
	defer f.Close()
	rows, err := f.GetRows(f.GetSheetName(0))
	if err != nil {
		t.Fatal(err)
	}
	var first []string
	for _, row := range rows[1:] {
		if len(row) > 0 {
			first = append(first, row[0])
		}
	}
	return first
}

// closedPort is a loopback port nothing listens on: connections to it are refused.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// TestThreeNodesBehindHAProxy is the several-nodes picture: three `rexian serve`
// processes on one PostgreSQL and one Redis, behind a real HAProxy that health-checks
// /readyz. Writers register tickets through HAProxy; one instance is killed with SIGKILL
// in the middle. Every ticket whose registration was answered 2xx must be in the database,
// clients may see at most the requests in flight on the killed instance fail, and the
// background workers must carry on on the others (a ticket made overdue after the kill is
// marked by a surviving instance's sweeper).
func TestThreeNodesBehindHAProxy(t *testing.T) {
	if dbtest.Kind() != database.Postgres {
		t.Skip("several instances share one database only on PostgreSQL (SQLite is one file on one node); this test runs in the PostgreSQL run (REXIAN_TEST_DB=postgres)")
	}
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		dbtest.Unavailable(t, "haproxy", "apt-get install haproxy (scripts/test does)", err)
	}
	redisServer, err := exec.LookPath("redis-server")
	if err != nil {
		dbtest.Unavailable(t, "redis-server", "apt-get install redis-server", err)
	}
	env, tokens := seedWithTokens(t, []string{"operator"})
	dir := t.TempDir()
	bin := filepath.Join(dir, "rexian")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ports := make([]int, 5) // three instances, Redis, HAProxy
	for i := range ports {
		ports[i] = closedPort(t)
	}
	// A Redis of the test's own: the instances use rexian's own key namespace, which
	// must not meet other tests' keys.
	startLogged(t, dir, "redis", nil, redisServer, "--bind", "127.0.0.1", "--port", strconv.Itoa(ports[3]),
		"--save", "", "--appendonly", "no", "--dir", dir)
	nodeEnv := append(append(os.Environ(), env...), "REXIAN_REDIS_URL=redis://127.0.0.1:"+strconv.Itoa(ports[3])+"/0",
		"REXIAN_LOG_LEVEL=warn", "REXIAN_WORKERS_OVERDUE_INTERVAL=1s")
	nodes := make([]*exec.Cmd, 3)
	for i := range nodes {
		nodes[i] = startLogged(t, dir, fmt.Sprintf("node%d", i+1), append(nodeEnv, "REXIAN_ADDR=127.0.0.1:"+strconv.Itoa(ports[i])), bin, "serve")
	}
	for i := range nodes {
		eventually(t, fmt.Sprintf("instance %d to be ready", i+1), func() bool { return answers(fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[i])) })
	}
	cfg := fmt.Sprintf(`global
	maxconn 2000
defaults
	mode http
	timeout connect 2s
	timeout client 30s
	timeout server 30s
	# A connection refused by a dead instance is tried on another: the request was
	# never sent, so even a POST may be.
	retries 3
	option redispatch
frontend hotline
	bind 127.0.0.1:%d
	default_backend rexian
backend rexian
	balance roundrobin
	option httpchk GET /readyz
	http-check expect status 200
	default-server inter 500ms fall 2 rise 2
	server n1 127.0.0.1:%d check
	server n2 127.0.0.1:%d check
	server n3 127.0.0.1:%d check
`, ports[4], ports[0], ports[1], ports[2])
	cfgFile := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startLogged(t, dir, "haproxy", nil, haproxy, "-db", "-f", cfgFile)
	base := fmt.Sprintf("http://127.0.0.1:%d", ports[4])
	eventually(t, "HAProxy to answer", func() bool { return answers(base + "/readyz") })

	// The load: writers registering tickets, each with at most one request in flight.
	const writers, perWriter = 8, 60
	client := &http.Client{Timeout: 30 * time.Second}
	var (
		mu       sync.Mutex
		accepted []string
		failures []string
		done     atomic.Int64
	)
	killAt := int64(writers * perWriter / 3)
	killed := make(chan time.Time, 1)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				body := fmt.Sprintf(`{"citizen":{"name":"李女士","phone":"139%04d%04d"},"content":"多节点演练 写入者%d 第%d件：路灯不亮","category":"TS-GN"}`, w, i, w, i)
				req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/tickets", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", tokens["operator"])
				resp, err := client.Do(req)
				var number string
				if err == nil {
					var v struct{ Number string }
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode/100 == 2 && json.Unmarshal(b, &v) == nil && v.Number != "" {
						number = v.Number
					} else {
						err = fmt.Errorf("%d %s", resp.StatusCode, bytes.TrimSpace(b))
					}
				}
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else {
					accepted = append(accepted, number)
				}
				mu.Unlock()
				if done.Add(1) == killAt {
					if err := nodes[1].Process.Signal(syscall.SIGKILL); err != nil {
						t.Errorf("kill instance 2: %v", err)
					}
					killed <- time.Now()
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	killTime := <-killed
	t.Logf("%d registrations through HAProxy in %s (%.0f/s) with instance 2 killed (SIGKILL) after %d: %d accepted, %d failed",
		writers*perWriter, elapsed.Round(time.Millisecond), float64(writers*perWriter)/elapsed.Seconds(), killAt, len(accepted), len(failures))
	for _, f := range failures {
		t.Logf("failed: %s", f)
	}
	if len(failures) > writers {
		t.Errorf("%d requests failed; at most the %d in flight on the killed instance may", len(failures), writers)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err := database.Open(ctx, envValue(env, "REXIAN_DATABASE_URL"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	var stored []string
	if err := db.WithContext(ctx).Model(&tickets.Ticket{}).Pluck("number", &stored).Error; err != nil {
		t.Fatal(err)
	}
	var lost []string
	for _, n := range accepted {
		if !slices.Contains(stored, n) {
			lost = append(lost, n)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d tickets answered 2xx are not in the database: %v", len(lost), lost)
	}
	if len(stored) < len(accepted) || len(stored) > len(accepted)+len(failures) {
		t.Errorf("%d tickets stored for %d accepted and %d failed registrations", len(stored), len(accepted), len(failures))
	}

	// The workers carry on without instance 2: a ticket past its deadline now is marked
	// overdue by whichever survivor's sweeper holds the lock.
	if len(accepted) == 0 {
		t.Fatal("nothing was accepted")
	}
	late := accepted[len(accepted)-1]
	if err := db.WithContext(ctx).Exec(`UPDATE tickets SET due_at = ? WHERE number = ?`, time.Now().Add(-time.Hour), late).Error; err != nil {
		t.Fatal(err)
	}
	eventually(t, "a surviving instance to mark the ticket overdue", func() bool {
		var overdue bool
		return db.WithContext(ctx).Raw(`SELECT overdue FROM tickets WHERE number = ?`, late).Scan(&overdue).Error == nil && overdue
	})
	var events int64
	if err := db.WithContext(ctx).Raw(`SELECT COUNT(*) FROM events e JOIN tickets t ON t.id = e.ticket_id WHERE t.number = ? AND e.action = 'overdue'`, late).Scan(&events).Error; err != nil || events != 1 {
		t.Errorf("overdue events of %s: %d, %v; want exactly 1 (one sweeper, not two)", late, events, err)
	}
	t.Logf("overdue marked %s after the kill; HAProxy still answers: %v", time.Since(killTime).Round(time.Millisecond), answers(base+"/readyz"))
}

// answers reports whether GET url is answered 200.
func answers(url string) bool {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// startLogged starts bin with args (and env, when not nil) logging into dir/name.log,
// killed when t ends; the log's end is shown when t failed.
func startLogged(t *testing.T, dir, name string, env []string, bin string, args ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("%s log (end):\n%s", name, b)
		}
	})
	return cmd
}
