package open311

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/ticketstest"
)

// testCity is this package's own: the tests count its services, which must all be
// complaints (the small city of ticketstest also has consultations), and name its codes.
const testCity = `
departments:
  - {code: HEAT, name: 市热力公司, level: city}
  - code: DSQ
    name: 东胜区人民政府
    level: district
    government: true
    children:
      - {code: DSQ-JTJD, name: 交通街道办事处, level: township, government: true}
  - {code: KBSQ, name: 康巴什区人民政府, level: district, government: true}
categories:
  - code: TS
    name: 投诉
    kind: complaint
    sign_limit: 4wh
    handle_limit: 5wd
    children:
      - {code: TS-GN, name: 供暖, department: HEAT}
      - {code: TS-WYGL, name: 物业管理}
`

const configuredKey = "key-0123456789abcdef"

var desk = &auth.Principal{UserID: 1, Name: "wang", Role: auth.RoleOperator}

type fixture struct {
	t      *testing.T
	ctx    context.Context
	store  *tickets.Store
	engine *gin.Engine
	token  string // an integrator token with the default scopes
	// ticketsOnly is an integrator token without scope open311.
	ticketsOnly string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	env := ticketstest.New(t, ticketstest.Options{City: ticketstest.ParseCity(t, testCity), Migrations: auth.Migrations()})
	authService := auth.NewService(env.DB, nil, auth.Options{Departments: env.Store})
	tok, _, err := authService.CreateToken(env.Ctx, "city-app", auth.RoleIntegrator, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ticketsOnly, _, err := authService.CreateToken(env.Ctx, "reader", auth.RoleIntegrator, "", []string{auth.ScopeTicketsCreate, auth.ScopeTicketsRead})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(Options{Store: env.Store, Tokens: authService, JurisdictionID: "ordos.gov.cn", Keys: []string{configuredKey}})
	if err != nil {
		t.Fatal(err)
	}
	e := gin.New()
	h.Routes(e)
	return &fixture{t: t, ctx: env.Ctx, store: env.Store, engine: e, token: tok, ticketsOnly: ticketsOnly}
}

func (f *fixture) get(path string) (int, string, string) {
	f.t.Helper()
	w := httptest.NewRecorder()
	f.engine.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w.Code, w.Header().Get("Content-Type"), w.Body.String()
}

func (f *fixture) post(path string, form url.Values) (int, string) {
	f.t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	f.engine.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

// report posts a valid heating report and returns its number and token.
func (f *fixture) report(change func(url.Values)) (string, string) {
	f.t.Helper()
	form := url.Values{"api_key": {configuredKey}, "service_code": {"TS-GN"}, "lat": {"39.6086"}, "long": {"109.7813"},
		"description": {"小区暖气不热，联系电话13812345678"}, "first_name": {"女士"}, "last_name": {"李"}}
	if change != nil {
		change(form)
	}
	code, body := f.post("/open311/v2/requests.json", form)
	if code != http.StatusCreated {
		f.t.Fatalf("POST requests.json = %d: %s", code, body)
	}
	var out []posted
	if err := json.Unmarshal([]byte(body), &out); err != nil || len(out) != 1 {
		f.t.Fatalf("answer %s: %v", body, err)
	}
	return out[0].ServiceRequestID, out[0].Token
}

func specErrorOf(t *testing.T, ctype, body string) specError {
	t.Helper()
	if strings.HasPrefix(ctype, "text/xml") {
		var x errorsXML
		if err := xml.Unmarshal([]byte(body), &x); err != nil || len(x.Errors) != 1 {
			t.Fatalf("not an XML error list: %s (%v)", body, err)
		}
		return x.Errors[0]
	}
	var list []specError
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 1 {
		t.Fatalf("not a JSON error list: %s (%v)", body, err)
	}
	return list[0]
}

func TestServices(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/open311/v2/services.json", "/open311/v2/services.xml?jurisdiction_id=ordos.gov.cn"} {
		code, ctype, body := f.get(path)
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d: %s", path, code, body)
		}
		var list []service
		if strings.HasSuffix(strings.Split(path, "?")[0], ".xml") {
			var x servicesXML
			if err := xml.Unmarshal([]byte(body), &x); err != nil {
				t.Fatalf("%s: %v\n%s", path, err, body)
			}
			if !strings.HasPrefix(ctype, "text/xml") || !strings.Contains(body, "<services><service><service_code>") {
				t.Errorf("%s: %s %s", path, ctype, body)
			}
			list = x.Services
		} else if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{"TS-GN": false, "TS-WYGL": true}
		if len(list) != len(want) {
			t.Fatalf("%s: services %+v, want %v", path, list, want)
		}
		for _, s := range list {
			if meta, ok := want[s.ServiceCode]; !ok || s.Metadata != meta || s.Group != "投诉" || s.Type != "realtime" {
				t.Errorf("%s: service %+v", path, s)
			}
		}
	}
}

