package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/live/livetest"
)

// testEnv is the environment a test's rexian runs with: a temp data folder, the run's
// database (SQLite or PostgreSQL, as REXIAN_TEST_DB says) and a free port.
func testEnv(t *testing.T, redisURL string) []string {
	t.Helper()
	return []string{
		"REXIAN_DATA_DIR=" + t.TempDir(),
		"REXIAN_DATABASE_URL=" + dbtest.URL(t),
		"REXIAN_REDIS_URL=" + redisURL,
		"REXIAN_ADDR=127.0.0.1:0",
	}
}

// testRedis returns the test Redis URL and a namespace whose keys are removed after t,
// skipping (or failing, under scripts/test) when Redis is unreachable.
func testRedis(t *testing.T) (url, namespace string) {
	t.Helper()
	s := livetest.Open(t)
	return livetest.URL(), s.Namespace
}

func testConfig(t *testing.T, environ []string) config.Config {
	t.Helper()
	cfg, err := config.Load(config.Source{Environ: environ})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	// The tests of everything else log admins and supervisors in with a password alone;
	// the second factor's own tests ask for it again (twoFactorConfig).
	cfg.Auth.TwoFactorRoles = nil
	return cfg
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// running is an App running in the background for one test.
type running struct {
	app  *App
	base string // http://127.0.0.1:PORT
	stop context.CancelFunc
	done chan struct{} // closed when Run has returned
	err  error         // what Run returned, once done is closed
}

// wait returns Run's result once it has returned.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(45 * time.Second):
		t.Fatal("App.Run did not return after its context was cancelled")
		return nil
	}
}

func startApp(t *testing.T, cfg config.Config, opts ...Option) *running {
	t.Helper()
	return startAppFor(t, 60*time.Second, cfg, opts...)
}

// startAppFor is startApp whose run lasts up to d (a browser scenario needs minutes).
func startAppFor(t *testing.T, d time.Duration, cfg config.Config, opts ...Option) *running {
	t.Helper()
	return startAppLogged(t, d, cfg, testLogger(t), opts...)
}

