package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/dashboards"
	"github.com/rexian/rexian/ivr/aritest"
	"github.com/rexian/rexian/tickets"
)

// openAPIOperation is the part of an OpenAPI operation the tests read: its body examples.
type openAPIOperation struct {
	RequestBody struct {
		Content map[string]struct {
			Example  json.RawMessage `json:"example"`
			Examples map[string]struct {
				Value json.RawMessage `json:"value"`
			} `json:"examples"`
		} `json:"content"`
	} `json:"requestBody"`
}

// TestOpenAPIExamplesWork posts every request-body example of the OpenAPI document to
// the running platform, as the role that would send it, and expects each to succeed. Path
// parameters, and the one body field that names another ticket (merge's "into"), are
// filled with the ids the earlier steps created; everything else is posted as documented.
func TestOpenAPIExamplesWork(t *testing.T) {
	env := testEnv(t, "")
	if code, _, stderr := runCLI(t, env, "", "seed", "--demo"); code != exitOK {
		t.Fatalf("seed --demo: exit %d: %s", code, stderr)
	}
	bearer := map[string]string{}
	for who, args := range map[string][]string{
		"admin":      {"--role", "admin"},
		"operator":   {"--role", "operator"},
		"supervisor": {"--role", "supervisor"},
		"SRLGS":      {"--role", "department", "--department", "SRLGS"},
		"DSQ":        {"--role", "department", "--department", "DSQ"},
		"integrator": {"--role", "integrator"},
	} {
		code, tok, stderr := runCLI(t, env, "", append([]string{"tokens", "create", "--name", "t-" + who, "--scope", "*"}, args...)...)
		if code != exitOK {
			t.Fatalf("tokens create %s: %s", who, stderr)
		}
		bearer[who] = "Bearer " + strings.TrimSpace(tok)
	}
	// The telephone examples need a controller: attach one to the ARI emulator.
	asterisk, err := aritest.New(aritest.Options{Second: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(asterisk.Close)
	cfg := testConfig(t, env)
	cfg.ARI = config.ARI{URL: []string{asterisk.URL()}, User: "hotline", Password: "hotline", App: "hotline"}
	// Surveys at once and at any hour, so that the manual answer has a survey to go to.
	cfg.Callback.Delay, cfg.Callback.Hours, cfg.SMS.QuietHours = 0, "", ""
	cfg.Callback.Interval = 50 * time.Millisecond
	cfg.Dashboards.CardInterval = 50 * time.Millisecond // the card notices go out at once
	r := startApp(t, cfg)

	_, raw := get(t, r.base+"/api/v1/openapi.json")
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	examples := map[string]json.RawMessage{} // "METHOD path[#name]" → body
	for path, ops := range doc.Paths {
		for method, rawOp := range ops {
			if method == "parameters" {
				continue
			}
			var op openAPIOperation
			if err := json.Unmarshal(rawOp, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			c, ok := op.RequestBody.Content["application/json"]
			if !ok {
				continue
			}
			key := strings.ToUpper(method) + " " + path
			switch {
			case len(c.Examples) > 0:
				for name, ex := range c.Examples {
					examples[key+"#"+name] = ex.Value
				}
			case len(c.Example) > 0:
				examples[key] = c.Example
			default:
				t.Errorf("%s has a JSON body without an example", key)
			}
		}
	}

	posted := map[string]bool{}
	send := func(who, method, path, key string, body json.RawMessage, subst map[string]string) map[string]any {
		t.Helper()
		if body == nil {
			var ok bool
			if body, ok = examples[key]; !ok {
				t.Fatalf("no example %q in the document", key)
			}
			posted[key] = true
		}
		b := string(body)
		for k, v := range subst {
			b = strings.ReplaceAll(b, k, v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, r.base+"/api/v1"+path, bytes.NewReader([]byte(b)))
		req.Header.Set("Content-Type", "application/json")
		if who != "" {
			req.Header.Set("Authorization", bearer[who])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s (%s, as %s) = %d %s", key, path, who, resp.StatusCode, out)
		}
		var m map[string]any
		json.Unmarshal(out, &m)
		return m
	}
	act := func(who, number, action string, subst map[string]string) map[string]any {
		t.Helper()
		return send(who, "POST", "/tickets/"+number+"/"+action, "POST /tickets/{number}/{action}#"+action, nil, subst)
	}
	newTicket := func(mod func(string) string) string {
		t.Helper()
		body := string(examples["POST /tickets"])
		if mod != nil {
			body = mod(body)
		}
		m := send("operator", "POST", "/tickets", "POST /tickets", json.RawMessage(body), nil)
		posted["POST /tickets"] = true
		return m["number"].(string)
	}

	send("", "POST", "/auth/login", "POST /auth/login", nil, nil)
	twoFactorExamples(t, r, examples, posted)
	u := send("admin", "POST", "/users", "POST /users", nil, nil)
	send("admin", "PATCH", fmt.Sprintf("/users/%v", u["id"]), "PATCH /users/{id}", nil, nil)
	send("admin", "POST", "/tokens", "POST /tokens", nil, nil)
	send("admin", "POST", "/departments", "POST /departments", nil, nil)
	send("admin", "POST", "/categories", "POST /categories", nil, nil)

	// One ticket through dispatch, extension, urge, reply, verification and reopening.
	t1 := newTicket(nil)
	for _, step := range []struct{ who, action string }{
		{"operator", "dispatch"}, {"SRLGS", "request_extension"}, {"supervisor", "refuse_extension"},
		{"SRLGS", "request_extension"}, {"supervisor", "approve_extension"}, {"supervisor", "urge"},
		{"SRLGS", "sign"}, {"SRLGS", "reply"}, {"operator", "send_back"}, {"SRLGS", "reply"},
		{"operator", "approve"}, {"operator", "reopen"}, {"operator", "note"},
	} {
		act(step.who, t1, step.action, nil)
	}
	// One through returns, arbitration and re-dispatch downwards.
	t2 := newTicket(nil)
	for _, step := range []struct{ who, action string }{
		{"operator", "dispatch"}, {"SRLGS", "return"}, {"operator", "reject_return"}, {"SRLGS", "return"},
		{"operator", "accept_return"}, {"DSQ", "redispatch"},
	} {
		act(step.who, t2, step.action, nil)
	}
	act("operator", newTicket(nil), "merge", map[string]string{"2600000014": t1})
	act("operator", newTicket(nil), "refuse", nil)
	consult := newTicket(func(b string) string { return strings.Replace(b, `"TS-GN"`, `"ZX-SHBX"`, 1) })
	act("operator", consult, "answer", nil)

	// The consultation's survey SMS goes out; an operator records the answer by hand.
	var surveyID float64
	eventually(t, "the consultation's survey is sent", func() bool {
		list := send("operator", "GET", "/callback/surveys?ticket="+consult, "", json.RawMessage(`{}`), nil)
		items, _ := list["surveys"].([]any)
		if len(items) != 1 {
			return false
		}
		sv, _ := items[0].(map[string]any)
		surveyID, _ = sv["id"].(float64)
		return sv["status"] == "awaiting_sms"
	})
	answered := send("operator", "POST", fmt.Sprintf("/callback/surveys/%d/answer", int(surveyID)), "POST /callback/surveys/{id}/answer", nil, nil)
	if answered["result"] != "dissatisfied" || answered["channel"] != "manual" || answered["reopened_at"] == nil {
		t.Errorf("the manual answer: %v", answered)
	}

	// The dashboards: an urge from the overdue list, an on-site supervision, a brief, and
	// the published answer of a consultation answered at once.
	send("supervisor", "POST", "/dashboards/overdue/"+t2+"/urge", "POST /dashboards/overdue/{number}/urge", nil, nil)
	sv := send("supervisor", "POST", "/dashboards/supervisions", "POST /dashboards/supervisions", nil, map[string]string{"2600000014": t2})
	send("supervisor", "PUT", fmt.Sprintf("/dashboards/supervisions/%v", sv["id"]), "PUT /dashboards/supervisions/{id}", nil, nil)
	send("supervisor", "POST", "/dashboards/briefs", "POST /dashboards/briefs", nil, map[string]string{"2600000014": t2})
	published := newTicket(func(b string) string { return strings.Replace(b, `"TS-GN"`, `"ZX-SHBX"`, 1) })
	act("operator", published, "answer", nil)
	if a := send("supervisor", "POST", "/dashboards/answers", "POST /dashboards/answers", nil, map[string]string{"2600000014": published}); a["answer"] == "" {
		t.Errorf("the published answer: %v", a)
	}

	// A yellow card to SRLGS: the worker texts the department's duty mobile, and the
	// department signs for the card (a POST without a body).
	if err := r.app.db.Model(&tickets.Department{}).Where("code = ?", "SRLGS").Update("phone", "13900001111").Error; err != nil {
		t.Fatal(err)
	}
	var srlgs uint
	r.app.db.Model(&tickets.Department{}).Where("code = ?", "SRLGS").Pluck("id", &srlgs)
	now := time.Now().UTC()
	card := dashboards.Card{DepartmentID: srlgs, Color: dashboards.Yellow, Rule: dashboards.RuleOverdue, Cause: "openapi:" + t1,
		Month: now.In(cfg.Location()).Format("2006-01"), TicketNumber: t1, Reason: "工单 " + t1 + " 超期未办结", CauseAt: now, IssuedAt: now}
	if err := r.app.db.Create(&card).Error; err != nil {
		t.Fatal(err)
	}
	eventually(t, "the card's SMS is queued", func() bool {
		list := send("operator", "GET", "/sms/messages?kind=card_notice", "", json.RawMessage(`{}`), nil)
		items, _ := list["messages"].([]any)
		return len(items) == 1 && strings.Contains(fmt.Sprint(items[0]), "市热力公司：您单位被亮黄牌")
	})
	signed := send("SRLGS", "POST", fmt.Sprintf("/cards/%d/acknowledge", card.ID), "", json.RawMessage(`{}`), nil)
	if signed["acknowledged_at"] == nil || signed["notified_at"] == nil || signed["acknowledged_by"] != "department:t-SRLGS" {
		t.Errorf("the signed card: %v", signed)
	}

	// The SMS outbox, templates, suppression list, approval items and notices.
	send("operator", "POST", "/sms/measure", "POST /sms/measure", nil, nil)
	msg := send("operator", "POST", "/sms/messages", "POST /sms/messages", nil, nil)
	if msg["part_count"] == nil {
		t.Errorf("POST /sms/messages answered %v without part_count", msg)
	}
	send("admin", "POST", "/sms/templates", "POST /sms/templates", nil, nil)
	send("admin", "PUT", "/sms/templates/receipt", "PUT /sms/templates/{name}", nil, nil)
	send("supervisor", "POST", "/sms/suppressions", "POST /sms/suppressions", nil, nil)
	send("admin", "PUT", "/sms/material-items/JZZ", "PUT /sms/material-items/{code}", nil, nil)
	// The example replaces the whole list: afterwards 社保 is the only term, with its one word.
	if syns, _ := send("admin", "PUT", "/sms/synonyms", "PUT /sms/synonyms", nil, nil)["synonyms"].([]any); len(syns) != 1 ||
		fmt.Sprintf("%v %v", syns[0].(map[string]any)["term"], syns[0].(map[string]any)["words"]) != "社保 [社会保险]" {
		t.Errorf("PUT /sms/synonyms answered %v, want the example's one term", syns)
	}
	// The example replaces the refusal reasons: afterwards its two, in its order.
	if rs, _ := send("admin", "PUT", "/refusal-reasons", "PUT /refusal-reasons", nil, nil)["refusal_reasons"].([]any); len(rs) != 2 ||
		rs[1].(map[string]any)["code"] != "civil_dispute" {
		t.Errorf("PUT /refusal-reasons answered %v, want the example's two reasons", rs)
	}
	// The example rewords one prompt; the answer says so and what must follow.
	if pr := send("admin", "PUT", "/ivr/prompts", "PUT /ivr/prompts", nil, nil); fmt.Sprint(pr["changed"]) != "[welcome-mayor]" ||
		!strings.Contains(fmt.Sprint(pr["next"]), "rexian prompts") {
		t.Errorf("PUT /ivr/prompts answered changed %v, next %v; want welcome-mayor and the step after", pr["changed"], pr["next"])
	}
	send("operator", "POST", "/sms/materials-notices", "POST /sms/materials-notices", nil, nil)
	notice := send("integrator", "POST", "/notices/application-confirmations", "POST /notices/application-confirmations", nil, nil)
	if m, _ := notice["message"].(map[string]any); m == nil || m["status"] != "queued" {
		t.Errorf("the notice's message: %v", notice["message"])
	}

	// A call through the telephone API: the operator joins the queue, takes a complaint
	// call, hands the caller to 120, then pauses.
	asterisk.SetPhone("PJSIP/8001", aritest.Phone{})
	asterisk.SetPhone("Local/120@rexian-outbound", aritest.Phone{})
	eventually(t, "the controller connects to Asterisk", asterisk.Connected)
	send("operator", "POST", "/ivr/agents/me/login", "POST /ivr/agents/me/login", nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	caller, err := asterisk.Dial(ctx, aritest.Caller{Number: "13700000001", Dialled: "12345"})
	if err != nil {
		t.Fatal(err)
	}
	caller.Press("1")
	operatorLeg, err := asterisk.WaitOriginated(ctx, "PJSIP/8001")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the caller talks to the operator", func() bool {
		return operatorLeg.BridgeID() != "" && operatorLeg.BridgeID() == caller.BridgeID()
	})
	var callID float64
	eventually(t, "the call record shows the operator", func() bool {
		calls := send("supervisor", "GET", "/ivr/calls", "", json.RawMessage(`{}`), nil)
		list, _ := calls["calls"].([]any)
		if len(list) == 0 {
			return false
		}
		first, _ := list[0].(map[string]any)
		callID, _ = first["id"].(float64)
		return first["operator"] == "t-operator"
	})
	send("operator", "POST", fmt.Sprintf("/ivr/calls/%d/transfer", int(callID)), "POST /ivr/calls/{id}/transfer", nil, nil)
	if _, err := asterisk.WaitOriginated(ctx, "Local/120@rexian-outbound"); err != nil {
		t.Fatal(err)
	}
	send("operator", "POST", fmt.Sprintf("/ivr/calls/%d/control", int(callID)), "POST /ivr/calls/{id}/control", nil, nil)
	send("supervisor", "POST", fmt.Sprintf("/ivr/calls/%d/monitor", int(callID)), "POST /ivr/calls/{id}/monitor", nil, nil)
	send("operator", "POST", "/ivr/agents/me/state", "POST /ivr/agents/me/state", nil, nil)
	caller.Hangup()

	for key := range examples {
		if !posted[key] {
			t.Errorf("example %s was not posted by this test", key)
		}
	}
}

// twoFactorExamples posts the second factor's examples as a person would: a session sets
// the factor up with the confirm example, then a login's challenge is answered with the
// second-factor example, the codes computed from the secret the set-up answered.
func twoFactorExamples(t *testing.T, r *running, examples map[string]json.RawMessage, posted map[string]bool) {
	t.Helper()
	const user, pw = "duty.supervisor", "duty-supervisor-2026"
	if _, err := r.app.domains.auth.CreateUser(context.Background(), auth.NewUser{Username: user, Role: auth.RoleSupervisor, Password: pw}); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	csrf := ""
	post := func(path, body string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, r.base+"/api/v1"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", csrf)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s = %d %s", path, resp.StatusCode, out)
		}
		var m map[string]any
		json.Unmarshal(out, &m)
		return m
	}
	example := func(key string, subst ...string) string {
		t.Helper()
		b, ok := examples[key]
		if !ok {
			t.Fatalf("no example %q in the document", key)
		}
		posted[key] = true
		return strings.NewReplacer(subst...).Replace(string(b))
	}
	login := `{"username":"` + user + `","password":"` + pw + `"}`
	csrf = post("/auth/login", login)["csrf_token"].(string)
	secret := post("/auth/two-factor/enrolment", "")["secret"].(string)
	code, used := totpAfter(t, secret, time.Time{})
	codes := post("/auth/two-factor/enrolment/confirm", example("POST /auth/two-factor/enrolment/confirm", "123456", code))["recovery_codes"]
	if n, _ := codes.([]any); len(n) != 10 {
		t.Fatalf("recovery codes: %v", codes)
	}
	ch := post("/auth/login", login)
	if ch["second_factor_required"] != true {
		t.Fatalf("login with a second factor: %v", ch)
	}
	code, _ = totpAfter(t, secret, used)
	if m := post("/auth/login/second-factor", example("POST /auth/login/second-factor", "CHALLENGE", ch["challenge"].(string), "123456", code)); m["csrf_token"] == nil {
		t.Fatalf("second step: %v", m)
	}
}
