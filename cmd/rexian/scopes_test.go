package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/sms"
)

// TestTokenScopesThroughTheApp drives the assembled API with tokens of different scopes,
// as an integration would: a default token registers tickets but sees citizens' data
// masked and cannot search by phone, download files or act on tickets; a token with
// personal:read sees and searches; one with files:read downloads.
func TestTokenScopesThroughTheApp(t *testing.T) {
	p := startSeeded(t, []string{"admin", "operator"}, nil, nil)
	mint := func(name, role string, scopes ...string) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"name": name, "role": role, "scopes": scopes})
		status, _, out := p.send(t, "admin", "POST", "/api/v1/tokens", "application/json", string(body))
		if status != http.StatusCreated {
			t.Fatalf("create token %s: %d %s", name, status, out)
		}
		var tok struct {
			Secret string `json:"secret"`
		}
		if err := json.Unmarshal([]byte(out), &tok); err != nil {
			t.Fatal(err)
		}
		p.tokens[name] = "Bearer " + tok.Secret
	}
	mint("approvals", "integrator") // the defaults
	mint("crm", "integrator", "tickets:read", "personal:read")
	mint("archive", "integrator", "tickets:read", "files:read")
	mint("desk-tool", "operator") // an operator's token, default scopes

	status, _, out := p.send(t, "approvals", "POST", "/api/v1/tickets", "application/json",
		`{"channel":"phone","citizen":{"name":"王丽娜","phone":"13912345678","email":"wang@example.org"},"content":"小区路灯不亮三天了","category":"TS-GN"}`)
	if status != http.StatusCreated {
		t.Fatalf("POST /tickets with a default token = %d %s", status, out)
	}
	var created struct {
		Number  string `json:"number"`
		Citizen struct {
			Name, Phone, Email string
		} `json:"citizen"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	if created.Citizen.Phone != "139****5678" || created.Citizen.Name != "王**" || strings.Contains(out, "wang@example.org") {
		t.Errorf("the default token was answered with the citizen %+v; want phone, name and e-mail masked", created.Citizen)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	att, err := p.r.app.domains.tickets.AddAttachment(ctx, &auth.Principal{Name: "op", Role: auth.RoleOperator},
		created.Number, "照片说明.txt", strings.NewReader("路灯在3号楼门口"))
	if err != nil {
		t.Fatal(err)
	}

	n := created.Number
	tests := []struct {
		name, token, method, path string
		status                    int
		has, hasNot               string
	}{
		{"default reads masked", "approvals", "GET", "/api/v1/tickets/" + n, 200, "139****5678", "13912345678"},
		{"default lists masked", "approvals", "GET", "/api/v1/tickets?q=" + n, 200, "139****5678", "13912345678"},
		{"default cannot search by phone", "approvals", "GET", "/api/v1/tickets?phone=13912345678", 403, "personal:read", ""},
		{"default cannot search by phone as text", "approvals", "GET", "/api/v1/tickets?q=13912345678", 403, "personal:read", ""},
		{"default cannot download", "approvals", "GET", "/api/v1/tickets/" + n + "/attachments/" + itoa(int(att.ID)), 403, "files:read", ""},
		{"default cannot read the SMS outbox", "approvals", "GET", "/api/v1/sms/messages", 403, "sms:read", ""},
		{"personal:read sees the citizen", "crm", "GET", "/api/v1/tickets/" + n, 200, "13912345678", "139****5678"},
		{"personal:read searches by phone", "crm", "GET", "/api/v1/tickets?phone=13912345678", 200, n, ""},
		{"personal:read does not register", "crm", "POST", "/api/v1/tickets", 403, "tickets:create", ""},
		{"files:read downloads", "archive", "GET", "/api/v1/tickets/" + n + "/attachments/" + itoa(int(att.ID)), 200, "路灯在3号楼门口", ""},
		{"an operator's default token cannot act", "desk-tool", "POST", "/api/v1/tickets/" + n + "/note", 403, "tickets:write", ""},
		{"an operator's token with every scope acts", "operator", "POST", "/api/v1/tickets/" + n + "/note", 200, "", ""},
		{"the admin's list shows scopes", "admin", "GET", "/api/v1/tokens", 200, `"scopes":["files:read","tickets:read"]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := ""
			switch {
			case strings.HasSuffix(tt.path, "/note"):
				body = `{"note":"已电话联系"}`
			case tt.method == "POST":
				body = `{"content":"路灯不亮","category":"TS-GN"}`
			}
			status, _, out := p.send(t, tt.token, tt.method, tt.path, "application/json", body)
			if status != tt.status || !strings.Contains(out, tt.has) || (tt.hasNot != "" && strings.Contains(out, tt.hasNot)) {
				t.Errorf("%s %s = %d %.300s; want %d with %q and without %q", tt.method, tt.path, status, out, tt.status, tt.has, tt.hasNot)
			}
		})
	}
}

