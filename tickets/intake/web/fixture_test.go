package web

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/live/livetest"
	"github.com/rexian/rexian/tickets"
)

// testCity is a small directory: one district with a township, another without.
const testCity = `
departments:
  - {code: HEAT, name: 市热力公司, level: city}
  - code: DSQ
    name: 东胜区人民政府
    level: district
    government: true
    children:
      - {code: DSQ-ZJJ, name: 东胜区住房和城乡建设局, level: district}
      - {code: DSQ-JTJD, name: 交通街道办事处, level: township, government: true}
  - {code: KBSQ, name: 康巴什区人民政府, level: district, government: true}
categories:
  - code: TS
    name: 投诉
    kind: complaint
    sign_limit: 4wh
    handle_limit: 5wd
    children:
      - {code: TS-GN, name: 供暖, department: HEAT}
      - {code: TS-WYGL, name: 物业管理}
`

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	t       *testing.T
	ctx     context.Context
	store   *tickets.Store
	h       *Handler
	engine  *gin.Engine
	clock   *clock
	closeDB func()
}

var desk = &auth.Principal{UserID: 1, Name: "wang", Role: auth.RoleOperator}

func newFixture(t *testing.T, mod ...func(*Options)) *fixture {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	db := dbtest.Open(t, tickets.Migrations())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	store := tickets.NewStore(db, tickets.Options{AttachmentDir: filepath.Join(t.TempDir(), "attachments")})
	city, err := tickets.ParseCity([]byte(testCity))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.LoadCity(ctx, city); err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	opts := Options{Store: store, Live: livetest.Open(t), Now: clk.Now, Secret: "0123456789abcdef0123456789abcdef"}
	for _, m := range mod {
		m(&opts)
	}
	h, err := NewHandler(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := gin.New()
	h.Routes(e)
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: ctx, store: store, h: h, engine: e, clock: clk, closeDB: func() { sqlDB.Close() }}
}

// do sends a request from addr and returns the status and body.
func (f *fixture) do(req *http.Request, addr string) (int, string) {
	f.t.Helper()
	req.RemoteAddr = addr + ":40000"
	w := httptest.NewRecorder()
	f.engine.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

var tokenRE = regexp.MustCompile(`name="form_token" value="([^"]+)"`)

// formToken fetches the form and returns its token.
func (f *fixture) formToken() string {
	f.t.Helper()
	code, body := f.do(httptest.NewRequest(http.MethodGet, "/report", nil), "192.0.2.1")
	if code != http.StatusOK {
		f.t.Fatalf("GET /report = %d: %s", code, body)
	}
	m := tokenRE.FindStringSubmatch(body)
	if m == nil {
		f.t.Fatal("no form token in the form")
	}
	return m[1]
}

type upload struct {
	name string
	data []byte
}

// multipartReport builds a report post.
func multipartReport(fields url.Values, photos ...upload) *http.Request {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, vs := range fields {
		for _, v := range vs {
			_ = w.WriteField(k, v)
		}
	}
	for _, p := range photos {
		fw, _ := w.CreateFormFile("photos", p.name)
		_, _ = fw.Write(p.data)
	}
	_ = w.Close()
	req := httptest.NewRequest(http.MethodPost, "/report", &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return req
}

func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func (f *fixture) count() int {
	f.t.Helper()
	list, _, err := f.store.List(f.ctx, desk, tickets.Filter{}, api.Page{Page: 1, PerPage: 100})
	if err != nil {
		f.t.Fatal(err)
	}
	return len(list)
}
