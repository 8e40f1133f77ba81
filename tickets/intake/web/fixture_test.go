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
	"regexp"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/live/livetest"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/ticketstest"
)

// fixture is the public form and status page over a store holding ticketstest.City, on a
// clock that starts on a Monday morning.
type fixture struct {
	t       *testing.T
	ctx     context.Context
	store   *tickets.Store
	h       *Handler
	engine  *gin.Engine
	clock   *ticketstest.Clock
	closeDB func()
	audit   *audit.Log
}

var desk = &auth.Principal{UserID: 1, Name: "wang", Role: auth.RoleOperator}

func newFixture(t *testing.T, mod ...func(*Options)) *fixture {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	env := ticketstest.New(t, ticketstest.Options{Audit: true})
	clk := ticketstest.NewClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	opts := Options{Store: env.Store, Live: livetest.Open(t), Now: clk.Now, Secret: "0123456789abcdef0123456789abcdef", Audit: env.Audit}
	for _, m := range mod {
		m(&opts)
	}
	h, err := NewHandler(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := gin.New()
	h.Routes(e)
	sqlDB, err := env.DB.DB()
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: env.Ctx, store: env.Store, h: h, engine: e, clock: clk, closeDB: func() { sqlDB.Close() }, audit: env.Audit}
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
