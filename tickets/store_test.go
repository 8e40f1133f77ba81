package tickets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/calendar"
	"github.com/rexian/rexian/database/dbtest"
)

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

// fixture is a store over a fresh database holding the test city.
type fixture struct {
	store *Store
	clock *clock
	ctx   context.Context
	depts map[string]uint
	url   string // the database's, for a second connection
}

func newFixture(t testing.TB, mod ...func(*Options)) *fixture {
	t.Helper()
	url := dbtest.URL(t)
	db := dbtest.OpenURL(t, url, Migrations())
	// Monday 2026-11-23 09:00 in the city: a working day, inside working hours.
	clk := &clock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, shanghai)}
	cal, err := calendar.New(calendar.Options{Location: shanghai})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Calendar: cal, Location: shanghai, Now: clk.Now, AttachmentDir: filepath.Join(t.TempDir(), "attachments")}
	for _, m := range mod {
		m(&opts)
	}
	s := NewStore(db, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	// The city ticketstest.City returns; this package's tests cannot import ticketstest,
	// which imports this package, so they read the file.
	b, err := os.ReadFile("ticketstest/city.yaml")
	if err != nil {
		t.Fatal(err)
	}
	city, err := ParseCity(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LoadCity(ctx, city); err != nil {
		t.Fatalf("load city: %v", err)
	}
	f := &fixture{store: s, clock: clk, ctx: ctx, depts: map[string]uint{}, url: url}
	ds, err := s.Departments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		id, err := s.DepartmentByCode(ctx, d.Code)
		if err != nil {
			t.Fatal(err)
		}
		f.depts[d.Code] = id
	}
	return f
}

var (
	operator   = &auth.Principal{UserID: 1, Name: "wang", Role: auth.RoleOperator}
	operator2  = &auth.Principal{UserID: 2, Name: "zhang", Role: auth.RoleOperator}
	supervisor = &auth.Principal{UserID: 3, Name: "liu", Role: auth.RoleSupervisor}
)

func (f *fixture) dept(code string) *auth.Principal {
	return &auth.Principal{UserID: 100 + f.depts[code], Name: "u-" + code, Role: auth.RoleDepartment, DepartmentID: f.depts[code]}
}

func (f *fixture) create(t *testing.T, in NewTicket) *View {
	t.Helper()
	v, err := f.store.Create(f.ctx, operator, in)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return v
}

func (f *fixture) act(t *testing.T, p *auth.Principal, number string, a Action, req ActionRequest) *View {
	t.Helper()
	v, err := f.store.Act(f.ctx, p, number, a, req)
	if err != nil {
		t.Fatalf("%s %s: %v", a, number, err)
	}
	return v
}

func heating() NewTicket {
	return NewTicket{
		Channel:  ChannelPhone,
		Citizen:  NewCitizen{Name: "李女士", Phone: "138 1234 5678"},
		Content:  "小区暖气不热，室温只有十二度，已经三天了",
		Category: "TS-GN",
		Location: NewLocation{District: "DS", Township: "DS-JT", Address: "东胜区交通街道某小区3号楼"},
	}
}

func wantKind(t *testing.T, err, kind error, code string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("err = %v, want kind %v", err, kind)
	}
	var e *api.Error
	if code != "" && (!errors.As(err, &e) || e.Code != code) {
		t.Fatalf("err = %v (code %q), want code %q", err, e.Code, code)
	}
}

