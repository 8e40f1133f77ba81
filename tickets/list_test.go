package tickets

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database"
)

// leadAndDistrict registers four tickets, a minute apart:
//
//	a: heating in DS, sent to HEAT (its default department): lead HEAT
//	b: property in DS, sent to DS-ZJ (lead) and HEAT: lead DS-ZJ, HEAT a co-handler
//	c: social security, no district, sent to HRSS: lead HRSS
//	d: property in KBS, not dispatched: no lead department
func leadAndDistrict(t *testing.T, f *fixture) (a, b, c, d string) {
	t.Helper()
	in := heating()
	in.Dispatch = &DispatchRequest{}
	a = f.create(t, in).Number
	f.clock.Add(time.Minute)
	in = heating()
	in.Category = "TS-WY"
	in.Dispatch = &DispatchRequest{Departments: []string{"DS-ZJ", "HEAT"}, Lead: "DS-ZJ"}
	b = f.create(t, in).Number
	f.clock.Add(time.Minute)
	in = heating()
	in.Category, in.Location, in.Content = "ZX-SB", NewLocation{}, "养老保险怎么补缴"
	in.Dispatch = &DispatchRequest{}
	c = f.create(t, in).Number
	f.clock.Add(time.Minute)
	in = heating()
	in.Category, in.Location = "TS-WY", NewLocation{District: "KBS"}
	d = f.create(t, in).Number
	return a, b, c, d
}

