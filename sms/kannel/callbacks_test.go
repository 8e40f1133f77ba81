package kannel_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/sms/kannel"
)

const testSecret = "s3cret-for-tests"

// recordingReceiver is a hand-written sms.Receiver that keeps what it is given and can be
// told to fail.
type recordingReceiver struct {
	mu      sync.Mutex
	reports []sms.Report
	inbound []sms.Inbound
	fail    error
	// failNext makes the next calls fail, one fewer each time (a database that comes back).
	failNext int
	calls    int
	changed  chan struct{}
}

var _ sms.Receiver = (*recordingReceiver)(nil)

func newRecordingReceiver() *recordingReceiver {
	return &recordingReceiver{changed: make(chan struct{})}
}

func (r *recordingReceiver) Report(_ context.Context, rep sms.Report) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.reports = append(r.reports, rep)
	r.notifyLocked()
	return nil
}

func (r *recordingReceiver) Receive(_ context.Context, m sms.Inbound) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.fail != nil {
		return r.fail
	}
	if r.failNext > 0 {
		r.failNext--
		r.notifyLocked()
		return errors.New("database is restarting")
	}
	r.inbound = append(r.inbound, m)
	r.notifyLocked()
	return nil
}

func (r *recordingReceiver) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// waitFor polls cond (under the lock) until it holds or ctx ends.
func (r *recordingReceiver) waitFor(ctx context.Context, cond func(*recordingReceiver) bool) error {
	for {
		r.mu.Lock()
		ok, ch := cond(r), r.changed
		r.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *recordingReceiver) snapshot() ([]sms.Report, []sms.Inbound) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sms.Report(nil), r.reports...), append([]sms.Inbound(nil), r.inbound...)
}

func newRouter(t *testing.T, rec sms.Receiver) *gin.Engine {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	kannel.NewCallbacks(rec, testSecret, slog.New(slog.DiscardHandler)).Routes(e)
	return e
}