func TestRegisterNormalisesAndNumbers(t *testing.T) {
	f := newFixture(t)
	v := f.create(t, heating())
	if !CheckNumber(v.Number) || v.Number[:2] != "26" {
		t.Errorf("number %s: want a checked number starting with the year", v.Number)
	}
	if v.Status != StatusRegistered || v.Version != 1 && v.Version != 2 {
		t.Errorf("status %s version %d", v.Status, v.Version)
	}
	if v.Citizen.Phone != "13812345678" || v.Citizen.PhoneKind != PhoneMobile {
		t.Errorf("phone %q kind %q, want 13812345678 mobile", v.Citizen.Phone, v.Citizen.PhoneKind)
	}
	if v.Title == "" || v.Category.Code != "TS-GN" || v.Category.Kind != KindComplaint {
		t.Errorf("title %q category %+v", v.Title, v.Category)
	}
	if len(v.Timeline) != 1 || v.Timeline[0].Action != ActRegister || v.Timeline[0].Actor != "operator:wang" {
		t.Errorf("timeline %+v", v.Timeline)
	}
	if _, off := v.RegisteredAt.Zone(); off != 8*3600 {
		t.Errorf("registered_at %v is not in the city's zone", v.RegisteredAt)
	}
	if !v.Citizen.WantsReply {
		t.Error("a citizen who said nothing about replies is stored as not wanting one")
	}
	// A citizen who asks not to be contacted stays so after a reload (a boolean false
	// must not fall back to the column's default).
	quiet := heating()
	no := false
	quiet.Citizen.WantsReply = &no
	quiet.Content = "反映路灯问题，不需要回复"
	got, err := f.store.Find(f.ctx, operator, f.create(t, quiet).Number)
	if err != nil {
		t.Fatal(err)
	}
	if got.Citizen.WantsReply {
		t.Error("wants_reply=false was stored as true")
	}
	// Landline with the Ordos area code.
	in := heating()
	in.Citizen.Phone = "0477-8581234"
	v2 := f.create(t, in)
	if v2.Citizen.PhoneKind != PhoneLandline {
		t.Errorf("landline kind %q", v2.Citizen.PhoneKind)
	}
	if v2.Number == v.Number {
		t.Error("two tickets got the same number")
	}
	// The second ticket of the same citizen with similar content is flagged; a different
	// one is not.
	in3 := heating()
	in3.Content = "小区暖气不热，室温十二度，三天了还没人来修"
	v3 := f.create(t, in3)
	if len(v3.PossibleDuplicates) != 1 || v3.PossibleDuplicates[0] != v.Number {
		t.Errorf("possible duplicates %v, want [%s]", v3.PossibleDuplicates, v.Number)
	}
	in4 := heating()
	in4.Content = "咨询养老保险补缴政策"
	in4.Category = "ZX-SB"
	if v4 := f.create(t, in4); len(v4.PossibleDuplicates) != 0 {
		t.Errorf("unrelated ticket flagged as duplicate of %v", v4.PossibleDuplicates)
	}
}

func TestRegisterRejectsBadInput(t *testing.T) {
	f := newFixture(t)
	long := make([]rune, MaxContentRunes+1)
	for i := range long {
		long[i] = '字'
	}
	for _, tc := range []struct {
		name string
		mod  func(*NewTicket)
		code string
	}{
		{"unknown category", func(n *NewTicket) { n.Category = "NOPE" }, "unknown_category"},
		{"no category", func(n *NewTicket) { n.Category = "" }, "empty_category"},
		{"unknown district", func(n *NewTicket) { n.Location.District = "XX" }, "unknown_department"},
		{"district that is a bureau", func(n *NewTicket) { n.Location.District = "DS-ZJ" }, "invalid_district"},
		{"township outside district", func(n *NewTicket) { n.Location.District = "KBS" }, "invalid_township"},
		{"invalid phone", func(n *NewTicket) { n.Citizen.Phone = "12" }, "invalid_phone"},
		{"empty content", func(n *NewTicket) { n.Content = "   " }, "empty_content"},
		{"oversized content", func(n *NewTicket) { n.Content = string(long) }, "content_too_long"},
		{"unknown channel", func(n *NewTicket) { n.Channel = "fax" }, "unknown_channel"},
		{"unknown urgency", func(n *NewTicket) { n.Urgency = "panic" }, "unknown_urgency"},
		{"direct answer to a complaint", func(n *NewTicket) { n.Answer = "已解答" }, "not_consultation"},
		{"dispatch to unknown department", func(n *NewTicket) { n.Dispatch = &DispatchRequest{Departments: []string{"NOPE"}} }, "unknown_department"},
		{"half coordinates", func(n *NewTicket) { x := 39.6; n.Location.Latitude = &x }, "invalid_coordinates"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := heating()
			tc.mod(&in)
			_, err := f.store.Create(f.ctx, operator, in)
			wantKind(t, err, api.ErrInvalid, tc.code)
		})
	}
	// Nothing was written by any of them.
	list, _, err := f.store.List(f.ctx, operator, Filter{}, api.Page{Page: 1, PerPage: 10})
	if err != nil || len(list) != 0 {
		t.Fatalf("after bad input: %d tickets, err %v", len(list), err)
	}
	if _, err := f.store.Create(f.ctx, f.dept("HEAT"), heating()); !errors.Is(err, api.ErrForbidden) {
		t.Errorf("department registering: %v, want forbidden", err)
	}
}

