package dashboards

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// server serves the handler with the principal of the X-Test-As header (a role, or
// "department:CODE"), standing in for the authentication middleware.
func (e *env) server() *httptest.Server {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	h := NewHandler(e.svc, nil)
	h.PublicRoutes(r)
	g := r.Group("/api/v1", func(c *gin.Context) {
		as := c.GetHeader("X-Test-As")
		var p *auth.Principal
		switch {
		case as == "supervisor":
			p = supervisor
		case strings.HasPrefix(as, "department:"):
			p = e.department(strings.TrimPrefix(as, "department:"))
		case as != "":
			p = &auth.Principal{Name: as, Role: auth.Role(as)}
		}
		if p != nil {
			c.Request = c.Request.WithContext(auth.NewContext(c.Request.Context(), p))
		}
	})
	h.Routes(g)
	srv := httptest.NewServer(r)
	e.t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, srv *httptest.Server, as, method, path, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	if as != "" {
		req.Header.Set("X-Test-As", as)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestHTTP(t *testing.T) {
	e := newEnv(t)
	srv := e.server()
	done := e.ticket("ZX-SB", func(in *tickets.NewTicket) {
		in.Dispatch, in.Answer = nil, "携带身份证办理。"
		in.Title = `<script>alert(1)</script>`
	})
	for _, tc := range []struct {
		name, as, method, path, body string
		status                       int
	}{
		{"figures", "supervisor", "GET", "/api/v1/dashboards/figures?period=month&group=channel", "", 200},
		{"figures of a custom range", "supervisor", "GET", "/api/v1/dashboards/figures?from=2026-11-01&to=2026-11-30", "", 200},
		{"bad period", "supervisor", "GET", "/api/v1/dashboards/figures?period=decade", "", 400},
		{"bad date", "supervisor", "GET", "/api/v1/dashboards/figures?period=week&date=tomorrow", "", 400},
		{"bad group", "supervisor", "GET", "/api/v1/dashboards/figures?group=hotline", "", 400},
		{"reversed range", "supervisor", "GET", "/api/v1/dashboards/figures?from=2026-11-30&to=2026-11-01", "", 400},
		{"figures for a department", "department:HEAT", "GET", "/api/v1/dashboards/figures", "", 403},
		{"figures without login", "", "GET", "/api/v1/dashboards/figures", "", 401},
		{"rates", "supervisor", "GET", "/api/v1/dashboards/rates?period=year", "", 200},
		{"standard", "supervisor", "GET", "/api/v1/dashboards/standard?period=quarter", "", 200},
		{"overdue", "department:HEAT", "GET", "/api/v1/dashboards/overdue", "", 200},
		{"overdue, bad page", "supervisor", "GET", "/api/v1/dashboards/overdue?per_page=1000", "", 400},
		{"urge, bad JSON", "supervisor", "POST", "/api/v1/dashboards/overdue/" + done + "/urge", "{", 400},
		{"urge, completed", "supervisor", "POST", "/api/v1/dashboards/overdue/" + done + "/urge", "{}", 409},
		{"urge as a department", "department:HEAT", "POST", "/api/v1/dashboards/overdue/" + done + "/urge", "{}", 403},
		{"supervision, missing fields", "supervisor", "POST", "/api/v1/dashboards/supervisions", `{"date":"2026-11-23"}`, 400},
		{"supervision, unknown field", "supervisor", "POST", "/api/v1/dashboards/supervisions", `{"dat":"2026-11-23"}`, 400},
		{"supervision, bad id", "supervisor", "GET", "/api/v1/dashboards/supervisions/abc", "", 404},
		{"supervision, no such id", "supervisor", "GET", "/api/v1/dashboards/supervisions/99", "", 404},
		{"cards", "department:HEAT", "GET", "/api/v1/dashboards/cards", "", 200},
		{"cards, bad month", "supervisor", "GET", "/api/v1/dashboards/cards?month=13", "", 400},
		{"bulletin json", "supervisor", "GET", "/api/v1/dashboards/bulletins/weekly", "", 200},
		{"bulletin, bad kind", "supervisor", "GET", "/api/v1/dashboards/bulletins/hourly", "", 404},
		{"bulletin, bad format", "supervisor", "GET", "/api/v1/dashboards/bulletins/daily?format=pdf", "", 400},
		{"brief, bad kind", "supervisor", "POST", "/api/v1/dashboards/briefs", `{"kind":"memo","title":"x","tickets":["` + done + `"]}`, 400},
		{"publish, open ticket", "supervisor", "POST", "/api/v1/dashboards/answers", `{"ticket":"` + e.ticket("TS-GN", nil) + `"}`, 409},
		{"withdraw, no such answer", "supervisor", "DELETE", "/api/v1/dashboards/answers/42", "", 404},
		{"public answer, bad id", "", "GET", "/answers/x", "", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := do(t, srv, tc.as, tc.method, tc.path, tc.body)
			if status != tc.status {
				t.Errorf("%s %s = %d %s; want %d", tc.method, tc.path, status, body, tc.status)
			}
		})
	}

	status, h, body := do(t, srv, "supervisor", "GET", "/api/v1/dashboards/bulletins/daily?format=xlsx&date=2026-11-23", "")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/vnd.openxmlformats") || !strings.HasPrefix(body, "PK") {
		t.Errorf("xlsx: %d %s", status, h.Get("Content-Type"))
	}
	status, h, body = do(t, srv, "supervisor", "GET", "/api/v1/dashboards/bulletins/daily?format=html", "")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(body, "日报") {
		t.Errorf("html: %d %s", status, h.Get("Content-Type"))
	}

	// Published, then public without a login, escaped.
	status, _, body = do(t, srv, "supervisor", "POST", "/api/v1/dashboards/answers", `{"ticket":"`+done+`"}`)
	if status != 201 {
		t.Fatalf("publish: %d %s", status, body)
	}
	var a Answer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatal(err)
	}
	status, _, body = do(t, srv, "", "GET", "/answers", "")
	if status != 200 || !strings.Contains(body, "&lt;script&gt;") || strings.Contains(body, "<script>") {
		t.Errorf("public list: %d\n%s", status, body)
	}
	status, h, body = do(t, srv, "", "GET", "/answers/"+itoa(a.ID), "")
	if status != 200 || !strings.Contains(body, "携带身份证办理") || h.Get("Content-Security-Policy") == "" {
		t.Errorf("public answer: %d\n%s", status, body)
	}
	do(t, srv, "supervisor", "DELETE", "/api/v1/dashboards/answers/"+itoa(a.ID), "")
	if status, _, _ := do(t, srv, "", "GET", "/answers/"+itoa(a.ID), ""); status != 404 {
		t.Errorf("withdrawn answer: %d", status)
	}

	// Supervision records through the API.
	status, _, body = do(t, srv, "supervisor", "POST", "/api/v1/dashboards/supervisions",
		`{"date":"2026-11-23","place":"宝日陶亥社区","people":"王主任","findings":"已解决"}`)
	if status != 201 {
		t.Fatalf("create supervision: %d %s", status, body)
	}
	var sv Supervision
	json.Unmarshal([]byte(body), &sv)
	if status, _, body := do(t, srv, "supervisor", "PUT", "/api/v1/dashboards/supervisions/"+itoa(sv.ID),
		`{"date":"2026-11-24","place":"宝日陶亥社区","people":"王主任","findings":"复查"}`); status != 200 {
		t.Errorf("update: %d %s", status, body)
	}
	if status, _, _ := do(t, srv, "supervisor", "DELETE", "/api/v1/dashboards/supervisions/"+itoa(sv.ID), ""); status != 204 {
		t.Errorf("delete: %d", status)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
