package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/tickets"
)

func validFields(token string) url.Values {
	return url.Values{
		"content":    {"小区暖气不热，室温只有十二度，已经三天了"},
		"district":   {"DS"},
		"township":   {"DS-JT"},
		"address":    {"交通街道幸福小区3号楼"},
		"category":   {"TS-GN"},
		"name":       {"李女士"},
		"phone":      {"138 1234 5678"},
		"form_token": {token},
	}
}

var numberRE = regexp.MustCompile(`class="number">(\d+)<`)

func TestReportRegistersTicket(t *testing.T) {
	f := newFixture(t)
	tok := f.formToken()
	f.clock.Add(20 * time.Second)
	code, body := f.do(multipartReport(validFields(tok), upload{"IMG_0001.HEIC", pngBytes(t)}), "192.0.2.1")
	if code != http.StatusOK {
		t.Fatalf("POST /report = %d: %s", code, body)
	}
	m := numberRE.FindStringSubmatch(body)
	if m == nil || !tickets.CheckNumber(m[1]) {
		t.Fatalf("no ticket number in the answer: %s", body)
	}
	v, err := f.store.Find(f.ctx, desk, m[1])
	if err != nil {
		t.Fatal(err)
	}
	if v.Channel != tickets.ChannelWeb || v.Category.Code != "TS-GN" || v.Citizen.Phone != "13812345678" ||
		v.Location.Township == nil || v.Location.Township.Code != "DS-JT" || v.Location.Address != "交通街道幸福小区3号楼" {
		t.Errorf("ticket %+v does not carry the report", v)
	}
	if v.RegisteredBy != "operator:web" {
		t.Errorf("registered by %q, want operator:web", v.RegisteredBy)
	}
	if len(v.Attachments) != 1 || v.Attachments[0].ContentType != "image/png" || v.Attachments[0].FileName != "照片1.png" {
		t.Errorf("attachments %+v, want the one PNG named by its sniffed type", v.Attachments)
	}
}

func TestReportRefused(t *testing.T) {
	text := "楼道里堆满杂物，存在消防隐患"
	tests := []struct {
		name   string
		change func(f *fixture, v url.Values) []upload
		wait   time.Duration
		status int
		msg    string
	}{
		{"honeypot filled", func(_ *fixture, v url.Values) []upload { v.Set("website", "http://spam.example"); return nil },
			10 * time.Second, http.StatusBadRequest, "未通过校验"},
		{"token too fresh", nil, time.Second, http.StatusBadRequest, "提交太快"},
		{"token expired", nil, 5 * time.Hour, http.StatusBadRequest, "已失效"},
		{"token forged", func(_ *fixture, v url.Values) []upload {
			tok := []byte(v.Get("form_token"))
			tok[20] ^= 1 // one character of the nonce
			v.Set("form_token", string(tok))
			return nil
		},
			10 * time.Second, http.StatusBadRequest, "页面已失效"},
		{"no token", func(_ *fixture, v url.Values) []upload { v.Del("form_token"); return nil },
			10 * time.Second, http.StatusBadRequest, "页面已失效"},
		{"photo of the wrong type", func(_ *fixture, v url.Values) []upload {
			return []upload{{"photo.jpg", []byte("MZ\x90\x00 this is not a picture at all, it is a program")}}
		}, 10 * time.Second, http.StatusBadRequest, "格式的照片"},
		{"too many photos", func(f *fixture, v url.Values) []upload {
			p := pngBytes(f.t)
			return []upload{{"a.png", p}, {"b.png", p}, {"c.png", p}, {"d.png", p}}
		}, 10 * time.Second, http.StatusBadRequest, "最多上传3张"},
		{"photo too large", func(f *fixture, v url.Values) []upload {
			return []upload{{"a.png", append(pngBytes(f.t), make([]byte, 6<<20)...)}}
		}, 10 * time.Second, http.StatusRequestEntityTooLarge, "不能超过5MB"},
		{"township of another district", func(_ *fixture, v url.Values) []upload { v.Set("district", "KBS"); return nil },
			10 * time.Second, http.StatusBadRequest, "不属于所选旗区"},
		{"no district", func(_ *fixture, v url.Values) []upload { v.Del("district"); return nil },
			10 * time.Second, http.StatusBadRequest, "请选择问题发生的旗区"},
		{"unknown category", func(_ *fixture, v url.Values) []upload { v.Set("category", "NOPE"); return nil },
			10 * time.Second, http.StatusBadRequest, "问题类别"},
		{"landline instead of mobile", func(_ *fixture, v url.Values) []upload { v.Set("phone", "0477-8581234"); return nil },
			10 * time.Second, http.StatusBadRequest, "手机号码"},
		{"content too short", func(_ *fixture, v url.Values) []upload {
			v.Set("content", "暖气")
			v.Set("address", text)
			return nil
		},
			10 * time.Second, http.StatusBadRequest, "太短"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			v := validFields(f.formToken())
			v.Set("content", text)
			var photos []upload
			if tt.change != nil {
				photos = tt.change(f, v)
			}
			f.clock.Add(tt.wait)
			code, body := f.do(multipartReport(v, photos...), "192.0.2.1")
			if code != tt.status || !strings.Contains(body, tt.msg) {
				t.Fatalf("POST /report = %d, want %d with %q: %s", code, tt.status, tt.msg, body)
			}
			if !strings.Contains(body, text) {
				t.Errorf("the refused form does not keep the citizen's text")
			}
			if !tokenRE.MatchString(body) {
				t.Errorf("the refused form has no token to send it again")
			}
			if len(photos) > 0 && !strings.Contains(body, "请重新选择") {
				t.Errorf("the refused form does not ask for the photos again")
			}
			if n := f.count(); n != 0 {
				t.Errorf("%d tickets registered, want none", n)
			}
		})
	}
}

