package sms

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rexian/rexian/auth"
)

// router serves the handler with the role named in X-Role as the caller.
func (f *fixture) router() *gin.Engine {
	gin.SetMode(gin.TestMode)
	e := gin.New()
	g := e.Group("/api/v1", func(c *gin.Context) {
		if r := c.GetHeader("X-Role"); r != "" {
			p := &auth.Principal{Name: "t", Role: auth.Role(r)}
			c.Request = c.Request.WithContext(auth.NewContext(c.Request.Context(), p))
		}
	})
	NewHandler(f.svc, nil).Routes(g)
	return e
}

func do(t *testing.T, e *gin.Engine, role, method, path, ctype, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, "/api/v1"+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("X-Role", role)
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	var out map[string]any
	json.Unmarshal(w.Body.Bytes(), &out)
	return w.Code, out
}

func errCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func TestHTTP(t *testing.T) {
	f := newFixture(t)
	e := f.router()
	const js = "application/json"
	tests := []struct {
		name, role, method, path, body string
		status                         int
		code                           string
	}{
		{"measure chinese", "operator", "POST", "/sms/measure", `{"text":"` + strings.Repeat("热", 60) + `"}`, 200, ""},
		{"measure empty", "operator", "POST", "/sms/measure", `{"text":""}`, 400, "empty_text"},
		{"landline", "operator", "POST", "/sms/messages", `{"to":"0477-8581234","text":"你好"}`, 400, "landline"},
		{"invalid number", "operator", "POST", "/sms/messages", `{"to":"12","text":"你好"}`, 400, "invalid_phone"},
		{"too long", "operator", "POST", "/sms/messages", `{"to":"13800138000","text":"` + strings.Repeat("长", 400) + `"}`, 400, "too_long"},
		{"unknown field", "operator", "POST", "/sms/messages", `{"to":"13800138000","txt":"x"}`, 400, "invalid_json"},
		{"department may not send", "department", "POST", "/sms/messages", `{"to":"13800138000","text":"x"}`, 403, "forbidden_role"},
		{"nobody", "", "GET", "/sms/messages", ``, 401, "unauthenticated"},
		{"bad status filter", "operator", "GET", "/sms/messages?status=lost", ``, 400, "unknown_status"},
		{"unknown message", "operator", "GET", "/sms/messages/99999", ``, 404, "message_not_found"},
		{"unknown variable at save", "admin", "PUT", "/sms/templates/survey", `{"body":"请评价{nmber}"}`, 400, "unknown_variable"},
		{"operator may not edit templates", "operator", "PUT", "/sms/templates/survey", `{"body":"x"}`, 403, "forbidden_role"},
		{"template exists", "admin", "POST", "/sms/templates", `{"name":"receipt","kind":"receipt","body":"{number}"}`, 409, "template_exists"},
		{"suppress landline", "supervisor", "POST", "/sms/suppressions", `{"phone":"04778581234"}`, 400, "landline"},
		{"operator may not manage the list", "operator", "GET", "/sms/suppressions", ``, 403, "forbidden_role"},
		{"notice bad date", "integrator", "POST", "/notices/application-confirmations",
			`{"application_number":"A1","applicant_name":"王","mobile":"13800138000","item":"x","hall":"h","window":"1","confirm_by":"tomorrow","documents":["a"]}`, 400, "invalid_confirm_by"},
		{"notice unknown", "integrator", "GET", "/notices/application-confirmations/NOPE", ``, 404, "notice_not_found"},
		{"bulk wrong type", "operator", "POST", "/notices/application-confirmations/bulk", `{}`, 400, "unsupported_content_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctype := ""
			if tt.body != "" {
				ctype = js
			}
			status, out := do(t, e, tt.role, tt.method, tt.path, ctype, tt.body)
			if status != tt.status || errCode(out) != tt.code {
				t.Fatalf("%s %s = %d %v; want %d %s", tt.method, tt.path, status, out, tt.status, tt.code)
			}
		})
	}

	t.Run("send, list, read", func(t *testing.T) {
		status, out := do(t, e, "operator", "POST", "/sms/messages", js, `{"to":"13800138000","text":"`+strings.Repeat("热", 100)+`","idempotency_key":"k"}`)
		if status != 201 || out["part_count"].(float64) != 2 {
			t.Fatalf("send = %d %v", status, out)
		}
		id := out["id"].(float64)
		status, again := do(t, e, "operator", "POST", "/sms/messages", js, `{"to":"13800138000","text":"other","idempotency_key":"k"}`)
		if status != 200 || again["id"].(float64) != id {
			t.Fatalf("repeat = %d %v", status, again)
		}
		_, list := do(t, e, "operator", "GET", "/sms/messages?recipient=13800138000&kind=free_text", "", "")
		if ms := list["messages"].([]any); len(ms) != 1 {
			t.Fatalf("list %v", list)
		}
		f.sendAll(t)
		_, one := do(t, e, "operator", "GET", "/sms/messages/"+jsonNumber(id), "", "")
		if parts := one["parts"].([]any); len(parts) != 2 || parts[0].(map[string]any)["status"] != "submitted" {
			t.Fatalf("message %v", one)
		}
	})

	t.Run("notice masked for integrators", func(t *testing.T) {
		body := `{"application_number":"A2","applicant_name":"王芳","mobile":"13800138000","item":"食品经营许可","hall":"大厅","window":"3","confirm_by":"2026-12-05","documents":["营业执照"]}`
		status, out := do(t, e, "integrator", "POST", "/notices/application-confirmations", js, body)
		if status != 201 || out["mobile"] != "138****8000" {
			t.Fatalf("notice = %d %v", status, out)
		}
		status, _ = do(t, e, "integrator", "POST", "/notices/application-confirmations", js, body)
		if status != 200 {
			t.Fatalf("repeat = %d", status)
		}
		_, op := do(t, e, "operator", "GET", "/notices/application-confirmations/A2", "", "")
		if op["mobile"] != "13800138000" {
			t.Fatalf("operator sees %v", op["mobile"])
		}
	})

	t.Run("bulk as text/csv and multipart", func(t *testing.T) {
		csv := "申请编号,申请人,手机号,事项,大厅,窗口,确认截止日期,材料\nB1,王芳,13800138000,许可,大厅,1,2026-12-05,身份证\nB2,李强,123,许可,大厅,1,2026-12-05,身份证\n"
		status, out := do(t, e, "operator", "POST", "/notices/application-confirmations/bulk", "text/csv; charset=utf-8", csv)
		if status != 200 || out["created"].(float64) != 1 || out["failed"].(float64) != 1 {
			t.Fatalf("bulk = %d %v", status, out)
		}
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("file", "notices.csv")
		fw.Write([]byte(strings.ReplaceAll(csv, "B", "C")))
		mw.Close()
		status, out = do(t, e, "operator", "POST", "/notices/application-confirmations/bulk", mw.FormDataContentType(), buf.String())
		if status != 200 || out["created"].(float64) != 1 {
			t.Fatalf("multipart bulk = %d %v", status, out)
		}
		rows := out["rows"].([]any)
		if bad := rows[1].(map[string]any); bad["line"].(float64) != 3 || bad["result"] != "error" {
			t.Fatalf("bad row %v", bad)
		}
	})

	t.Run("materials", func(t *testing.T) {
		status, _ := do(t, e, "admin", "PUT", "/sms/material-items/JZZ", js, `{"name":"居住证办理","materials":["身份证","租房合同"]}`)
		if status != 200 {
			t.Fatal(status)
		}
		status, out := do(t, e, "operator", "POST", "/sms/materials-notices", js, `{"item":"JZZ","mobile":"13800138000"}`)
		if status != 201 || !strings.Contains(out["text"].(string), "身份证、租房合同") {
			t.Fatalf("materials notice = %d %v", status, out)
		}
	})
}

func jsonNumber(f float64) string { b, _ := json.Marshal(f); return string(b) }

func TestCollector(t *testing.T) {
	f := newFixture(t)
	f.enqueue(t, NewMessage{To: "13800138000", Text: "x"})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(f.db))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		n += len(mf.GetMetric())
	}
	if n != len(Statuses)*len(Kinds)+1 {
		t.Fatalf("%d metrics", n)
	}
}