func TestServiceDefinition(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		path      string
		status    int
		attrCodes []string
	}{
		{"/open311/v2/services/TS-WYGL.json", http.StatusOK, []string{"district", "township"}},
		{"/open311/v2/services/TS-WYGL.xml", http.StatusOK, []string{"district", "township"}},
		{"/open311/v2/services/TS-GN.json", http.StatusOK, nil},
		{"/open311/v2/services/TS-GN.xml", http.StatusOK, nil},
		{"/open311/v2/services/NOPE.json", http.StatusNotFound, nil},
		{"/open311/v2/services/NOPE.xml", http.StatusNotFound, nil},
		{"/open311/v2/services/TS-GN.html", http.StatusNotFound, nil},
		{"/open311/v2/services.json?jurisdiction_id=elsewhere", http.StatusNotFound, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, ctype, body := f.get(tt.path)
			if code != tt.status {
				t.Fatalf("= %d, want %d: %s", code, tt.status, body)
			}
			if code != http.StatusOK {
				if e := specErrorOf(t, ctype, body); e.Code != tt.status || e.Description == "" {
					t.Errorf("error %+v", e)
				}
				return
			}
			var d definition
			var err error
			if strings.HasSuffix(tt.path, ".xml") {
				err = xml.Unmarshal([]byte(body), &d)
			} else {
				err = json.Unmarshal([]byte(body), &d)
			}
			if err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			var codes []string
			for _, a := range d.Attributes {
				codes = append(codes, a.Code)
			}
			if strings.Join(codes, ",") != strings.Join(tt.attrCodes, ",") {
				t.Fatalf("attributes %v, want %v: %s", codes, tt.attrCodes, body)
			}
			if len(d.Attributes) > 0 {
				a := d.Attributes[0]
				if !a.Required || a.Datatype != "singlevaluelist" || len(a.Values) != 2 || a.Values[0].Key != "DSQ" {
					t.Errorf("district attribute %+v", a)
				}
			}
		})
	}
}