func TestReportTokenUsedOnce(t *testing.T) {
	f := newFixture(t)
	v := validFields(f.formToken())
	f.clock.Add(10 * time.Second)
	if code, body := f.do(multipartReport(v), "192.0.2.1"); code != http.StatusOK {
		t.Fatalf("first post = %d: %s", code, body)
	}
	code, body := f.do(multipartReport(v), "192.0.2.1")
	if code != http.StatusConflict || !strings.Contains(body, "已经提交过") {
		t.Fatalf("replayed post = %d: %s", code, body)
	}
	if n := f.count(); n != 1 {
		t.Errorf("%d tickets, want 1", n)
	}
}

func TestReportTooFreshCanBeSentAgain(t *testing.T) {
	f := newFixture(t)
	_, body := f.do(multipartReport(validFields(f.formToken())), "192.0.2.1")
	// The form comes back with a token that keeps the first serving time, so waiting
	// the few seconds and sending it again works.
	m := tokenRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no token in the refused form")
	}
	f.clock.Add(5 * time.Second)
	if code, body := f.do(multipartReport(validFields(m[1])), "192.0.2.1"); code != http.StatusOK {
		t.Fatalf("second post = %d: %s", code, body)
	}
}

func TestReportRateLimitPerAddress(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.SubmitLimit = Limit{N: 2, Window: time.Hour} })
	post := func(addr string) (int, string) {
		v := validFields(f.formToken())
		f.clock.Add(10 * time.Second)
		return f.do(multipartReport(v), addr)
	}
	for i := range 2 {
		if code, body := post("192.0.2.7"); code != http.StatusOK {
			t.Fatalf("post %d = %d: %s", i+1, code, body)
		}
	}
	code, body := post("192.0.2.7")
	if code != http.StatusTooManyRequests || !strings.Contains(body, "小区暖气不热") {
		t.Fatalf("third post = %d, want 429 with the text kept: %s", code, body)
	}
	if code, _ := post("192.0.2.8"); code != http.StatusOK {
		t.Errorf("another address = %d, want 200", code)
	}
	f.clock.Add(time.Hour)
	if code, _ := post("192.0.2.7"); code != http.StatusOK {
		t.Errorf("next window = %d, want 200", code)
	}
}

