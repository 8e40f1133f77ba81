package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// hostile are texts that break the one rule for text entering rexian (api.CheckText):
// PostgreSQL cannot store the first; the rest are stored as they are on SQLite and show a
// person something else than what was sent.
var hostile = []struct{ name, text string }{
	{"NUL", "adm\u0000in"},
	{"escape", "红\u001b[31m色"},
	{"DEL", "删\u007f除"},
	{"C1 control", "下\u0085一行"},
	{"lone CR", "回\r车"},
	{"right-to-left override", "gpj.\u202Eexe"},
	{"left-to-right embedding", "\u202A嵌入\u202C"},
	{"first-strong isolate", "\u2068隔离\u2069"},
}

// TestHostileTextIsRefusedNamingTheField sends each hostile text in each text field of
// the requests people and clients make, through the running platform, and expects 400
// naming the field, never a 500 and never the text stored.
func TestHostileTextIsRefusedNamingTheField(t *testing.T) {
	p := startSeeded(t, []string{"admin", "operator"}, nil, nil)
	ticket := func() map[string]any {
		return map[string]any{
			"citizen": map[string]any{"name": "张女士", "phone": "13912345678", "email": "zhang@example.org"},
			"title":   "暖气不热", "content": "小区暖气不热已经三天", "category": "TS-GN",
			"location": map[string]any{"address": "东胜区天骄路1号"}, "note": "来电反映", "external_ref": "ref-1",
		}
	}
	status, _, body := p.send(t, "operator", "POST", "/api/v1/tickets", "application/json", mustJSON(t, ticket()))
	if status != http.StatusCreated {
		t.Fatalf("a clean ticket = %d %s", status, body)
	}
	var created struct{ Number string }
	json.Unmarshal([]byte(body), &created)

	type request struct {
		role, method, path string
		body               func() map[string]any
		fields             []string // dotted paths into body
	}
	for _, rq := range []request{
		{"", "POST", "/api/v1/auth/login", func() map[string]any {
			return map[string]any{"username": "admin", "password": "secret-password"}
		}, []string{"username", "password"}},
		{"operator", "POST", "/api/v1/tickets", ticket, []string{"title", "content", "category", "note", "external_ref",
			"citizen.name", "citizen.phone", "citizen.email", "location.address"}},
		{"operator", "POST", "/api/v1/tickets/" + created.Number + "/note", func() map[string]any {
			return map[string]any{"note": "已电话联系"}
		}, []string{"note"}},
		{"admin", "POST", "/api/v1/users", func() map[string]any {
			return map[string]any{"username": "li.si", "display_name": "李四", "role": "operator", "password": "long-enough-password"}
		}, []string{"username", "display_name", "password"}},
	} {
		for _, field := range rq.fields {
			for _, h := range hostile {
				b := rq.body()
				setPath(b, field, h.text)
				status, _, got := p.send(t, rq.role, rq.method, rq.path, "application/json", mustJSON(t, b))
				if status != http.StatusBadRequest || !strings.Contains(got, `"invalid_text"`) || !strings.Contains(got, `\"`+field+`\"`) {
					t.Errorf("%s %s with %s in %s = %d %s; want 400 invalid_text naming the field", rq.method, rq.path, h.name, field, status, got)
				}
			}
		}
	}

	// Query strings and path parameters, on the API and on the citizens' pages.
	for _, q := range []struct{ path, field string }{
		{"/api/v1/tickets?q=%00", "q"},
		{"/api/v1/tickets?phone=%00", "phone"},
		{"/api/v1/tickets?q=%ff%fe", "q"},
		{"/api/v1/tickets?q=%E2%80%AE", "q"},
		{"/api/v1/tickets/26%0000001", "number"},
		{"/status?number=%00", "number"},
	} {
		status, _, got := p.send(t, "operator", "GET", q.path, "", "")
		if status != http.StatusBadRequest || !strings.Contains(got, q.field) {
			t.Errorf("GET %s = %d %s; want 400 naming %s", q.path, status, got, q.field)
		}
	}

	// The web form refuses, in Chinese, and keeps what the citizen typed, cleaned.
	form := url.Values{"content": {"小区门口\u0000路灯坏了\u202E好几天"}, "district": {"DSQ"}, "address": {"天骄路"}}
	status, _, got := p.send(t, "", "POST", "/report", "application/x-www-form-urlencoded", form.Encode())
	if status != http.StatusBadRequest || !strings.Contains(got, "“发生了什么”中含有不允许的字符") || !strings.Contains(got, "小区门口路灯坏了好几天") {
		t.Errorf("POST /report with a NUL = %d %s", status, got)
	}
	status, _, got = p.send(t, "", "POST", "/status", "application/x-www-form-urlencoded", "number=%00&last4=5678")
	if status != http.StatusBadRequest || !strings.Contains(got, "不允许的字符") {
		t.Errorf("POST /status with a NUL = %d %s", status, got)
	}

	// A newline sent as CR LF (as browsers and Windows clients send it), a tab and a
	// left-to-right mark pass; CR LF is stored as a newline.
	b := ticket()
	b["content"] = "第一行\r\n第二行\t完\u200e"
	status, _, got = p.send(t, "operator", "POST", "/api/v1/tickets", "application/json", mustJSON(t, b))
	if status != http.StatusCreated || !strings.Contains(got, `第一行\n第二行\t完`) {
		t.Errorf("a ticket with CR LF, tab and LRM = %d %s; want 201 with the newline kept as LF", status, got)
	}
}