func TestPostRequest(t *testing.T) {
	f := newFixture(t)
	base := func() url.Values {
		return url.Values{"api_key": {configuredKey}, "service_code": {"TS-WYGL"}, "address_string": {"幸福小区3号楼"},
			"attribute[district]": {"DSQ"}, "attribute[township]": {"DSQ-JTJD"}, "description": {"电梯坏了一周没人修"}}
	}
	tests := []struct {
		name   string
		change func(url.Values)
		status int
		want   string
	}{
		{"configured key", nil, http.StatusCreated, ""},
		{"integrator token", func(v url.Values) { v.Set("api_key", f.token) }, http.StatusCreated, ""},
		{"lat and long only", func(v url.Values) { v.Del("address_string"); v.Set("lat", "39.6"); v.Set("long", "109.8") }, http.StatusCreated, ""},
		{"media url", func(v url.Values) { v.Set("media_url", "https://img.example.org/1.jpg") }, http.StatusCreated, ""},
		{"no key", func(v url.Values) { v.Del("api_key") }, http.StatusForbidden, "api_key is required"},
		{"wrong key", func(v url.Values) { v.Set("api_key", "rxn_forged") }, http.StatusForbidden, "api_key is invalid"},
		{"token without scope open311", func(v url.Values) { v.Set("api_key", f.ticketsOnly) }, http.StatusForbidden, "lacks scope open311"},
		{"wrong service code", func(v url.Values) { v.Set("service_code", "NOPE") }, http.StatusNotFound, "service_code NOPE not found"},
		{"no service code", func(v url.Values) { v.Del("service_code") }, http.StatusBadRequest, "service_code is required"},
		{"no location", func(v url.Values) { v.Del("address_string") }, http.StatusBadRequest, "location is required"},
		{"lat without long", func(v url.Values) { v.Set("lat", "39.6") }, http.StatusBadRequest, "together"},
		{"lat out of range", func(v url.Values) { v.Set("lat", "139.6"); v.Set("long", "1") }, http.StatusBadRequest, "WGS84"},
		{"required attribute missing", func(v url.Values) { v.Del("attribute[district]") }, http.StatusBadRequest, "attribute[district] is required"},
		{"attribute value unknown", func(v url.Values) { v.Set("attribute[district]", "XX") }, http.StatusBadRequest, "not one of"},
		{"township of another district", func(v url.Values) { v.Set("attribute[district]", "KBSQ") }, http.StatusBadRequest, "not a township"},
		{"unknown attribute", func(v url.Values) { v.Set("attribute[color]", "red") }, http.StatusBadRequest, "not an attribute"},
		{"media url not http", func(v url.Values) { v.Set("media_url", "file:///etc/passwd") }, http.StatusBadRequest, "media_url"},
		{"bad phone", func(v url.Values) { v.Set("phone", "12") }, http.StatusBadRequest, "phone"},
		{"foreign jurisdiction", func(v url.Values) { v.Set("jurisdiction_id", "elsewhere") }, http.StatusNotFound, "jurisdiction_id"},
	}
	for _, tt := range tests {
		for _, ext := range []string{"json", "xml"} {
			t.Run(tt.name+"."+ext, func(t *testing.T) {
				form := base()
				if tt.change != nil {
					tt.change(form)
				}
				req := httptest.NewRequest(http.MethodPost, "/open311/v2/requests."+ext, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				w := httptest.NewRecorder()
				f.engine.ServeHTTP(w, req)
				body := w.Body.String()
				if w.Code != tt.status {
					t.Fatalf("= %d, want %d: %s", w.Code, tt.status, body)
				}
				if tt.status != http.StatusCreated {
					e := specErrorOf(t, w.Header().Get("Content-Type"), body)
					if e.Code != tt.status || !strings.Contains(e.Description, tt.want) {
						t.Errorf("error %+v, want %d with %q", e, tt.status, tt.want)
					}
					return
				}
				var out []posted
				if ext == "xml" {
					var x requestsXML[posted]
					if err := xml.Unmarshal([]byte(body), &x); err != nil {
						t.Fatal(err)
					}
					out = x.Requests
				} else if err := json.Unmarshal([]byte(body), &out); err != nil {
					t.Fatal(err)
				}
				if len(out) != 1 || !tickets.CheckNumber(out[0].ServiceRequestID) || out[0].Token == "" {
					t.Fatalf("answer %s", body)
				}
				v, err := f.store.Find(f.ctx, desk, out[0].ServiceRequestID)
				if err != nil {
					t.Fatal(err)
				}
				if v.Channel != tickets.ChannelOpen311 || v.Category.Code != "TS-WYGL" || v.Location.District == nil || v.Location.District.Code != "DSQ" {
					t.Errorf("ticket %+v", v)
				}
				if tt.name == "integrator token" && v.RegisteredBy != "integrator:city-app" {
					t.Errorf("registered by %q, want the token's name", v.RegisteredBy)
				}
			})
		}
	}
}

func TestRequestsRead(t *testing.T) {
	f := newFixture(t)
	open, token := f.report(nil)
	closed, _ := f.report(func(v url.Values) { v.Set("media_url", "https://img.example.org/a.jpg") })
	// A phone ticket is not published.
	phoneTicket, err := f.store.Create(f.ctx, desk, tickets.NewTicket{Channel: tickets.ChannelPhone, Content: "电话反映暖气不热", Category: "TS-GN",
		Citizen: tickets.NewCitizen{Phone: "13900001111"}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.store.Find(f.ctx, desk, open)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Act(f.ctx, desk, open, tickets.ActDispatch, tickets.ActionRequest{Version: v.Version, Departments: []string{"HEAT"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Act(f.ctx, desk, closed, tickets.ActRefuse, tickets.ActionRequest{Reason: "unclear"}); err != nil {
		t.Fatal(err)
	}

	one := func(path string) request {
		t.Helper()
		code, ctype, body := f.get(path)
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d: %s", path, code, body)
		}
		var list []request
		if strings.HasPrefix(ctype, "text/xml") {
			var x requestsXML[request]
			if err := xml.Unmarshal([]byte(body), &x); err != nil {
				t.Fatal(err)
			}
			list = x.Requests
		} else if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 {
			t.Fatalf("GET %s: %d requests: %s", path, len(list), body)
		}
		return list[0]
	}
	for _, ext := range []string{"json", "xml"} {
		r := one("/open311/v2/requests/" + open + "." + ext)
		if r.Status != "open" || r.ServiceCode != "TS-GN" || r.AgencyResponsible != "市热力公司" || r.ExpectedDatetime == "" ||
			!strings.Contains(r.StatusNotes, "派单") || r.Lat == nil || *r.Lat != 39.6086 {
			t.Errorf("%s: open request %+v", ext, r)
		}
		if strings.Contains(r.Description, "13812345678") || !strings.Contains(r.Description, "138****5678") {
			t.Errorf("%s: description %q shows the mobile number", ext, r.Description)
		}
		r = one("/open311/v2/requests/" + closed + "." + ext)
		if r.Status != "closed" || !strings.Contains(r.StatusNotes, "不予受理") || r.MediaURL != "https://img.example.org/a.jpg" {
			t.Errorf("%s: closed request %+v", ext, r)
		}
		if code, ctype, body := f.get("/open311/v2/requests/" + phoneTicket.Number + "." + ext); code != http.StatusNotFound || specErrorOf(t, ctype, body).Code != 404 {
			t.Errorf("%s: a phone ticket is published: %d %s", ext, code, body)
		}
		code, _, body := f.get("/open311/v2/tokens/" + token + "." + ext)
		if code != http.StatusOK || !strings.Contains(body, open) {
			t.Errorf("%s: token = %d %s", ext, code, body)
		}
	}
	if code, _, _ := f.get("/open311/v2/tokens/00000000000000000000000000000000.json"); code != http.StatusNotFound {
		t.Errorf("unknown token = %d", code)
	}

	list := func(query string) []string {
		t.Helper()
		code, _, body := f.get("/open311/v2/requests.json" + query)
		if code != http.StatusOK {
			t.Fatalf("GET requests.json%s = %d: %s", query, code, body)
		}
		var rs []request
		if err := json.Unmarshal([]byte(body), &rs); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range rs {
			ids = append(ids, r.ServiceRequestID)
		}
		return ids
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{closed, open}},
		{"?status=open", []string{open}},
		{"?status=closed", []string{closed}},
		{"?status=open,closed&service_code=TS-GN", []string{closed, open}},
		{"?service_code=TS-WYGL", nil},
		{"?service_request_id=" + open + "," + phoneTicket.Number, []string{open}},
		{"?limit=1", []string{closed}},
		{"?limit=1&page=2", []string{open}},
		{"?end_date=2020-01-01T00:00:00Z", nil},
		{"?start_date=" + url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339)), []string{closed, open}},
	}
	for _, tt := range tests {
		if got := list(tt.query); strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("requests.json%s = %v, want %v", tt.query, got, tt.want)
		}
	}
	code, _, body := f.get("/open311/v2/requests.xml?status=open")
	var x requestsXML[request]
	if err := xml.Unmarshal([]byte(body), &x); code != http.StatusOK || err != nil || len(x.Requests) != 1 || x.Requests[0].ServiceRequestID != open ||
		!strings.Contains(body, "<service_requests><request><service_request_id>") {
		t.Errorf("requests.xml = %d %v: %s", code, err, body)
	}
	for _, bad := range []string{"?status=pending", "?start_date=yesterday", "?limit=0", "?service_code=NOPE"} {
		code, ctype, body := f.get("/open311/v2/requests.xml" + bad)
		if code < 400 || code >= 500 || specErrorOf(t, ctype, body).Code != code {
			t.Errorf("requests.xml%s = %d: %s", bad, code, body)
		}
	}
}
