package main

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/idempotency"
	"github.com/rexian/rexian/pii"
	"github.com/rexian/rexian/pii/piitest"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/tickets"
)

// TestIdempotencyKeyAfterACrash: for each creating POST, the first try succeeds, then the
// key is put back in the state a process killed between its commit and keeping the answer
// leaves behind (pending, claimed long ago, no answer); the retry must answer with what
// the first try created and create nothing more. Routes whose answer holds a secret refuse
// the header rather than store the secret.
func TestIdempotencyKeyAfterACrash(t *testing.T) {
	p := startSeeded(t, []string{"admin", "operator", "supervisor"}, nil, nil)
	status, _, out := p.send(t, "operator", "POST", "/api/v1/tickets", "application/json",
		`{"channel":"phone","citizen":{"name":"李","phone":"13812345678"},"content":"路灯不亮","category":"TS-GN"}`)
	if status != http.StatusCreated {
		t.Fatalf("register: %d %s", status, out)
	}
	var tk struct{ Number string }
	json.Unmarshal([]byte(out), &tk)

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("file", "说明.txt")
	fw.Write([]byte("路灯在3号楼门口，已坏三天"))
	mw.Close()

	count := func(model any, where string, args ...any) int64 {
		var n int64
		if err := p.db.Model(model).Where(where, args...).Count(&n).Error; err != nil {
			t.Fatal(err)
		}
		return n
	}
	tests := []struct {
		name, role, path, contentType, body string
	}{
		{"attachment", "operator", "/api/v1/tickets/" + tk.Number + "/attachments", mw.FormDataContentType(), form.String()},
		{"supervision", "supervisor", "/api/v1/dashboards/supervisions", "application/json",
			`{"ticket":"` + tk.Number + `","date":"2026-12-01","place":"交通街道","people":"王主任","findings":"已修复"}`},
		{"sms", "operator", "/api/v1/sms/messages", "application/json", `{"to":"13900001111","text":"您反映的路灯问题已修复。"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "crash-" + tt.name
			status, _, first := p.send(t, tt.role, "POST", tt.path, tt.contentType, tt.body, idempotency.Header, key)
			if status != http.StatusCreated {
				t.Fatalf("first try: %d %s", status, first)
			}
			res := p.db.Model(&idempotency.Record{}).Where("key = ?", key).
				Updates(map[string]any{"status": 0, "body": nil, "claimed_at": time.Now().UTC().Add(-time.Minute)})
			if res.Error != nil || res.RowsAffected != 1 {
				t.Fatalf("put the key back as a crash leaves it: %v, %d rows", res.Error, res.RowsAffected)
			}
			status, _, again := p.send(t, tt.role, "POST", tt.path, tt.contentType, tt.body, idempotency.Header, key)
			if status >= 300 {
				t.Fatalf("retry: %d %s", status, again)
			}
			var a, b struct {
				ID uint64 `json:"id"`
			}
			json.Unmarshal([]byte(first), &a)
			json.Unmarshal([]byte(again), &b)
			if a.ID == 0 || a.ID != b.ID {
				t.Errorf("the retry answered with id %d; the first try made %d", b.ID, a.ID)
			}
		})
	}
	if n := count(&tickets.Attachment{}, "file_name = ?", "说明.txt"); n != 1 {
		t.Errorf("%d attachments stored; want 1", n)
	}
	var sv int64
	p.db.Table("dashboards_supervisions").Count(&sv)
	if sv != 1 {
		t.Errorf("%d supervisions recorded; want 1", sv)
	}
	if n := count(&sms.Message{}, "text LIKE ?", "%路灯问题已修复%"); n != 1 {
		t.Errorf("%d SMS queued; want 1", n)
	}

	t.Run("a token's secret is never kept", func(t *testing.T) {
		status, _, out := p.send(t, "admin", "POST", "/api/v1/tokens", "application/json", `{"name":"retry-me","role":"integrator"}`,
			idempotency.Header, "token-1")
		if status != http.StatusBadRequest || !strings.Contains(out, "idempotency_not_supported") {
			t.Errorf("POST /tokens with Idempotency-Key = %d %s; want 400 idempotency_not_supported", status, out)
		}
		var kept int64
		p.db.Model(&idempotency.Record{}).Where("key = ?", "token-1").Count(&kept)
		var made int64
		p.db.Table("api_tokens").Where("name = ?", "retry-me").Count(&made)
		if kept != 0 || made != 0 {
			t.Errorf("%d keys kept and %d tokens made for a refused request", kept, made)
		}
	})
}

// With personal-data keys, the answer kept for a key (it names the citizen) is sealed in
// the database, and a retry still gets it as it was.
func TestIdempotencyAnswerSealedAtRest(t *testing.T) {
	p := startSeeded(t, []string{"operator"}, nil, func(env []string) []string {
		return append(env, "REXIAN_PERSONAL_DATA_KEYS="+strings.ReplaceAll(piitest.Text, "\n", ";"))
	})
	body := `{"channel":"phone","citizen":{"name":"李秀英","phone":"13812345678"},"content":"路灯不亮","category":"TS-GN"}`
	status, _, first := p.send(t, "operator", "POST", "/api/v1/tickets", "application/json", body, idempotency.Header, "sealed-1")
	if status != http.StatusCreated || !strings.Contains(first, "李秀英") {
		t.Fatalf("register: %d %s", status, first)
	}
	var kept idempotency.Record
	if err := p.db.Where("key = ?", "sealed-1").Take(&kept).Error; err != nil {
		t.Fatal(err)
	}
	if _, ok := pii.IsSealed(string(kept.Body)); !ok || strings.Contains(string(kept.Body), "李秀英") {
		t.Fatalf("the kept answer is stored as %.80q; want it sealed", kept.Body)
	}
	status, h, again := p.send(t, "operator", "POST", "/api/v1/tickets", "application/json", body, idempotency.Header, "sealed-1")
	if status != http.StatusCreated || h.Get("Idempotent-Replayed") != "true" || again != first {
		t.Fatalf("retry: %d %s (replayed %q); want the first answer again", status, again, h.Get("Idempotent-Replayed"))
	}
}