// TestEveryJSONFieldIsHeldToTheTextRule puts a NUL into each text of every request-body
// example of the OpenAPI document in turn and sends it: so a field added to any request
// later is covered without being listed here. No answer may be a 500, and the ones that
// reach the body must name the field.
func TestEveryJSONFieldIsHeldToTheTextRule(t *testing.T) {
	p := startSeeded(t, []string{"admin"}, nil, nil)
	_, _, raw := p.send(t, "admin", "GET", "/api/v1/openapi.json", "", "")
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[A-Za-z_]+\}`)
	named := 0
	for path, ops := range doc.Paths {
		for method, rawOp := range ops {
			var op openAPIOperation
			if method == "parameters" || json.Unmarshal(rawOp, &op) != nil {
				continue
			}
			c, ok := op.RequestBody.Content["application/json"]
			if !ok {
				continue
			}
			bodies := []json.RawMessage{c.Example}
			for _, ex := range c.Examples {
				bodies = append(bodies, ex.Value)
			}
			for _, example := range bodies {
				var body any
				if json.Unmarshal(example, &body) != nil {
					continue
				}
				for _, leaf := range stringLeaves(body, "") {
					var b any
					json.Unmarshal(example, &b)
					b = replaceLeaf(b, leaf, "x\u0000y")
					target := "/api/v1" + param.ReplaceAllString(path, "2600000017")
					status, _, got := p.send(t, "admin", strings.ToUpper(method), target, "application/json", mustJSON(t, b))
					switch {
					case status >= 500:
						t.Errorf("%s %s with a NUL in %s = %d %s", strings.ToUpper(method), target, leaf, status, got)
					case strings.Contains(got, `"invalid_text"`):
						if !strings.Contains(got, `\"`+leaf+`\"`) {
							t.Errorf("%s %s with a NUL in %s: the answer does not name the field: %s", method, target, leaf, got)
						}
						named++
					}
				}
			}
		}
	}
	if named < 40 {
		t.Errorf("only %d fields were refused naming themselves; the sweep reached too few bodies", named)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// setPath sets the string at a dotted path of nested maps.
func setPath(m map[string]any, path, v string) {
	head, rest, more := strings.Cut(path, ".")
	if !more {
		m[head] = v
		return
	}
	setPath(m[head].(map[string]any), rest, v)
}

// stringLeaves lists the paths (as api.CheckFields names them: "a.b", "a[1]") of every
// string in a decoded JSON value.
func stringLeaves(v any, path string) []string {
	var out []string
	switch x := v.(type) {
	case string:
		out = append(out, path)
	case map[string]any:
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			out = append(out, stringLeaves(e, p)...)
		}
	case []any:
		for i, e := range x {
			out = append(out, stringLeaves(e, path+"["+itoa(i)+"]")...)
		}
	}
	return out
}

// replaceLeaf returns v with the string at path replaced by s.
func replaceLeaf(v any, path, s string) any {
	return walkReplace(v, "", path, s)
}

func walkReplace(v any, at, path, s string) any {
	switch x := v.(type) {
	case string:
		if at == path {
			return s
		}
	case map[string]any:
		for k, e := range x {
			p := k
			if at != "" {
				p = at + "." + k
			}
			x[k] = walkReplace(e, p, path, s)
		}
	case []any:
		for i, e := range x {
			x[i] = walkReplace(e, at+"["+itoa(i)+"]", path, s)
		}
	}
	return v
}

func itoa(i int) string { return strconv.Itoa(i) }