func TestListByLeadDepartmentAndDistrict(t *testing.T) {
	f := newFixture(t)
	a, b, c, d := leadAndDistrict(t, f)
	// A department that no longer takes tickets still led the ones it had.
	no := false
	if _, err := f.store.SaveDepartment(f.ctx, DepartmentInput{Code: "HRSS", Name: "市人力资源和社会保障局", Level: LevelCity, Active: &no}); err != nil {
		t.Fatal(err)
	}
	page := api.Page{Page: 1, PerPage: 50}
	for _, tc := range []struct {
		name string
		who  *auth.Principal
		f    Filter
		want []string
	}{
		{"lead department", operator, Filter{LeadDepartment: "HEAT"}, []string{a}},
		{"dispatched to the department, for contrast", operator, Filter{Department: "HEAT"}, []string{b, a}},
		{"lead department is exact, not its sub-units", operator, Filter{LeadDepartment: "DS"}, nil},
		{"dispatched within the department, for contrast", operator, Filter{Department: "DS"}, []string{b}},
		{"lead sub-unit", operator, Filter{LeadDepartment: "DS-ZJ"}, []string{b}},
		{"inactive lead department", supervisor, Filter{LeadDepartment: "HRSS"}, []string{c}},
		{"no lead department", operator, Filter{LeadDepartment: None}, []string{d}},
		{"district", operator, Filter{District: "DS"}, []string{b, a}},
		{"other district", operator, Filter{District: "KBS"}, []string{d}},
		{"no district", operator, Filter{District: None}, []string{c}},
		{"both", operator, Filter{District: "DS", LeadDepartment: "HEAT"}, []string{a}},
		{"both none", operator, Filter{District: None, LeadDepartment: None}, nil},
		// A department user's scope still applies: the filters narrow, never widen it.
		{"department user, its own lead", f.dept("HEAT"), Filter{LeadDepartment: "HEAT"}, []string{a}},
		{"department user, co-handler of another's lead", f.dept("HEAT"), Filter{LeadDepartment: "DS-ZJ"}, []string{b}},
		{"department user, another's ticket", f.dept("HEAT"), Filter{LeadDepartment: "HRSS"}, nil},
		{"department user, no lead department", f.dept("HEAT"), Filter{LeadDepartment: None}, nil},
		{"department user, no district", f.dept("HEAT"), Filter{District: None}, nil},
		{"department user, district", f.dept("DS-ZJ"), Filter{District: "DS"}, []string{b}},
		{"department user, other district", f.dept("DS-ZJ"), Filter{District: "KBS"}, nil},
		{"sub-unit user, its parent's lead", f.dept("DS-ZJ"), Filter{LeadDepartment: "HEAT"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.listed(t, tc.who, tc.f, page); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name, code string
		f          Filter
	}{
		{"unknown lead department", "unknown_lead_department", Filter{LeadDepartment: "WATER"}},
		{"none is lower case", "unknown_lead_department", Filter{LeadDepartment: "NONE"}},
		{"unknown district", "unknown_district", Filter{District: "WATER"}},
		{"a department is not a district", "invalid_district", Filter{District: "HEAT"}},
		{"a township is not a district", "invalid_district", Filter{District: "DS-JT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.store.List(f.ctx, operator, tc.f, page)
			wantKind(t, err, api.ErrInvalid, tc.code)
		})
	}
}

func TestNoneIsNoDepartmentCode(t *testing.T) {
	f := newFixture(t)
	_, err := f.store.SaveDepartment(f.ctx, DepartmentInput{Code: None, Name: "无", Level: LevelCity})
	wantKind(t, err, api.ErrInvalid, "reserved_code")
}

// TestListFiltersOverHTTP asks GET /api/v1/tickets as a client would: the parameters
// reach the filters, and a bad one is a 400 that names it.
func TestListFiltersOverHTTP(t *testing.T) {
	f := newFixture(t)
	a, _, c, d := leadAndDistrict(t, f)
	gin.SetMode(gin.TestMode)
	r := gin.New()
	g := r.Group("/api/v1", func(gc *gin.Context) {
		who := operator
		if code := gc.GetHeader("X-Test-Department"); code != "" {
			who = f.dept(code)
		}
		gc.Request = gc.Request.WithContext(auth.NewContext(gc.Request.Context(), who))
	})
	NewHandler(f.store, nil).Routes(g)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		name, dept, query string
		status            int
		want              []string // the numbers listed, or the error's code and words of its message
	}{
		{"lead department", "", "lead_department=HEAT", 200, []string{a}},
		{"no lead department", "", "lead_department=none", 200, []string{d}},
		{"no district", "", "district=none&status=dispatched", 200, []string{c}},
		{"department user, no district", "HEAT", "district=none", 200, nil},
		{"unknown lead department", "", "lead_department=WATER", 400, []string{"unknown_lead_department", `unknown lead department \"WATER\"`}},
		{"unknown district", "", "district=WATER", 400, []string{"unknown_district", `unknown district \"WATER\"`}},
		{"not a district", "", "district=HEAT", 400, []string{"invalid_district", "not a banner/district government"}},
		{"unknown event", "", "event=fly", 400, []string{"unknown_event", `unknown event \"fly\"`}},
		{"event time without event", "", "event_from=2026-11-01", 400, []string{"event_missing", "need event"}},
		{"unknown event department", "", "event=return&event_department=WATER", 400, []string{"unknown_event_department", `unknown event department \"WATER\"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, srv.URL+"/api/v1/tickets?"+tc.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.dept != "" {
				req.Header.Set("X-Test-Department", tc.dept)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Tickets []Summary `json:"tickets"`
				Error   struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%+v)", resp.StatusCode, tc.status, body.Error)
			}
			if tc.status != 200 {
				raw, _ := json.Marshal(body.Error.Message)
				if body.Error.Code != tc.want[0] || !strings.Contains(string(raw), tc.want[1]) {
					t.Errorf("error %+v; want code %s, message with %s", body.Error, tc.want[0], tc.want[1])
				}
				return
			}
			var nums []string
			for _, s := range body.Tickets {
				nums = append(nums, s.Number)
			}
			if strings.Join(nums, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %v, want %v", nums, tc.want)
			}
		})
	}
}

// TestListSearch: what an operator or a department finds by typing into the search box.
func TestListSearch(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	ticket := func(title, content, address, phone, category string, dispatch *DispatchRequest) string {
		t.Helper()
		in := heating()
		in.Title, in.Content, in.Location.Address, in.Citizen.Phone, in.Category, in.Dispatch = title, content, address, phone, category, dispatch
		return f.create(t, in).Number
	}
	// Thirteen months ago: the search is not bounded to recent tickets.
	f.clock.Set(now.AddDate(0, -13, 0))
	old := ticket("暖气维修", "暖气片漏水", "东胜区鄂尔多斯大街", "13800000001", "TS-GN", &DispatchRequest{})
	f.clock.Set(now)
	a := ticket("供暖费争议", "物业多收供暖费用", "康巴什区某小区", "138 0000 0001", "TS-GN", &DispatchRequest{})
	f.clock.Add(time.Minute)
	b := ticket("噪音扰民", "楼下商铺夜间噪音", "东胜区交通街道", "13800000002", "TS-WY", &DispatchRequest{Departments: []string{"DS-ZJ"}, Lead: "DS-ZJ"})
	f.clock.Add(time.Minute)
	c := ticket("咨询", "The heating bill is too high", "伊金霍洛旗", "13800000003", "TS-GN", &DispatchRequest{})
	f.clock.Add(time.Minute)
	d := ticket("路灯不亮", "路灯坏了", "东胜区铜川镇", "13800000004", "TS-GN", &DispatchRequest{})

	longAgo, today := now.AddDate(-2, 0, 0), now.Add(time.Hour)
	page := api.Page{Page: 1, PerPage: 50}
	for _, tc := range []struct {
		name string
		who  *auth.Principal
		f    Filter
		want []string
	}{
		{"ticket number", operator, Filter{Text: a}, []string{a}},
		{"ticket number as said, in groups", operator, Filter{Text: a[:2] + " " + a[2:9] + "-" + a[9:]}, []string{a}},
		{"old ticket's number", operator, Filter{Text: old}, []string{old}},
		{"phone: that citizen's tickets, old ones too", operator, Filter{Text: "13800000001"}, []string{a, old}},
		{"phone as written", operator, Filter{Text: "+86 138-0000-0002"}, []string{b}},
		{"phone nobody called from", operator, Filter{Text: "13900000009"}, nil},
		{"word of three characters, in a title and a content", operator, Filter{Text: "供暖费"}, []string{a}},
		{"word of three characters, in addresses, old ones too", operator, Filter{Text: "东胜区"}, []string{d, b, old}},
		{"English word, in a content", operator, Filter{Text: "heating"}, []string{c}},
		{"word of two characters, in a title", operator, Filter{Text: "咨询"}, []string{c}},
		{"word of two characters, in a content", operator, Filter{Text: "商铺"}, []string{b}},
		{"word of two characters, in an address", operator, Filter{Text: "交通"}, []string{b}},
		{"word of two characters, in title and content", operator, Filter{Text: "噪音"}, []string{b}},
		{"word of three characters, only in an old ticket", operator, Filter{Text: "暖气片"}, []string{old}},
		{"word of two characters, only in an old ticket", operator, Filter{Text: "暖气"}, []string{old}},
		{"word of two characters, old ticket in the period from", operator, Filter{Text: "暖气", From: &longAgo}, []string{old}},
		{"word of two characters, old ticket in the period to", operator, Filter{Text: "暖气", To: &today}, []string{old}},
		{"word of two characters, before the period", operator, Filter{Text: "暖气", From: &now}, nil},
		{"one character", operator, Filter{Text: "灯"}, []string{d}},
		{"one character, in a title and a content", operator, Filter{Text: "噪"}, []string{b}},
		{"one Latin letter", operator, Filter{Text: "T"}, []string{c}},
		{"two characters across title and content are not a word", operator, Filter{Text: "询T"}, nil},
		{"two characters across content and address are not a word", operator, Filter{Text: "音东"}, nil},
		{"a wildcard alone is a character", operator, Filter{Text: "%"}, nil},
		{"word nowhere", operator, Filter{Text: "物业费"}, nil},
		{"wildcards are characters", operator, Filter{Text: "%_"}, nil},
		// A department finds only the tickets it was given.
		{"department, word", f.dept("DS-ZJ"), Filter{Text: "东胜区"}, []string{b}},
		{"another department, same word", f.dept("HEAT"), Filter{Text: "东胜区"}, []string{d, old}},
		{"department, another's ticket number", f.dept("DS-ZJ"), Filter{Text: a}, nil},
		{"department, another's citizen", f.dept("DS-ZJ"), Filter{Text: "13800000001"}, nil},
		{"department, its citizen", f.dept("HEAT"), Filter{Text: "13800000001"}, []string{a, old}},
		{"department, short word", f.dept("HEAT"), Filter{Text: "噪音"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.listed(t, tc.who, tc.f, page); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	// Page by page, a word's matches come newest first whether they are recent or not.
	var got []string
	for n := 1; n <= 4; n++ {
		items, more, err := f.store.List(f.ctx, operator, Filter{Text: "东胜区"}, api.Page{Page: n, PerPage: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			got = append(got, it.Number)
		}
		if !more {
			break
		}
	}
	if want := []string{d, b, old}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("pages of one: %v, want %v", got, want)
	}
}

// TestListDueFirst: the department's inbox order, the nearest deadline first (the
// sign-for deadline while a ticket waits to be signed for) and tickets without one last,
// whatever the order they were registered in.
func TestListDueFirst(t *testing.T) {
	f := newFixture(t)
	in := heating()
	in.Dispatch = &DispatchRequest{}
	signed := f.create(t, in).Number // signed below: its handling deadline is days away
	f.clock.Add(time.Minute)
	waiting := f.create(t, in).Number // waits to be signed for: hours away
	f.clock.Add(time.Minute)
	later := f.create(t, in).Number // waits too, registered a minute later
	f.clock.Add(time.Minute)
	undispatched := f.create(t, heating()).Number
	f.act(t, f.dept("HEAT"), signed, ActSign, ActionRequest{})

	open := true
	for _, tc := range []struct {
		who  *auth.Principal
		want []string
	}{
		{operator, []string{waiting, later, signed, undispatched}},
		{f.dept("HEAT"), []string{waiting, later, signed}},
	} {
		numbers := f.listed(t, tc.who, Filter{Open: &open, DueFirst: true}, api.Page{Page: 1, PerPage: 50})
		if strings.Join(numbers, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s: due first %v, want %v", tc.who.Name, numbers, tc.want)
		}
	}
}

// TestListOnTime: on_time lists completed tickets by whether they met their deadline.
func TestListOnTime(t *testing.T) {
	f := newFixture(t)
	answered := f.create(t, NewTicket{Content: "咨询社保补缴", Category: "ZX-SB", Answer: "可在社保大厅补缴"}).Number
	in := heating()
	in.Dispatch = &DispatchRequest{}
	late := f.create(t, in).Number
	open := f.create(t, in).Number
	heat := f.dept("HEAT")
	f.act(t, heat, late, ActSign, ActionRequest{})
	f.clock.Add(40 * 24 * time.Hour)
	f.act(t, heat, late, ActReply, ActionRequest{Reply: "已维修"})
	f.act(t, operator, late, ActApprove, ActionRequest{})
	yes, no := true, false
	for _, tc := range []struct {
		onTime *bool
		want   []string
	}{
		{&yes, []string{answered}},
		{&no, []string{late}},
		{nil, []string{open, late, answered}},
	} {
		numbers := f.listed(t, operator, Filter{OnTime: tc.onTime}, api.Page{Page: 1, PerPage: 50})
		if strings.Join(numbers, " ") != strings.Join(tc.want, " ") {
			t.Errorf("on_time %v: %v, want %v", tc.onTime, numbers, tc.want)
		}
	}
}

// listed is the numbers of the tickets List gives who for flt, in its order.
func (f *fixture) listed(t *testing.T, who *auth.Principal, flt Filter, page api.Page) []string {
	t.Helper()
	got, _, err := f.store.List(f.ctx, who, flt, page)
	if err != nil {
		t.Fatal(err)
	}
	var nums []string
	for _, g := range got {
		nums = append(nums, g.Number)
	}
	return nums
}

// TestTicketGrams: the index of short words holds each character and each pair of
// neighbouring characters, whatever their width in bytes, and an index scan finds a
// short word through it.
func TestTicketGrams(t *testing.T) {
	f := newFixture(t)
	if database.DialectOf(f.store.db) != database.Postgres {
		t.Skip("ticket_grams is PostgreSQL's; run with REXIAN_TEST_DB=postgres")
	}
	for _, tc := range []struct{ in, want string }{
		{"", "{}"},
		{"水", "{水}"},
		{"暖气", "{暖,气,暖气}"},
		{"东胜区a", "{东,胜,区,a,东胜,胜区,区a}"},
		{"a😀b", "{a,😀,b,a😀,😀b}"},
	} {
		var got string
		if err := f.store.db.WithContext(f.ctx).Raw("SELECT ticket_grams(?)::text", tc.in).Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("ticket_grams(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}

	in := heating()
	in.Title, in.Content = "维修", "暖气片漏水"
	number := f.create(t, in).Number
	// On a few tickets the planner reads the table; without that choice it must use the
	// index, which has to list the ticket for the search to find it.
	err := f.store.db.WithContext(f.ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SET LOCAL enable_seqscan = off").Error; err != nil {
			return err
		}
		var plan []string
		if err := tx.Raw("EXPLAIN SELECT number FROM tickets WHERE " + gramsOf + " @> ARRAY['漏水']").Scan(&plan).Error; err != nil {
			return err
		}
		if !strings.Contains(strings.Join(plan, "\n"), "idx_tickets_grams") {
			t.Errorf("a short word's search does not use idx_tickets_grams:\n%s", strings.Join(plan, "\n"))
		}
		var found []string
		if err := tx.Raw("SELECT number FROM tickets WHERE " + gramsOf + " @> ARRAY['漏水']").Scan(&found).Error; err != nil {
			return err
		}
		if len(found) != 1 || found[0] != number {
			t.Errorf("the index finds %v for 漏水, want [%s]", found, number)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Nineteen more tickets about 暖气 make it a common word once the statistics know
	// them: it is then searched without the index, and found all the same.
	in.Title, in.Content = "暖气不热", "室温只有十二度"
	for range 19 {
		f.clock.Add(time.Minute)
		f.create(t, in)
	}
	if err := f.store.db.WithContext(f.ctx).Exec("ANALYZE tickets").Error; err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		word  string
		rare  bool
		found int
	}{
		{"暖气", false, 20},
		{"漏水", true, 1},
		{"鲸", true, 0},
	} {
		short, rare, err := f.store.classifyShortWord(f.ctx, Filter{Text: tc.word})
		if err != nil || !short || rare != tc.rare {
			t.Errorf("classifyShortWord(%s) = %v, %v, %v; want a short word, rare %v", tc.word, short, rare, err, tc.rare)
		}
		// From a year on, past the windows, so that the whole search is the index's.
		f.clock.Add(365 * 24 * time.Hour)
		items, _, err := f.store.List(f.ctx, operator, Filter{Text: tc.word}, api.Page{Page: 1, PerPage: 50})
		f.clock.Add(-365 * 24 * time.Hour)
		if err != nil || len(items) != tc.found {
			t.Errorf("a search for %s finds %d tickets (%v), want %d", tc.word, len(items), err, tc.found)
		}
	}
}

// TestEachReadsEveryTicket: Each hands over every ticket List would list, in the same
// order, across batches, also where tickets share a creation time.
func TestEachReadsEveryTicket(t *testing.T) {
	f := newFixture(t)
	leadAndDistrict(t, f)
	for range 3 {
		f.create(t, heating())
	}
	old := eachBatch
	eachBatch = 2
	t.Cleanup(func() { eachBatch = old })
	for _, tc := range []struct {
		name string
		who  *auth.Principal
		f    Filter
	}{
		{"all", supervisor, Filter{}},
		{"a district", operator, Filter{District: "DS"}},
		{"a department's own", f.dept("HEAT"), Filter{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := f.listed(t, tc.who, tc.f, api.Page{Page: 1, PerPage: 100})
			var got []string
			batches := 0
			err := f.store.Each(f.ctx, tc.who, tc.f, func(items []Summary) error {
				batches++
				for _, s := range items {
					got = append(got, s.Number)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("Each gave %v, List %v", got, want)
			}
			if len(want) > 2 && batches < 2 {
				t.Errorf("%d tickets in %d batch", len(want), batches)
			}
		})
	}
	_, _, err := f.store.List(f.ctx, operator, Filter{District: "WATER"}, api.Page{Page: 1, PerPage: 1})
	wantKind(t, err, api.ErrInvalid, "unknown_district")
	err = f.store.Each(f.ctx, operator, Filter{District: "WATER"}, func([]Summary) error { return nil })
	wantKind(t, err, api.ErrInvalid, "unknown_district")
}