func TestReportScriptStoredAsText(t *testing.T) {
	f := newFixture(t)
	v := validFields(f.formToken())
	evil := `<script>alert("x")</script><b>暖气</b>不热已经三天`
	v.Set("content", evil)
	v.Set("address", `<img src=x onerror=alert(1)>`)
	f.clock.Add(10 * time.Second)
	code, body := f.do(multipartReport(v), "192.0.2.1")
	if code != http.StatusOK {
		t.Fatalf("POST = %d: %s", code, body)
	}
	number := numberRE.FindStringSubmatch(body)[1]
	tk, err := f.store.Find(f.ctx, desk, number)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Content != evil || tk.Location.Address != `<img src=x onerror=alert(1)>` {
		t.Errorf("stored %q / %q, want the text as typed", tk.Content, tk.Location.Address)
	}
	// Shown back in a refused form, it is escaped.
	v = validFields(f.formToken())
	v.Set("content", evil)
	v.Set("website", "x")
	f.clock.Add(10 * time.Second)
	_, body = f.do(multipartReport(v), "192.0.2.1")
	if strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;") {
		t.Errorf("the form shows the script unescaped: %s", body)
	}
}

func TestReportDatabaseDown(t *testing.T) {
	f := newFixture(t)
	v := validFields(f.formToken()) // also loads the form's choices
	f.closeDB()
	f.clock.Add(10 * time.Second)
	code, body := f.do(multipartReport(v), "192.0.2.1")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "小区暖气不热") || !strings.Contains(body, "暂时无法受理") {
		t.Fatalf("POST with the database down = %d, want 503 with the text kept: %s", code, body)
	}
}

