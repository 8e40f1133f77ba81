package callback

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/auth"
)

// serve answers one request through the routes as p.
func serve(t *testing.T, e *env, p *auth.Principal, method, path, body string) (int, map[string]any) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(func(c *gin.Context) {
		if p != nil {
			c.Request = c.Request.WithContext(auth.NewContext(c.Request.Context(), p))
		}
	})
	NewHandler(e.svc, testLog()).Routes(r.Group("/api/v1"))
	req := httptest.NewRequestWithContext(e.ctx, method, "/api/v1"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	var out map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	return w.Code, out
}

func TestHTTP(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Dialer = nil })
	num := e.consultation("04778581234", nil)
	e.clk.Add(2 * time.Hour)
	e.run()
	id := itoa(e.survey(num).ID)
	boss := &auth.Principal{Name: "boss", Role: auth.RoleSupervisor}
	dept := &auth.Principal{Name: "d", Role: auth.RoleDepartment, DepartmentID: 1}
	tests := []struct {
		name         string
		who          *auth.Principal
		method, path string
		body         string
		want         int
		code         string
	}{
		{"no login", nil, "GET", "/callback/surveys", "", 401, ""},
		{"department", dept, "GET", "/callback/manual", "", 403, ""},
		{"bad status", desk, "GET", "/callback/surveys?status=lost", "", 400, "invalid_status"},
		{"bad result", desk, "GET", "/callback/surveys?result=happy", "", 400, "invalid_result"},
		{"bad since", desk, "GET", "/callback/surveys?since=yesterday", "", 400, "invalid_time"},
		{"bad result in a list", boss, "GET", "/callback/surveys?result=satisfied,happy", "", 400, "invalid_result"},
		{"bad from", boss, "GET", "/callback/surveys?from=monday", "", 400, "invalid_time"},
		{"bad to", boss, "GET", "/callback/surveys?to=2026-13-01", "", 400, "invalid_time"},
		{"bad counted", boss, "GET", "/callback/surveys?counted=maybe", "", 400, "invalid_counted"},
		{"unknown department", boss, "GET", "/callback/surveys?department=NOPE", "", 400, "unknown_department"},
		{"unknown district", boss, "GET", "/callback/surveys?district=NOPE", "", 400, "unknown_district"},
		{"not a district", boss, "GET", "/callback/surveys?district=DSQ-ZJJ", "", 400, "invalid_district"},
		{"unknown category", boss, "GET", "/callback/surveys?category=NOPE", "", 400, "unknown_category"},
		{"unknown channel", boss, "GET", "/callback/surveys?channel=fax", "", 400, "unknown_channel"},
		{"department user", dept, "GET", "/callback/surveys?department=SZWJ", "", 403, ""},
		{"the figures' filters", boss, "GET", "/callback/surveys?from=2026-11-26&to=2026-11-27T00:00:00%2B08:00&counted=true" +
			"&result=satisfied,fairly_satisfied&department=none&district=DSQ&category=ZX&channel=none", "", 200, ""},
		{"bad page", desk, "GET", "/callback/manual?per_page=1000", "", 400, "invalid_page"},
		{"bad id", desk, "GET", "/callback/surveys/abc", "", 400, "invalid_id"},
		{"unknown id", desk, "GET", "/callback/surveys/99999", "", 404, "survey_not_found"},
		{"bad json", desk, "POST", "/callback/surveys/" + id + "/answer", `{"result":`, 400, "invalid_json"},
		{"unknown field", desk, "POST", "/callback/surveys/" + id + "/answer", `{"result":"satisfied","mood":"good"}`, 400, "invalid_json"},
		{"bad result body", desk, "POST", "/callback/surveys/" + id + "/answer", `{"result":"happy"}`, 400, "invalid_result"},
		{"bad group", boss, "GET", "/callback/stats?group=weather", "", 400, "invalid_group"},
		{"bad period", boss, "GET", "/callback/stats?from=2026-11-27&to=2026-11-01", "", 400, "invalid_period"},
		{"bad from", boss, "GET", "/callback/stats?from=soon", "", 400, "invalid_time"},
		{"manual list", desk, "GET", "/callback/manual", "", 200, ""},
		{"stats", boss, "GET", "/callback/stats?from=2026-11-26&to=2026-11-26&group=category", "", 200, ""},
		{"answer", desk, "POST", "/callback/surveys/" + id + "/answer", `{"result":"refused","note":"市民表示不需要回访"}`, 200, ""},
		{"answer again", desk, "POST", "/callback/surveys/" + id + "/answer", `{"result":"satisfied"}`, 409, "already_answered"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := serve(t, e, tc.who, tc.method, tc.path, tc.body)
			if code != tc.want {
				t.Fatalf("%s %s = %d %v, want %d", tc.method, tc.path, code, body, tc.want)
			}
			if tc.code != "" {
				errBody, _ := body["error"].(map[string]any)
				if errBody["code"] != tc.code {
					t.Errorf("error %v, want code %s", body, tc.code)
				}
			}
		})
	}
	// The completion period is half-open, and a date is midnight in the city.
	for query, want := range map[string]int{
		"from=2026-11-26&to=2026-11-27&counted=true": 1,
		"from=2026-11-26&to=2026-11-26":              0,
		"from=2026-11-27":                            0,
		"to=2026-11-26T10:00:00%2B08:00":             0,
		"counted=false":                              0,
	} {
		code, body := serve(t, e, boss, "GET", "/callback/surveys?"+query, "")
		if list, _ := body["surveys"].([]any); code != 200 || len(list) != want {
			t.Errorf("surveys?%s = %d %v; want %d surveys", query, code, body, want)
		}
	}
	_, body := serve(t, e, boss, "GET", "/callback/stats?from=2026-11-26&to=2026-11-26&group=category", "")
	total, _ := body["total"].(map[string]any)
	// One survey due, done as refused: no opinion, so the rate of response is 0 and the
	// satisfaction rates have nothing to divide by.
	if total["due"] != 1.0 || total["done"] != 1.0 || total["refused"] != 1.0 || total["response_rate"] != 0.0 || total["satisfaction_rate"] != nil {
		t.Errorf("stats total %v", total)
	}
}

func itoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