// TestCitizensNumbersBeyondTickets: call records, surveys and SMS show a token without
// personal:read the citizen's number masked and refuse it a search by number; someone
// shown the numbers leaves a pii_viewed record naming what they saw, as for tickets.
func TestCitizensNumbersBeyondTickets(t *testing.T) {
	p := startSeeded(t, []string{"admin", "supervisor", "operator"}, nil, nil)
	body, _ := json.Marshal(map[string]any{"name": "wall", "role": "supervisor", "scopes": []string{"calls:read", "sms:read", "figures:read"}})
	status, _, out := p.send(t, "admin", "POST", "/api/v1/tokens", "application/json", string(body))
	if status != http.StatusCreated {
		t.Fatalf("create token: %d %s", status, out)
	}
	var tok struct {
		Secret string `json:"secret"`
	}
	json.Unmarshal([]byte(out), &tok)
	p.tokens["wall"] = "Bearer " + tok.Secret

	const tel = "13912345678"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	now := time.Now().UTC()
	call := ivr.Record{Node: "n1", ChannelID: "c1", Caller: tel, Dialled: "12345", Hotline: "12345", Direction: "inbound", ArrivedAt: now, UpdatedAt: now}
	if err := p.db.Create(&call).Error; err != nil {
		t.Fatal(err)
	}
	status, _, out = p.send(t, "operator", "POST", "/api/v1/tickets", "application/json",
		`{"channel":"phone","citizen":{"phone":"`+tel+`"},"content":"小区路灯不亮","category":"TS-GN"}`)
	if status != http.StatusCreated {
		t.Fatalf("register: %d %s", status, out)
	}
	var tk struct{ Number string }
	json.Unmarshal([]byte(out), &tk)
	if err := p.db.Exec(`INSERT INTO callback_surveys (ticket_id, ticket_number, completion_seq, completed_at, category_id, phone, phone_kind, status, due_at, created_at, updated_at)
SELECT id, number, 1, ?, category_id, ?, 'mobile', 'manual', ?, ?, ? FROM tickets WHERE number = ?`, now, tel, now, now, now, tk.Number).Error; err != nil {
		t.Fatal(err)
	}
	var survey uint64
	p.db.Raw(`SELECT id FROM callback_surveys`).Scan(&survey)
	if status, _, out := p.send(t, "operator", "POST", "/api/v1/sms/messages", "application/json", `{"to":"`+tel+`","text":"您反映的路灯问题已修复。"}`); status != http.StatusCreated {
		t.Fatalf("send: %d %s", status, out)
	}
	if err := p.r.app.domains.sms.Receive(ctx, sms.Inbound{From: tel, To: "12345", Text: "谢谢", At: now}); err != nil {
		t.Fatal(err)
	}
	if status, _, out := p.send(t, "supervisor", "POST", "/api/v1/sms/suppressions", "application/json", `{"phone":"`+tel+`"}`); status != http.StatusCreated {
		t.Fatalf("opt out: %d %s", status, out)
	}
	viewed := func() []string {
		var targets []string
		p.db.Raw(`SELECT target FROM audit_records WHERE action = 'pii_viewed' AND target NOT LIKE 'ticket%' ORDER BY seq`).Scan(&targets)
		return targets
	}

	callPath, surveyPath := "/api/v1/ivr/calls/"+strconv.FormatUint(call.ID, 10), "/api/v1/callback/surveys/"+strconv.FormatUint(survey, 10)
	for _, tt := range []struct {
		path   string
		status int
		has    string
	}{
		{"/api/v1/ivr/calls", 200, "139****5678"},
		{callPath, 200, "139****5678"},
		{"/api/v1/ivr/calls?caller=" + tel, 403, "personal:read"},
		{"/api/v1/callback/surveys", 200, "139****5678"},
		{surveyPath, 200, "139****5678"},
		{"/api/v1/sms/messages", 200, "139****5678"},
		{"/api/v1/sms/messages?recipient=" + tel, 403, "personal:read"},
		{"/api/v1/sms/inbound", 200, "139****5678"},
		{"/api/v1/sms/inbound?from=" + tel, 403, "personal:read"},
		{"/api/v1/sms/suppressions", 200, "139****5678"},
	} {
		status, _, out := p.send(t, "wall", "GET", tt.path, "", "")
		if status != tt.status || !strings.Contains(out, tt.has) || strings.Contains(out, tel) {
			t.Errorf("wall GET %s = %d %.300s; want %d with %q and never the whole number", tt.path, status, out, tt.status, tt.has)
		}
	}
	if got := viewed(); len(got) != 0 {
		t.Errorf("masked views were recorded as views of citizens' data: %q", got)
	}

	for _, path := range []string{"/api/v1/ivr/calls?caller=" + tel, callPath, "/api/v1/callback/surveys", surveyPath,
		"/api/v1/sms/messages?recipient=" + tel, "/api/v1/sms/inbound?from=" + tel, "/api/v1/sms/suppressions"} {
		status, _, out := p.send(t, "supervisor", "GET", path, "", "")
		if status != http.StatusOK || !strings.Contains(out, tel) {
			t.Errorf("supervisor GET %s = %d %.300s; want the whole number", path, status, out)
		}
	}
	want := []string{"call:" + strconv.FormatUint(call.ID, 10), "call:" + strconv.FormatUint(call.ID, 10),
		"survey:" + strconv.FormatUint(survey, 10), "survey:" + strconv.FormatUint(survey, 10), "sms", "sms_inbound:", "sms_opt_out:139****5678"}
	got := viewed()
	if len(got) != len(want) {
		t.Fatalf("views recorded: %q; want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("view %d recorded as %q; want %q", i+1, got[i], want[i])
		}
	}
}