// startAppLogged is startAppFor with the App logging to log.
func startAppLogged(t *testing.T, d time.Duration, cfg config.Config, log *slog.Logger, opts ...Option) *running {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	app, err := NewApp(ctx, cfg, log, opts...)
	if err != nil {
		cancel()
		t.Fatalf("NewApp: %v", err)
	}
	r := &running{app: app, base: "http://" + app.Addr(), stop: cancel, done: make(chan struct{})}
	go func() {
		r.err = app.Run(ctx)
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		if err := r.wait(t); err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := app.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// get fetches url and returns the status and body.
func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeEndToEnd(t *testing.T) {
	redisURL, ns := testRedis(t)
	cfg := testConfig(t, testEnv(t, redisURL))
	r := startApp(t, cfg, withLiveNamespace(ns))

	if !strings.HasPrefix(r.app.Addr(), "127.0.0.1:") || strings.HasSuffix(r.app.Addr(), ":0") {
		t.Fatalf("Addr() = %q; want the bound port", r.app.Addr())
	}

	t.Run("healthz", func(t *testing.T) {
		status, body := get(t, r.base+"/healthz")
		if status != http.StatusOK || strings.TrimSpace(body) != `{"status":"ok"}` {
			t.Errorf("GET /healthz = %d %s", status, body)
		}
	})

	t.Run("readyz", func(t *testing.T) {
		status, body := get(t, r.base+"/readyz")
		var got struct {
			Status string
			Checks map[string]check
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("readyz body %q: %v", body, err)
		}
		if status != http.StatusOK || got.Status != "ok" || got.Checks["database"].Status != "ok" || got.Checks["redis"].Status != "ok" {
			t.Errorf("GET /readyz = %d %s", status, body)
		}
	})

	t.Run("unknown route is a JSON 404", func(t *testing.T) {
		status, body := get(t, r.base+"/api/v1/no-such-thing")
		var env struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal([]byte(body), &env); err != nil {
			t.Fatalf("body %q is not the envelope: %v", body, err)
		}
		if status != http.StatusNotFound || env.Error.Code != "no_route" || !strings.Contains(env.Error.Message, "/api/v1/no-such-thing") {
			t.Errorf("GET unknown = %d %s", status, body)
		}
	})

	t.Run("wrong method is a JSON 405", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, r.base+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(body), `"method_not_allowed"`) {
			t.Errorf("DELETE /healthz = %d %s", resp.StatusCode, body)
		}
	})

	t.Run("API needs a principal", func(t *testing.T) {
		status, body := get(t, r.base+"/api/v1/auth/me")
		if status != http.StatusUnauthorized {
			t.Errorf("GET /api/v1/auth/me without credentials = %d %s", status, body)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		var body string
		// The worker's first pass runs as the App starts; wait for it rather than sleep.
		eventually(t, "the overdue worker's first pass in /metrics", func() bool {
			_, body = get(t, r.base+"/metrics")
			return strings.Contains(body, `rexian_worker_runs_total{worker="tickets_overdue"}`)
		})
		for _, want := range []string{
			`rexian_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
			`rexian_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
			`rexian_http_request_duration_seconds_bucket{method="GET",route="/readyz",status="200"`,
			`rexian_tickets{status="registered"} 0`,
			`rexian_worker_last_success_timestamp_seconds{worker="tickets_overdue"}`,
			"go_goroutines ",
			"process_cpu_seconds_total ",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		if strings.Contains(body, `route="/api/v1/no-such-thing"`) {
			t.Error("/metrics labels a raw path; want the route template")
		}
	})

	r.stop()
	if err := r.wait(t); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
}

func TestReadyzWhenRedisIsDown(t *testing.T) {
	// A Redis of the test's own, so that it can be stopped without disturbing others.
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	redisAddr := m.Addr()
	cfg := testConfig(t, testEnv(t, "redis://"+redisAddr+"/0"))
	r := startApp(t, cfg)

	if status, body := get(t, r.base+"/readyz"); status != http.StatusOK {
		t.Fatalf("GET /readyz with Redis up = %d %s", status, body)
	}
	m.Close()
	var status int
	var body string
	eventually(t, "/readyz to report Redis down", func() bool {
		status, body = get(t, r.base+"/readyz")
		return status == http.StatusServiceUnavailable
	})
	var got struct {
		Status string
		Checks map[string]check
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if got.Status != "unavailable" || got.Checks["redis"].Status != "error" || got.Checks["database"].Status != "ok" {
		t.Errorf("GET /readyz with Redis down = %d %s", status, body)
	}
	// The answer names the failing check, not where the store is (anyone may ask).
	if host, port, _ := strings.Cut(redisAddr, ":"); strings.Contains(body, port) || strings.Contains(body, host) || strings.Contains(body, "dial") {
		t.Errorf("GET /readyz with Redis down tells the store's address or error: %s", body)
	}
	// Liveness does not depend on Redis: restarting the process would not bring it back.
	if status, _ := get(t, r.base+"/healthz"); status != http.StatusOK {
		t.Errorf("GET /healthz with Redis down = %d", status)
	}
}

func TestShutdownLetsInFlightRequestsFinish(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	slow := withRoutes(func(e *gin.Engine) {
		e.GET("/test/slow", func(c *gin.Context) {
			close(started)
			select {
			case <-release:
				c.String(http.StatusOK, "finished")
			case <-c.Request.Context().Done():
				c.String(http.StatusServiceUnavailable, "cut off")
			}
		})
	})
	cfg := testConfig(t, testEnv(t, "")) // embedded live store
	r := startApp(t, cfg, slow)

	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/test/slow", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{status: resp.StatusCode, body: string(b), err: err}
	}()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the slow request never reached its handler")
	}

	r.stop() // as SIGTERM would

	// New connections are refused once shutdown has begun…
	eventually(t, "the listener to close", func() bool {
		conn, err := net.DialTimeout("tcp", r.app.Addr(), time.Second)
		if err != nil {
			return true
		}
		conn.Close()
		return false
	})
	// …while Run still waits for the request in flight.
	select {
	case <-r.done:
		t.Fatalf("Run returned (%v) before the in-flight request finished", r.err)
	default:
	}

	close(release)
	got := <-res
	if got.err != nil || got.status != http.StatusOK || got.body != "finished" {
		t.Fatalf("in-flight request: %d %q %v; want 200 finished", got.status, got.body, got.err)
	}
	if err := r.wait(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestNewAppFailsCleanly(t *testing.T) {
	// Bind the port first, so that NewApp's listen fails after the database opened.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	env := append(testEnv(t, ""), "REXIAN_ADDR="+l.Addr().String())
	cfg := testConfig(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = NewApp(ctx, cfg, testLogger(t))
	if err == nil || !strings.Contains(err.Error(), "listen on "+l.Addr().String()) {
		t.Fatalf("NewApp on a taken port: %v", err)
	}
}

// runCLI runs rexian in process and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, environ []string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr, environ)
	return code, stdout.String(), stderr.String()
}

func TestTrustedProxies(t *testing.T) {
	echo := withRoutes(func(e *gin.Engine) {
		e.GET("/test/client", func(c *gin.Context) { c.String(http.StatusOK, c.ClientIP()) })
	})
	tests := []struct {
		name, proxies, want string
	}{
		{"none trusted: the header is ignored", "", "127.0.0.1"},
		{"loopback proxy trusted", "127.0.0.1", "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := append(testEnv(t, ""), "REXIAN_TRUSTED_PROXIES="+tt.proxies)
			r := startApp(t, testConfig(t, env), echo)
			if _, got := get(t, r.base+"/test/client", "X-Forwarded-For", "203.0.113.9"); got != tt.want {
				t.Errorf("client address %q, want %q", got, tt.want)
			}
		})
	}
}

// TestEveryRouteIsDocumented checks the assembled route table against the OpenAPI
// document served at /api/v1/openapi.json: only here are all surfaces mounted together.
func TestEveryRouteIsDocumented(t *testing.T) {
	r := startApp(t, testConfig(t, testEnv(t, "")))
	status, body := get(t, r.base+"/api/v1/openapi.json")
	if status != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json = %d", status)
	}
	var doc struct {
		Servers []struct{ URL string }
		Paths   map[string]map[string]any
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	// The document's paths are relative to its server URL.
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "/api/v1" {
		t.Fatalf("servers %+v; want the one /api/v1", doc.Servers)
	}
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	checked := 0
	for _, route := range r.app.engine.Routes() {
		if !strings.HasPrefix(route.Path, "/api/v1/") {
			continue
		}
		checked++
		path := param.ReplaceAllString(strings.TrimPrefix(route.Path, "/api/v1"), "{$1}")
		ops, ok := doc.Paths[path]
		if !ok {
			t.Errorf("%s %s is not in the OpenAPI document (as %s)", route.Method, route.Path, path)
			continue
		}
		op, ok := ops[strings.ToLower(route.Method)].(map[string]any)
		if !ok {
			t.Errorf("%s %s: the OpenAPI document has %s but not this method", route.Method, route.Path, path)
			continue
		}
		// The scope a token needs is documented as the middleware enforces it.
		want := auth.RouteScope(route.Method, route.Path)
		if want == "" {
			want = "none"
		}
		if got, _ := op["x-scope"].(string); got != want {
			t.Errorf("%s %s: x-scope %q in the OpenAPI document; a token needs %q", route.Method, route.Path, got, want)
		}
	}
	if checked < 10 {
		t.Errorf("only %d API routes mounted; is a surface missing?", checked)
	}
}