func TestStatusPage(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.LookupLimit = Limit{N: 3, Window: time.Hour}
		o.LookupPairLimit = Limit{N: 2, Window: time.Hour}
	})
	v := validFields(f.formToken())
	v.Set("content", `<script>alert(1)</script> 暖气不热`)
	f.clock.Add(10 * time.Second)
	_, body := f.do(multipartReport(v), "192.0.2.1")
	number := numberRE.FindStringSubmatch(body)[1]
	// A number that passes the check digit but was never issued.
	unknown := tickets.FormatNumber(2026, 9999)

	lookUp := func(number, last4, addr string) (int, string) {
		req := httptest.NewRequest(http.MethodPost, "/status", strings.NewReader(url.Values{"number": {number}, "last4": {last4}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return f.do(req, addr)
	}
	tests := []struct {
		name, number, last4, addr string
		status                    int
		want                      string
	}{
		{"right pair", number, "5678", "192.0.2.50", http.StatusOK, "已受理"},
		{"typed with spaces", number[:2] + " " + number[2:], "5678", "192.0.2.50", http.StatusOK, "受理"},
		{"wrong last four", number, "1234", "192.0.2.51", http.StatusNotFound, notFoundMsg},
		{"unknown number", unknown, "5678", "192.0.2.52", http.StatusNotFound, notFoundMsg},
		{"mistyped number", number[:len(number)-1] + string('0'+(number[len(number)-1]-'0'+1)%10), "5678", "192.0.2.53", http.StatusBadRequest, "工单号有误"},
		{"last four not digits", number, "56a8", "192.0.2.54", http.StatusBadRequest, "后四位"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := lookUp(tt.number, tt.last4, tt.addr)
			if code != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("status look-up = %d, want %d with %q: %s", code, tt.status, tt.want, body)
			}
			if code == http.StatusOK {
				if strings.Contains(body, "<script>") || strings.Contains(body, "13812345678") {
					t.Errorf("the status page shows markup or the full phone: %s", body)
				}
				if !strings.Contains(body, "供暖") {
					t.Errorf("the status page lacks the category: %s", body)
				}
			}
		})
	}

	t.Run("progress after dispatch and completion", func(t *testing.T) {
		tk, err := f.store.Find(f.ctx, desk, number)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.Act(f.ctx, desk, number, tickets.ActDispatch, tickets.ActionRequest{Version: tk.Version, Departments: []string{"HEAT"}, Note: "内部备注：请尽快"}); err != nil {
			t.Fatal(err)
		}
		code, body := lookUp(number, "5678", "192.0.2.70")
		if code != http.StatusOK || !strings.Contains(body, "市热力公司") || !strings.Contains(body, "办理期限") || !strings.Contains(body, "派单") {
			t.Fatalf("after dispatch = %d, want the department, due date and the dispatch step: %s", code, body)
		}
		if strings.Contains(body, "内部备注") || strings.Contains(body, "wang") {
			t.Errorf("the status page shows internal notes or operator names: %s", body)
		}
	})
	t.Run("failures are limited per address", func(t *testing.T) {
		for i := range 3 {
			lookUp(tickets.FormatNumber(2026, int64(9100+i)), "0000", "192.0.2.60")
		}
		code, body := lookUp(number, "5678", "192.0.2.60")
		if code != http.StatusTooManyRequests || !strings.Contains(body, "次数过多") {
			t.Fatalf("look-up after 3 failures = %d: %s", code, body)
		}
		// The refusal is audited, once a minute however often the client tries.
		lookUp(number, "5678", "192.0.2.60")
		rs, _, err := f.audit.Find(f.ctx, audit.Filter{Action: audit.ActionStatusLocked}, api.Page{Page: 1, PerPage: 10})
		if err != nil || len(rs) != 1 || rs[0].IP != "192.0.2.60" || rs[0].Target != "status:address" {
			t.Fatalf("audit records of the refusal: %+v, %v", rs, err)
		}
	})
	t.Run("failures are limited per number and address", func(t *testing.T) {
		for i := range 2 {
			lookUp(number, "000"+string(rune('0'+i)), "192.0.3.1")
		}
		code, body := lookUp(number, "5678", "192.0.3.1")
		if code != http.StatusTooManyRequests || !strings.Contains(body, "该工单查询失败次数过多") {
			t.Fatalf("the guesser's look-up after 2 failures on the number = %d, want 429: %s", code, body)
		}
		rs, _, err := f.audit.Find(f.ctx, audit.Filter{Action: audit.ActionStatusLocked, Target: "ticket:" + number}, api.Page{Page: 1, PerPage: 10})
		if err != nil || len(rs) != 1 || rs[0].IP != "192.0.3.1" {
			t.Fatalf("audit records of the refusal on the number: %+v, %v", rs, err)
		}
		// The same address may still look up another ticket.
		code, _ = lookUp(unknown, "0000", "192.0.3.1")
		if code != http.StatusNotFound {
			t.Errorf("the guesser's look-up of another number = %d, want 404 (not yet limited)", code)
		}
	})
	t.Run("strangers cannot lock the citizen out", func(t *testing.T) {
		// Twenty addresses guess wrong at the number, more than any limit allows.
		for i := range 20 {
			lookUp(number, fmt.Sprintf("%04d", 9000+i), fmt.Sprintf("198.51.100.%d", i+1))
		}
		code, body := lookUp(number, "5678", "192.0.3.9")
		if code != http.StatusOK || !strings.Contains(body, "市热力公司") {
			t.Fatalf("the citizen's own look-up after strangers' guesses = %d, want 200: %s", code, body)
		}
	})
	t.Run("the address limit slides across the hour", func(t *testing.T) {
		// Three failures in the last minute of an hour, one more just after it: a fixed
		// window would count one, the sliding one counts nearly four.
		now := f.clock.Now()
		f.clock.Add(now.Truncate(time.Hour).Add(59 * time.Minute).Sub(now))
		for i := range 3 {
			if code, _ := lookUp(tickets.FormatNumber(2026, int64(9200+i)), "0000", "192.0.2.61"); code != http.StatusNotFound {
				t.Fatalf("failure %d = %d, want 404", i, code)
			}
		}
		f.clock.Add(2 * time.Minute)
		if code, body := lookUp(tickets.FormatNumber(2026, 9210), "0000", "192.0.2.61"); code != http.StatusNotFound {
			t.Fatalf("a failure just after the hour = %d, want 404: %s", code, body)
		}
		code, body := lookUp(number, "5678", "192.0.2.61")
		if code != http.StatusTooManyRequests {
			t.Fatalf("look-up after it = %d, want 429 (sliding): %s", code, body)
		}
		// The block lifts as the old failures age, well before another hour.
		f.clock.Add(30 * time.Minute)
		if code, body := lookUp(number, "5678", "192.0.2.61"); code != http.StatusOK {
			t.Fatalf("look-up half an hour later = %d, want 200: %s", code, body)
		}
	})
}