// The whole happy path: register, dispatch, sign, reply, verify, complete — with the
// deadlines on the working calendar and the timeline recording each step.
func TestWorkflowHappyPath(t *testing.T) {
	f := newFixture(t)
	v := f.create(t, heating())
	v = f.act(t, operator, v.Number, ActDispatch, ActionRequest{})
	if v.Status != StatusDispatched || v.LeadDepartment == nil || v.LeadDepartment.Code != "HEAT" {
		t.Fatalf("after dispatch: %s lead %+v (want the category's default HEAT)", v.Status, v.LeadDepartment)
	}
	// 供暖: sign within 1 working hour, handle within 1 working day, from Monday 09:00.
	wantSign := time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)
	wantDue := time.Date(2026, 11, 24, 18, 0, 0, 0, shanghai)
	if v.SignDueAt == nil || !v.SignDueAt.Equal(wantSign) {
		t.Errorf("sign due %v, want %v", v.SignDueAt, wantSign)
	}
	if v.DueAt == nil || !v.DueAt.Equal(wantDue) {
		t.Errorf("due %v, want %v", v.DueAt, wantDue)
	}
	heat := f.dept("HEAT")
	f.clock.Add(20 * time.Minute)
	v = f.act(t, heat, v.Number, ActSign, ActionRequest{})
	if v.Status != StatusHandling {
		t.Fatalf("after sign: %s", v.Status)
	}
	v = f.act(t, heat, v.Number, ActReply, ActionRequest{Reply: "已派维修人员排查，管网已放气，室温恢复到20度"})
	if v.Status != StatusReplied {
		t.Fatalf("after reply: %s", v.Status)
	}
	v = f.act(t, operator, v.Number, ActSendBack, ActionRequest{Note: "请补充回访情况"})
	if v.Status != StatusHandling {
		t.Fatalf("after send back: %s", v.Status)
	}
	v = f.act(t, heat, v.Number, ActReply, ActionRequest{Reply: "已维修，群众表示满意"})
	v = f.act(t, operator, v.Number, ActApprove, ActionRequest{})
	if v.Status != StatusCompleted || v.Answer != "已维修，群众表示满意" || v.CompletedAt == nil {
		t.Fatalf("after approve: %s answer %q", v.Status, v.Answer)
	}
	var actions []Action
	for _, e := range v.Timeline {
		actions = append(actions, e.Action)
	}
	want := []Action{ActRegister, ActDispatch, ActSign, ActReply, ActSendBack, ActReply, ActApprove}
	if len(actions) != len(want) {
		t.Fatalf("timeline %v, want %v", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Fatalf("timeline %v, want %v", actions, want)
		}
	}
	if v.Timeline[2].Actor != "department:u-HEAT" || v.Timeline[2].Department == nil || v.Timeline[2].Department.Code != "HEAT" {
		t.Errorf("sign event %+v", v.Timeline[2])
	}
	// Completed: any further step is a conflict naming the status.
	_, err := f.store.Act(f.ctx, operator, v.Number, ActDispatch, ActionRequest{})
	wantKind(t, err, api.ErrConflict, "illegal_transition")
	if err != nil && !strings.Contains(err.Error(), "completed") {
		t.Errorf("message %q does not name the status", err)
	}
}
