package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/ivr/asterisktest"
)

// privateRedis starts a Redis of the test's own (the two rexian processes share it and
// use the default key namespace, which a shared Redis would mix with other tests').
func privateRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		dbtest.Unavailable(t, "redis-server", "apt-get install redis-server", err)
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--dir", t.TempDir(), "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually(t, "the test's Redis to answer", func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return "redis://" + addr + "/0"
}

// serveProcess is `rexian serve` as a process of its own, so that it can be killed -9.
type serveProcess struct {
	cmd  *exec.Cmd
	base string
	log  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestMain runs rexian itself when a test starts this test binary as `rexian`
// (rexianBinary), so that tests which kill -9 a process need no build of their own.
func TestMain(m *testing.M) {
	if os.Getenv("REXIAN_TEST_RUN_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// rexianBinary returns a program that runs as the rexian binary does: this test binary,
// told by its environment to run main (startServe sets it).
func rexianBinary(t *testing.T) string {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// startServe runs `rexian serve` with env and the further args (--config FILE).
func startServe(t *testing.T, bin string, env []string, args ...string) *serveProcess {
	t.Helper()
	addr := freeAddr(t)
	p := &serveProcess{base: "http://" + addr, log: &lockedBuffer{}}
	p.cmd = exec.Command(bin, append([]string{"serve"}, args...)...)
	p.cmd.Env = append(slices.Clone(env), "REXIAN_ADDR="+addr, "REXIAN_TEST_RUN_MAIN=1")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		// Under go test -race the process is a race-enabled binary too.
		if strings.Contains(p.log.String(), "WARNING: DATA RACE") {
			t.Errorf("rexian %s reported a data race", addr)
		}
		if t.Failed() {
			t.Logf("log of rexian %s:\n%s", addr, lastLines(p.log.String(), 60))
		}
	})
	return p
}

// startProcess returns how to start rexian attached to tel's Asterisk as a process of its
// own (the configuration changed by mod, given as a --config file; tel.env on top), and
// how to kill it with SIGKILL. start returns once the controller is up.
func (tel *telephony) startProcess(t *testing.T, mod func(*config.Config)) (start, kill func()) {
	t.Helper()
	cfg := testConfig(t, tel.env)
	if mod != nil {
		mod(&cfg)
	}
	doc, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "rexian.yaml")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	bin := rexianBinary(t)
	env := append(append(os.Environ(), tel.env...), "REXIAN_LOG_LEVEL=info")
	start = func() {
		tel.proc = startServe(t, bin, env, "--config", file)
		poll(t, 60*time.Second, "rexian controls the telephone", func() bool { return tel.proc.role() == ivr.RoleActive })
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := tel.ast.WaitApp(ctx, cfg.ARI.App); err != nil {
			t.Fatal(err)
		}
	}
	kill = func() {
		if err := tel.proc.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = tel.proc.cmd.Wait()
	}
	return start, kill
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// role is what the process's /readyz says it is for the telephone ("" when it does not
// answer).
func (p *serveProcess) role() ivr.Role {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(p.base + "/readyz")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var body struct {
		IVR struct{ Role ivr.Role } `json:"ivr"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
		return ""
	}
	return body.IVR.Role
}

func (p *serveProcess) call(t *testing.T, token, method, path, body string, out any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, p.base+"/api/v1"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %d, body not JSON: %v", method, path, resp.StatusCode, err)
		}
	}
	return resp.StatusCode
}

func (p *serveProcess) snapshot(t *testing.T, token string) ivr.Snapshot {
	t.Helper()
	var s ivr.Snapshot
	if code := p.call(t, token, "GET", "/ivr/live", "", &s); code != http.StatusOK {
		return ivr.Snapshot{}
	}
	return s
}

// poll waits for cond, checking every 100 ms, up to d.
func poll(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAsteriskHotStandby runs two `rexian serve` processes with ari.standby on one
// Asterisk and one Redis: one controls the calls, the other stands by. Two citizens talk
// to operators (SIPp phones 8001 and 8002) and ten wait in the queue; the active process
// is killed with SIGKILL. The standby takes over: the conversations stay up with their
// operators, the ten keep their queue and order and the first two are later put through
// to the operators, and every call has one record, closed with the end it reached. The
// time from the kill to the standby's control and to the queue's re-adoption is logged,
// and so is what the ten heard: Asterisk keeps playing the music on hold to channels in
// Stasis when the app's socket drops, so a caller on hold hears no gap; one whom the kill
// caught between two prompts hears silence until the take-over. None may hear over 5 s.
func TestAsteriskHotStandby(t *testing.T) {
	t.Parallel()
	tel := startAsterisk(t, asterisktest.Options{})
	redisURL := privateRedis(t)
	tokens := map[string]string{}
	for _, name := range []string{"op1", "op2"} {
		code, tok, stderr := runCLI(t, tel.env, "", "tokens", "create", "--name", name, "--role", "operator", "--scope", "*")
		if code != exitOK {
			t.Fatalf("tokens create: %s", stderr)
		}
		tokens[name] = "Bearer " + strings.TrimSpace(tok)
	}
	sup := tel.tokens["supervisor"]
	bin := rexianBinary(t)
	env := append(append(os.Environ(), tel.env...),
		"REXIAN_REDIS_URL="+redisURL, "REXIAN_ARI_STANDBY=true", "REXIAN_LOG_LEVEL=info") // the shipped lease_ttl
	a := startServe(t, bin, env)
	poll(t, 60*time.Second, "the first instance controls the node", func() bool { return a.role() == ivr.RoleActive })
	b := startServe(t, bin, env)
	poll(t, 60*time.Second, "the second instance stands by", func() bool { return b.role() == ivr.RoleStandby })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := tel.ast.WaitApp(ctx, "hotline"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(a.log.String()+b.log.String(), "ApplicationReplaced") || strings.Contains(a.log.String(), "another controller connected") {
		t.Error("the two instances fought over the Stasis app")
	}

	// The operators log in: one on the active instance, one on the standby (which
	// passes the login on through Redis).
	phones := map[string]*asterisktest.Phone{}
	for _, n := range []string{"8001", "8002"} {
		ph, err := tel.ast.Register(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		phones[n] = ph
	}
	if code := a.call(t, tokens["op1"], "POST", "/ivr/agents/me/login", `{"phone":"PJSIP/8001"}`, nil); code != http.StatusOK {
		t.Fatalf("op1 login on the active instance: %d", code)
	}
	if code := b.call(t, tokens["op2"], "POST", "/ivr/agents/me/login", `{"phone":"PJSIP/8002"}`, nil); code != http.StatusAccepted {
		t.Fatalf("op2 login on the standby: %d, want 202 (passed on)", code)
	}
	poll(t, 30*time.Second, "both operators are ready on the active instance", func() bool {
		return len(a.snapshot(t, sup).Agents) == 2
	})
	// Each phone takes the conversation and, after the take-over, one waiting caller.
	answered := map[string]chan asterisktest.Result{}
	for n, ph := range phones {
		ch := make(chan asterisktest.Result, 1)
		answered[n] = ch
		go func() { ch <- ph.Answer(ctx, 2, 300*time.Millisecond) }()
	}

	talkers := []string{"13900000001", "13900000002"}
	var queued []string
	for i := range 10 {
		queued = append(queued, "1390000"+strconv.Itoa(1000+i))
	}
	results := make(chan asterisktest.Result, 2)
	go func() {
		results <- tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{
			asterisktest.Silence(500 * time.Millisecond), asterisktest.Press("1"), asterisktest.Speak(40 * time.Second),
		}}, talkers...)
	}()
	poll(t, 60*time.Second, "both operators talk", func() bool {
		busy := 0
		for _, ag := range a.snapshot(t, sup).Agents {
			if ag.State == ivr.AgentBusy {
				busy++
			}
		}
		return busy == 2
	})
	// What the ten hear is measured beside their SIPp (a raw socket, root only).
	ear, earErr := tel.ast.NewEar()
	queuedCall := asterisktest.Citizen{Steps: []asterisktest.Step{
		asterisktest.Silence(500 * time.Millisecond), asterisktest.Press("1"), asterisktest.Silence(80 * time.Second),
	}}
	if earErr == nil {
		queuedCall.MediaPort = ear.Port()
	} else if os.Getenv("REXIAN_TEST_REQUIRE_SERVICES") != "" {
		t.Fatal(earErr)
	} else {
		t.Logf("what queued callers hear is not measured: %v", earErr)
	}
	go func() { results <- tel.ast.Carrier(ctx, queuedCall, queued...) }()
	var before ivr.Snapshot
	poll(t, 60*time.Second, "ten callers wait", func() bool {
		before = a.snapshot(t, sup)
		return len(before.Waiting) == 10
	})
	allWaiting := time.Now()
	if earErr == nil {
		// A baseline: what they hear in the queue before anything goes wrong.
		poll(t, 10*time.Second, "the queue has played for two seconds", func() bool { return time.Since(allWaiting) > 2*time.Second })
	}
	// The standby shows the active instance's picture and says it stands by.
	if onB := b.snapshot(t, sup); len(onB.Waiting) != 10 || len(onB.Roles) != 1 || onB.Roles[0].Role != ivr.RoleStandby {
		t.Errorf("the standby's live picture: %d waiting, roles %+v; want 10 and standby", len(onB.Waiting), onB.Roles)
	}
	busyWith := map[string]uint64{}
	for _, ag := range before.Agents {
		busyWith[ag.User] = ag.CallID
	}

	killed := time.Now()
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	poll(t, 60*time.Second, "the standby takes over", func() bool { return b.role() == ivr.RoleActive })
	active := time.Since(killed)
	var after ivr.Snapshot
	poll(t, 60*time.Second, "the ten callers wait on the new active instance", func() bool {
		after = b.snapshot(t, sup)
		return len(after.Waiting) == 10
	})
	adopted := time.Since(killed)
	t.Logf("kill -9 of the active instance (lease ttl 3s, %d cores): the standby controlled the node after %s, the queue was re-adopted after %s",
		runtime.NumCPU(), active.Round(time.Millisecond), adopted.Round(time.Millisecond))
	if earErr == nil {
		// The take-over, and a while after it for whatever the new controller does to
		// the calls it adopts (music restarted, say).
		poll(t, 10*time.Second, "three seconds after the re-adoption", func() bool { return time.Since(killed) > adopted+3*time.Second })
		checkSilences(t, ear, allWaiting, killed, time.Now(), len(queued))
	}

	key := func(ws []ivr.Waiting) []string {
		var out []string
		for _, w := range ws {
			// PostgreSQL keeps microseconds: the re-adopted arrival times come from it.
			out = append(out, w.Key+"@"+w.Since.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano))
		}
		return out
	}
	if !slices.Equal(key(before.Waiting), key(after.Waiting)) {
		t.Errorf("the queue changed in the take-over:\nbefore %v\nafter  %v", key(before.Waiting), key(after.Waiting))
	}
	for _, ag := range after.Agents {
		if ag.State != ivr.AgentBusy || ag.CallID != busyWith[ag.User] {
			t.Errorf("operator %s after the take-over: %s with call %d, want busy with %d", ag.User, ag.State, ag.CallID, busyWith[ag.User])
		}
	}
	if len(after.Roles) != 1 || after.Roles[0].Role != ivr.RoleActive {
		t.Errorf("roles after the take-over: %+v, want active", after.Roles)
	}
	if len(after.Agents) != 2 {
		t.Errorf("%d operators after the take-over, want 2", len(after.Agents))
	}

	// The calls run their course: the conversations end when the citizens hang up, and
	// the operators take the two callers who waited longest.
	for range 2 {
		if r := <-results; r.Err != nil {
			t.Errorf("citizens: %v\n%s", r.Err, lastLines(r.Output, 30))
		}
	}
	for n, ch := range answered {
		if r := <-ch; r.Err != nil {
			t.Errorf("phone %s: %v\n%s", n, r.Err, lastLines(r.Output, 30))
		}
	}

	first := map[string]bool{}
	for _, w := range before.Waiting[:2] {
		first[w.Caller] = true
	}
	for _, c := range append(slices.Clone(talkers), queued...) {
		var page struct{ Calls []ivr.Record }
		var recs []ivr.Record
		poll(t, 60*time.Second, "the record of "+c+" is closed", func() bool {
			b.call(t, sup, "GET", "/ivr/calls?caller="+c, "", &page)
			recs = page.Calls
			return len(recs) > 0 && recs[0].EndedAt != nil
		})
		if len(recs) != 1 {
			t.Errorf("%s: %d call records, want 1: %+v", c, len(recs), recs)
			continue
		}
		rec := recs[0]
		talker := slices.Contains(talkers, c)
		switch {
		case talker && (rec.Outcome != ivr.OutcomeAnswered || rec.Operator == ""):
			t.Errorf("conversation of %s: %q by %q, want answered", c, rec.Outcome, rec.Operator)
		case !talker && first[maskedOrPlain(c, before.Waiting)] && rec.Outcome != ivr.OutcomeAnswered:
			t.Errorf("%s waited longest and was not put through after the take-over: %q", c, rec.Outcome)
		case !talker && !first[maskedOrPlain(c, before.Waiting)] && rec.Outcome != ivr.OutcomeAbandonedQueue && rec.Outcome != ivr.OutcomeAnswered:
			t.Errorf("%s left the queue with %q, want abandoned_queue", c, rec.Outcome)
		}
	}
}

// checkSilences logs what each of n queued callers heard before the kill (from waiting
// until killed) and through the take-over (from killed until end), and fails the test when
// one heard no audio or a silence over the target of 5 s during the take-over.
func checkSilences(t *testing.T, ear *asterisktest.Ear, waiting, killed, end time.Time, n int) {
	t.Helper()
	const target = 5 * time.Second
	before, during := ear.Heard(waiting, killed), ear.Heard(killed, end)
	if len(during) != n {
		t.Errorf("%d of the %d queued callers heard audio through the take-over", len(during), n)
	}
	var load string
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	longestBefore := time.Duration(0)
	for _, h := range before {
		longestBefore = max(longestBefore, h.Silence)
	}
	var figures []string
	for _, h := range during {
		figures = append(figures, fmt.Sprintf("%s from +%s", h.Silence.Round(10*time.Millisecond), h.At.Sub(killed).Round(10*time.Millisecond)))
		if h.Silence > target {
			t.Errorf("a queued caller (Asterisk port %d) heard %s of silence from %s after the kill, over the %s target",
				h.Source, h.Silence.Round(time.Millisecond), h.At.Sub(killed).Round(time.Millisecond), target)
		}
	}
	t.Logf("queued callers' longest silence (%d cores, load %s): over %s before the kill %s; over %s from the kill: %s",
		runtime.NumCPU(), load, killed.Sub(waiting).Round(time.Millisecond), longestBefore.Round(10*time.Millisecond),
		end.Sub(killed).Round(time.Millisecond), strings.Join(figures, ", "))
}

// maskedOrPlain finds how the live picture names caller c (the picture may mask numbers).
func maskedOrPlain(c string, ws []ivr.Waiting) string {
	for _, w := range ws {
		if w.Caller == c || (len(w.Caller) == len(c) && w.Caller[:3] == c[:3] && w.Caller[len(c)-4:] == c[len(c)-4:]) {
			return w.Caller
		}
	}
	return fmt.Sprint("unknown:", c)
}

// TestStandbyNeedsASharedRedis: ari.standby with the embedded live store, which no other
// instance can see, refuses to start and names the key.
func TestStandbyNeedsASharedRedis(t *testing.T) {
	env := append(testEnv(t, ""), "REXIAN_ARI_URL=http://127.0.0.1:1", "REXIAN_ARI_STANDBY=true")
	cfg := testConfig(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	app, err := NewApp(ctx, cfg, testLogger(t))
	if err == nil {
		app.Close()
		t.Fatal("ari.standby with the embedded live store started")
	}
	if !strings.Contains(err.Error(), "ari.standby") || !strings.Contains(err.Error(), "redis_url") {
		t.Errorf("error %q does not name ari.standby and redis_url", err)
	}
}