func dlrQuery(msg, part uint64, typ string) url.Values {
	return url.Values{
		"msg":   {itoa(msg)},
		"part":  {itoa(part)},
		"sig":   {kannel.Sign([]byte(testSecret), msg, part)},
		"type":  {typ},
		"smsc":  {"fake"},
		"reply": {"ACK/"},
		"ts":    {"2026-11-26 20:18:52"},
		"fid":   {"b1c2"},
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// with returns a copy of v with key set to value.
func with(v url.Values, key, value string) url.Values {
	c := copyValues(v)
	c.Set(key, value)
	return c
}

// without returns a copy of v without key.
func without(v url.Values, key string) url.Values {
	c := copyValues(v)
	c.Del(key)
	return c
}

func copyValues(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

func TestDeliveryReport(t *testing.T) {
	at := time.Date(2026, 11, 26, 20, 18, 52, 0, time.Local)
	base := dlrQuery(41, 7, "1")
	tests := []struct {
		name       string
		method     string
		rawQuery   string
		body       string
		wantStatus int
		wantBody   string // substring
		want       []sms.Report
	}{
		{
			name: "delivered", rawQuery: base.Encode(), wantStatus: 200,
			want: []sms.Report{{MessageID: 41, PartID: 7, State: sms.DeliveryDelivered, GatewayID: "b1c2", Detail: "kannel type 1 via fake: ACK/", At: at}},
		},
		{
			name: "failed", rawQuery: with(base, "type", "2").Encode(), wantStatus: 200,
			want: []sms.Report{{MessageID: 41, PartID: 7, State: sms.DeliveryFailed, GatewayID: "b1c2", Detail: "kannel type 2 via fake: ACK/", At: at}},
		},
		{
			name: "buffered", rawQuery: with(base, "type", "4").Encode(), wantStatus: 200,
			want: []sms.Report{{MessageID: 41, PartID: 7, State: sms.DeliveryBuffered, GatewayID: "b1c2", Detail: "kannel type 4 via fake: ACK/", At: at}},
		},
		{
			name: "accepted by the SMSC", rawQuery: with(base, "type", "8").Encode(), wantStatus: 200,
			want: []sms.Report{{MessageID: 41, PartID: 7, State: sms.DeliveryAccepted, GatewayID: "b1c2", Detail: "kannel type 8 via fake: ACK/", At: at}},
		},
		{
			name: "rejected by the SMSC counts as failed", rawQuery: with(with(base, "type", "16"), "reply", "").Encode(), wantStatus: 200,
			want: []sms.Report{{MessageID: 41, PartID: 7, State: sms.DeliveryFailed, GatewayID: "b1c2", Detail: "kannel type 16 via fake", At: at}},
		},
		{
			name: "POSTed form", method: http.MethodPost, body: base.Encode(), wantStatus: 200,
			want: []sms.Report{{MessageID: 41, PartID: 7, State: sms.DeliveryDelivered, GatewayID: "b1c2", Detail: "kannel type 1 via fake: ACK/", At: at}},
		},
		{
			name: "unknown part is passed on (the outbox logs and acknowledges it)", rawQuery: dlrQuery(999999, 1, "1").Encode(), wantStatus: 200,
			want: []sms.Report{{MessageID: 999999, PartID: 1, State: sms.DeliveryDelivered, GatewayID: "b1c2", Detail: "kannel type 1 via fake: ACK/", At: at}},
		},
		{name: "unknown type", rawQuery: with(base, "type", "32").Encode(), wantStatus: 400, wantBody: "not one of Kannel's"},
		{name: "unexpanded type escape", rawQuery: with(base, "type", "%d").Encode(), wantStatus: 400, wantBody: "not one of Kannel's"},
		{name: "missing type", rawQuery: without(base, "type").Encode(), wantStatus: 400, wantBody: "not one of Kannel's"},
		{name: "no signature", rawQuery: without(base, "sig").Encode(), wantStatus: 403, wantBody: "no signature"},
		{name: "signature of another part", rawQuery: with(base, "part", "8").Encode(), wantStatus: 403, wantBody: "does not match"},
		{name: "raw secret instead of a signature", rawQuery: with(base, "sig", testSecret).Encode(), wantStatus: 403, wantBody: "does not match"},
		{name: "signature made with another secret", rawQuery: with(base, "sig", kannel.Sign([]byte("other"), 41, 7)).Encode(), wantStatus: 403, wantBody: "does not match"},
		{name: "message id not a number", rawQuery: with(base, "msg", "abc").Encode(), wantStatus: 400, wantBody: "positive whole numbers"},
		{name: "part id zero", rawQuery: with(base, "part", "0").Encode(), wantStatus: 400, wantBody: "positive whole numbers"},
		{name: "message id negative", rawQuery: with(base, "msg", "-4").Encode(), wantStatus: 400, wantBody: "positive whole numbers"},
		{name: "repeated parameter", rawQuery: base.Encode() + "&type=2", wantStatus: 400, wantBody: "given 2 times"},
		{name: "malformed escape in query", rawQuery: base.Encode() + "&reply=%zz", wantStatus: 400, wantBody: "malformed query"},
		{name: "POST with a JSON body", method: http.MethodPost, body: `{"msg":41}`, wantStatus: 400, wantBody: "x-www-form-urlencoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecordingReceiver()
			r := newRouter(t, rec)
			w := httptest.NewRecorder()
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			var req *http.Request
			if method == http.MethodPost {
				req = httptest.NewRequest(method, kannel.DLRPath, strings.NewReader(tt.body))
				if strings.HasPrefix(tt.body, "{") {
					req.Header.Set("Content-Type", "application/json")
				} else {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
			} else {
				req = httptest.NewRequest(method, kannel.DLRPath+"?"+tt.rawQuery, nil)
			}
			r.ServeHTTP(w, req)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("body %q does not contain %q", w.Body, tt.wantBody)
			}
			got, _ := rec.snapshot()
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("reports (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReceiverErrorAsksKannelToRetry(t *testing.T) {
	rec := newRecordingReceiver()
	rec.fail = errors.New("database is down")
	r := newRouter(t, rec)
	for _, target := range []string{
		kannel.DLRPath + "?" + dlrQuery(1, 2, "1").Encode(),
		kannel.MOPath + "?" + url.Values{"secret": {testSecret}, "from": {"13800138000"}, "to": {"12345"}, "text": {"TD"}}.Encode(),
	} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		if w.Code != http.StatusServiceUnavailable {
			t.Errorf("%s: status = %d, want 503; body %s", target[:16], w.Code, w.Body)
		}
	}
}

func utf16be(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			hi, lo := 0xD800+(r>>10), 0xDC00+(r&0x3FF)
			b.Write([]byte{byte(hi >> 8), byte(hi), byte(lo >> 8), byte(lo)})
			continue
		}
		b.Write([]byte{byte(r >> 8), byte(r)})
	}
	return b.String()
}

func TestInbound(t *testing.T) {
	at := time.Date(2026, 11, 26, 20, 19, 39, 0, time.Local)
	base := url.Values{
		"secret":  {testSecret},
		"from":    {"13800138000"},
		"to":      {"12345"},
		"text":    {"满意"},
		"charset": {"UTF-8"},
		"coding":  {"0"},
		"id":      {"071642d6-200e-4c21-b5f8-b8f30945d049"},
		"ts":      {"2026-11-26 20:19:39"},
	}
	ucs2 := with(with(with(base, "text", utf16be("满意")), "charset", "UTF-16BE"), "coding", "2")
	want := func(text string) []sms.Inbound {
		return []sms.Inbound{{From: "13800138000", To: "12345", Text: text, GatewayID: "071642d6-200e-4c21-b5f8-b8f30945d049", At: at}}
	}
	tests := []struct {
		name       string
		method     string
		rawQuery   string
		body       string
		wantStatus int
		wantBody   string
		want       []sms.Inbound
	}{
		{name: "mo-recode true: UTF-8 with coding 0", rawQuery: base.Encode(), wantStatus: 200, want: want("满意")},
		{name: "mo-recode false: UTF-16BE bytes with coding 2", rawQuery: ucs2.Encode(), wantStatus: 200, want: want("满意")},
		{name: "UTF-16BE exactly as smsbox sends it", rawQuery: "from=13800138000&to=12345&text=n%E1a%0F&charset=UTF-16BE&coding=2&id=071642d6-200e-4c21-b5f8-b8f30945d049&ts=2026-11-26+20:19:39&secret=" + testSecret, wantStatus: 200, want: want("满意")},
		{name: "UCS-2 with a surrogate pair", rawQuery: with(ucs2, "text", utf16be("好😀")).Encode(), wantStatus: 200, want: want("好😀")},
		{name: "coding 2 without a charset", rawQuery: without(ucs2, "charset").Encode(), wantStatus: 200, want: want("满意")},
		{name: "UCS-2 spelled UCS-2", rawQuery: with(ucs2, "charset", "ucs-2").Encode(), wantStatus: 200, want: want("满意")},
		{name: "GSM opt-out keyword", rawQuery: with(base, "text", "TD").Encode(), wantStatus: 200, want: want("TD")},
		{name: "empty text is kept", rawQuery: with(base, "text", "").Encode(), wantStatus: 200, want: want("")},
		{name: "Latin-1", rawQuery: with(with(base, "charset", "ISO-8859-1"), "text", "caf\xe9").Encode(), wantStatus: 200, want: want("café")},
		{name: "international sender", rawQuery: with(base, "from", "+8613800138000").Encode(), wantStatus: 200,
			want: []sms.Inbound{{From: "+8613800138000", To: "12345", Text: "满意", GatewayID: "071642d6-200e-4c21-b5f8-b8f30945d049", At: at}}},
		{name: "POSTed form", method: http.MethodPost, body: ucs2.Encode(), wantStatus: 200, want: want("满意")},
		{name: "secret in the query, message in the body", method: http.MethodPost,
			rawQuery: url.Values{"secret": {testSecret}}.Encode(), body: without(ucs2, "secret").Encode(), wantStatus: 200, want: want("满意")},

		{name: "UCS-2 of odd length", rawQuery: with(ucs2, "text", utf16be("满意")[:3]).Encode(), wantStatus: 400, wantBody: "odd number of bytes"},
		{name: "unpaired high surrogate", rawQuery: with(ucs2, "text", "\xd8\x3d").Encode(), wantStatus: 400, wantBody: "unpaired high surrogate"},
		{name: "high surrogate followed by a letter", rawQuery: with(ucs2, "text", "\xd8\x3d\x00A").Encode(), wantStatus: 400, wantBody: "unpaired high surrogate"},
		{name: "unpaired low surrogate", rawQuery: with(ucs2, "text", "\x00A\xde\x00").Encode(), wantStatus: 400, wantBody: "unpaired low surrogate"},
		{name: "invalid UTF-8", rawQuery: with(base, "text", "\xe6\xbb").Encode(), wantStatus: 400, wantBody: "not valid UTF-8"},
		{name: "binary message", rawQuery: with(base, "coding", "1").Encode(), wantStatus: 400, wantBody: "coding=1"},
		{name: "unknown coding", rawQuery: with(base, "coding", "7").Encode(), wantStatus: 400, wantBody: "is not one of Kannel's 0 (GSM)"},
		{name: "unknown charset", rawQuery: with(base, "charset", "KOI8-R").Encode(), wantStatus: 400, wantBody: "not supported"},
		{name: "missing sender", rawQuery: without(base, "from").Encode(), wantStatus: 400, wantBody: "sender"},
		{name: "empty sender", rawQuery: with(base, "from", "").Encode(), wantStatus: 400, wantBody: "sender"},
		{name: "unexpanded sender escape", rawQuery: with(base, "from", "%p").Encode(), wantStatus: 400, wantBody: "sender"},
		{name: "sender with letters", rawQuery: with(base, "from", "1380013800x").Encode(), wantStatus: 400, wantBody: "sender"},
		{name: "missing receiver", rawQuery: without(base, "to").Encode(), wantStatus: 400, wantBody: "receiver"},
		{name: "repeated text", rawQuery: base.Encode() + "&text=x", wantStatus: 400, wantBody: "given 2 times"},
		{name: "malformed query", rawQuery: base.Encode() + "&text=%E6%B", wantStatus: 400, wantBody: "malformed query"},
		{name: "wrong secret", rawQuery: with(base, "secret", "guess").Encode(), wantStatus: 403, wantBody: "secret is wrong"},
		{name: "secret of another length", rawQuery: with(base, "secret", testSecret+"x").Encode(), wantStatus: 403, wantBody: "secret is wrong"},
		{name: "no secret", rawQuery: without(base, "secret").Encode(), wantStatus: 403, wantBody: "no secret"},
		{name: "DLR signature is not the MO secret", rawQuery: with(base, "secret", kannel.Sign([]byte(testSecret), 1, 1)).Encode(), wantStatus: 403, wantBody: "secret is wrong"},
		{name: "POSTed text/plain", method: http.MethodPost, body: "满意", wantStatus: 400, wantBody: "x-www-form-urlencoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecordingReceiver()
			r := newRouter(t, rec)
			w := httptest.NewRecorder()
			target := kannel.MOPath
			if tt.rawQuery != "" {
				target += "?" + tt.rawQuery
			}
			var req *http.Request
			if tt.method == http.MethodPost {
				req = httptest.NewRequest(http.MethodPost, target, strings.NewReader(tt.body))
				if strings.Contains(tt.body, "=") {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				} else {
					req.Header.Set("Content-Type", "text/plain; charset=UTF-8")
				}
			} else {
				req = httptest.NewRequest(http.MethodGet, target, nil)
			}
			r.ServeHTTP(w, req)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("body %q does not contain %q", w.Body, tt.wantBody)
			}
			_, got := rec.snapshot()
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("inbound (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCallbacksWithoutSecretRefuseEverything(t *testing.T) {
	rec := newRecordingReceiver()
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	kannel.NewCallbacks(rec, "", nil).Routes(e)
	for _, target := range []string{
		kannel.DLRPath + "?" + url.Values{"msg": {"1"}, "part": {"1"}, "sig": {kannel.Sign(nil, 1, 1)}, "type": {"1"}}.Encode(),
		kannel.MOPath + "?" + url.Values{"secret": {""}, "from": {"13800138000"}, "to": {"12345"}, "text": {"TD"}}.Encode(),
	} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		if w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "no callback secret configured") {
			t.Errorf("%s: %d %s, want 403 saying no secret is configured", target[:16], w.Code, w.Body)
		}
	}
	if reports, inbound := rec.snapshot(); len(reports)+len(inbound) != 0 {
		t.Errorf("stored %d reports and %d inbound messages without a secret", len(reports), len(inbound))
	}
}
