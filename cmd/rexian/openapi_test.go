package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

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
	} {
		code, tok, stderr := runCLI(t, env, "", append([]string{"tokens", "create", "--name", "t-" + who}, args...)...)
		if code != exitOK {
			t.Fatalf("tokens create %s: %s", who, stderr)
		}
		bearer[who] = "Bearer " + strings.TrimSpace(tok)
	}
	r := startApp(t, testConfig(t, env))

	_, raw := get(t, r.base+"/api/v1/openapi.json")
	type operation struct {
		RequestBody struct {
			Content map[string]struct {
				Example  json.RawMessage `json:"example"`
				Examples map[string]struct {
					Value json.RawMessage `json:"value"`
				} `json:"examples"`
			} `json:"content"`
		} `json:"requestBody"`
	}
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
			var op operation
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
		{"operator", "approve"}, {"operator", "reopen"},
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

	for key := range examples {
		if !posted[key] {
			t.Errorf("example %s was not posted by this test", key)
		}
	}
}
