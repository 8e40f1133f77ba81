package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/auth/authtest"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/live/livetest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

// start is on a 15-minute boundary, so that the login windows line up with the steps
// the tests take.
var start = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// env is a service on a fresh database, mounted the way the composition root mounts it.
type env struct {
	svc    *auth.Service
	db     *gorm.DB
	clock  *clock
	router *gin.Engine
	logs   *lockedBuffer
	audit  *audit.Log
}

var departments = authtest.Departments{"zjj": 7, "gaj": 9}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, livetest.Open(t), nil)
}

func newEnvWith(t *testing.T, store *live.Store, modify func(*auth.Options)) *env {
	t.Helper()
	e := &env{db: dbtest.Open(t, auth.Migrations(), audit.Migrations()), clock: &clock{t: start}, logs: &lockedBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.audit = audit.New(e.db, audit.Options{Now: e.clock.Now, Log: log,
		ActorOf: func(ctx context.Context) string { return auth.FromContext(ctx).Actor() }})
	opts := auth.Options{Now: e.clock.Now, Log: log, Departments: departments, Passwords: authtest.Passwords, Audit: e.audit}
	if modify != nil {
		modify(&opts)
	}
	e.svc = auth.NewService(e.db, store, opts)
	e.router = gin.New()
	e.router.Use(api.Recovery(log), audit.Middleware())
	v1 := e.router.Group("/api/v1", e.svc.Middleware())
	e.svc.Routes(v1)
	v1.GET("/public", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"anonymous": auth.Current(c) == nil})
	})
	return e
}

// request is one HTTP request to the router.
type request struct {
	method, path, body string
	session            string // value of the session cookie
	csrf               string
	bearer             string
	header             map[string]string
	remoteAddr         string
}

func (e *env) do(t *testing.T, r request) *httptest.ResponseRecorder {
	t.Helper()
	var body *strings.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(r.method, r.path, body)
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.session != "" {
		req.AddCookie(&http.Cookie{Name: auth.CookieName, Value: r.session})
	}
	if r.csrf != "" {
		req.Header.Set(auth.CSRFHeader, r.csrf)
	}
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	if r.remoteAddr != "" {
		req.RemoteAddr = r.remoteAddr
	}
	rec := httptest.NewRecorder()
	e.router.ServeHTTP(rec, req)
	return rec
}

// errorOf decodes the error envelope.
func errorOf(t *testing.T, rec *httptest.ResponseRecorder) api.BodyError {
	t.Helper()
	var b api.Body
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q: %v", rec.Body.String(), err)
	}
	return b.Error
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	return v
}

// userBody is a user as a client reads it.
type userBody struct {
	ID           uint    `json:"id"`
	Username     string  `json:"username"`
	DisplayName  string  `json:"display_name"`
	Role         string  `json:"role"`
	DepartmentID *uint   `json:"department_id"`
	Disabled     bool    `json:"disabled"`
	CreatedAt    string  `json:"created_at"`
	UpdatedAt    string  `json:"updated_at"`
	LastLoginAt  *string `json:"last_login_at"`
}

type sessionBody struct {
	User      userBody `json:"user"`
	CSRFToken string   `json:"csrf_token"`
	ExpiresAt string   `json:"expires_at"`
}

// session is what a browser holds after logging in.
type session struct {
	token, csrf string
}

const password = "correct horse battery"

func (e *env) createUser(t *testing.T, username string, role auth.Role, dept string) *auth.User {
	t.Helper()
	u, err := e.svc.CreateUser(context.Background(), auth.NewUser{
		Username: username, DisplayName: strings.ToUpper(username), Role: role, DepartmentCode: dept, Password: password,
	})
	if err != nil {
		t.Fatalf("create user %s: %v", username, err)
	}
	return u
}

func (e *env) login(t *testing.T, username, pw string) session {
	t.Helper()
	rec := e.do(t, request{method: "POST", path: "/api/v1/auth/login",
		body: `{"username":"` + username + `","password":"` + pw + `"}`})
	if rec.Code != http.StatusOK {
		t.Fatalf("login %s: %d %s", username, rec.Code, rec.Body)
	}
	var token string
	for _, c := range rec.Result().Cookies() {
		if c.Name == auth.CookieName {
			token = c.Value
		}
	}
	if token == "" {
		t.Fatalf("login %s set no session cookie", username)
	}
	return session{token: token, csrf: decode[sessionBody](t, rec).CSRFToken}
}

// token makes a token with every scope: the tests using it are about roles.
func (e *env) token(t *testing.T, name string, role auth.Role, dept string) string {
	t.Helper()
	secret, _, err := e.svc.CreateToken(context.Background(), name, role, dept, []string{auth.ScopeAll})
	if err != nil {
		t.Fatalf("create token %s: %v", name, err)
	}
	return secret
}

func (e *env) userCount(t *testing.T) int64 {
	t.Helper()
	var n int64
	if err := e.db.Model(&auth.User{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func ptr[T any](v T) *T { return &v }

// auditTrail is the audit log's records as "action actor target", oldest first, checked
// to verify as one chain.
func (e *env) auditTrail(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	rep, err := e.audit.Verify(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("audit chain: %+v %v", rep, err)
	}
	rs, _, err := e.audit.Find(ctx, audit.Filter{}, api.Page{Page: 1, PerPage: api.MaxPerPage})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(rs))
	for i := len(rs) - 1; i >= 0; i-- {
		out = append(out, rs[i].Action+" "+rs[i].Actor+" "+rs[i].Target)
	}
	return out
}

func itoa(n uint) string { return strconv.FormatUint(uint64(n), 10) }

// findAudit returns the records of one action, newest first.
func (e *env) findAudit(t *testing.T, action string) []audit.Record {
	t.Helper()
	rs, _, err := e.audit.Find(context.Background(), audit.Filter{Action: action}, api.Page{Page: 1, PerPage: api.MaxPerPage})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
