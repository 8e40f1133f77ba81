package tickets

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/calendar"
	"github.com/rexian/rexian/hashchain"
)

func TestParallelDispatchReturnAndArbitration(t *testing.T) {
	f := newFixture(t)
	in := heating()
	in.Category = "TS-WY" // 物业: no default department
	v := f.create(t, in)

	_, err := f.store.Act(f.ctx, operator, v.Number, ActDispatch, ActionRequest{Departments: []string{"DS-ZJ", "HEAT"}})
	wantKind(t, err, api.ErrInvalid, "no_lead")
	v = f.act(t, operator, v.Number, ActDispatch, ActionRequest{Departments: []string{"DS-ZJ", "HEAT"}, Lead: "HEAT"})
	if len(v.Assignments) != 2 || v.LeadDepartment.Code != "HEAT" || !v.Assignments[0].Lead {
		t.Fatalf("assignments %+v lead %+v", v.Assignments, v.LeadDepartment)
	}
	// 投诉 limits: 4 working hours to sign, 5 working days to handle, from Monday 09:00.
	if want := time.Date(2026, 11, 30, 18, 0, 0, 0, shanghai); !v.DueAt.Equal(want) {
		t.Errorf("parallel due %v, want %v", v.DueAt, want)
	}
	zj, heat := f.dept("DS-ZJ"), f.dept("HEAT")
	f.act(t, zj, v.Number, ActSign, ActionRequest{})
	v = f.act(t, heat, v.Number, ActReturn, ActionRequest{Reason: "不属于我单位职责，应由物业主管部门处理"})
	if v.Status != StatusReturned || v.ReturnCount != 1 {
		t.Fatalf("after return: %s returns %d", v.Status, v.ReturnCount)
	}
	// A department cannot arbitrate its own return.
	_, err = f.store.Act(f.ctx, heat, v.Number, ActAcceptReturn, ActionRequest{})
	wantKind(t, err, api.ErrForbidden, "")
	// Rejecting needs a reason, and then puts the ticket back with its deadline.
	_, err = f.store.Act(f.ctx, operator, v.Number, ActRejectReturn, ActionRequest{})
	wantKind(t, err, api.ErrInvalid, "empty_note")
	due := *v.DueAt
	v = f.act(t, operator, v.Number, ActRejectReturn, ActionRequest{Note: "供暖设施属热力公司维护范围"})
	if v.Status != StatusDispatched || !v.DueAt.Equal(due) {
		t.Fatalf("after rejected return: %s due %v (want dispatched, due unchanged %v)", v.Status, v.DueAt, due)
	}
	// Return again, accepted this time: the other department becomes the lead.
	f.act(t, heat, v.Number, ActReturn, ActionRequest{Reason: "再次申请退单"})
	v = f.act(t, supervisor, v.Number, ActAcceptReturn, ActionRequest{Note: "同意"})
	if v.Status != StatusHandling || v.LeadDepartment.Code != "DS-ZJ" {
		t.Fatalf("after accepted return: %s lead %+v", v.Status, v.LeadDepartment)
	}
	// The last department returns and it is accepted with a re-dispatch in one step.
	f.act(t, zj, v.Number, ActReturn, ActionRequest{Reason: "应由街道处理"})
	v = f.act(t, operator, v.Number, ActAcceptReturn, ActionRequest{Departments: []string{"DS-JT"}})
	if v.Status != StatusDispatched || v.LeadDepartment.Code != "DS-JT" {
		t.Fatalf("after accept+redispatch: %s lead %+v", v.Status, v.LeadDepartment)
	}
	// The heat company no longer acts on it.
	_, err = f.store.Act(f.ctx, heat, v.Number, ActSign, ActionRequest{})
	wantKind(t, err, api.ErrConflict, "no_assignment")
}

func TestUnclearDepartmentFallsToDistrictGovernment(t *testing.T) {
	f := newFixture(t)
	in := heating()
	in.Category = "TS-WY"
	in.Location = NewLocation{Township: "DS-JT", Address: "某小区"}
	v := f.create(t, in)
	v = f.act(t, operator, v.Number, ActDispatch, ActionRequest{})
	if v.LeadDepartment == nil || v.LeadDepartment.Code != "DS" {
		t.Fatalf("lead %+v, want the district government DS (兜底)", v.LeadDepartment)
	}
	// With no location either, the dispatch says why it cannot choose.
	in.Location = NewLocation{}
	v2 := f.create(t, in)
	_, err := f.store.Act(f.ctx, operator, v2.Number, ActDispatch, ActionRequest{})
	wantKind(t, err, api.ErrInvalid, "no_department")
}

func TestRedispatchDownwardsKeepsTheClock(t *testing.T) {
	f := newFixture(t)
	in := heating()
	in.Category = "TS-WY"
	in.Dispatch = &DispatchRequest{Departments: []string{"DS"}}
	v := f.create(t, in)
	if v.Status != StatusDispatched {
		t.Fatalf("dispatch at registration: %s", v.Status)
	}
	due := *v.DueAt
	ds := f.dept("DS")
	_, err := f.store.Act(f.ctx, ds, v.Number, ActRedispatch, ActionRequest{Department: "HEAT"})
	wantKind(t, err, api.ErrInvalid, "not_subunit")
	f.clock.Add(time.Hour)
	v = f.act(t, ds, v.Number, ActRedispatch, ActionRequest{Department: "DS-JT-01"})
	if v.LeadDepartment.Code != "DS-JT-01" || !v.DueAt.Equal(due) {
		t.Fatalf("lead %+v due %v (want DS-JT-01, unchanged %v)", v.LeadDepartment, v.DueAt, due)
	}
	village := f.dept("DS-JT-01")
	f.act(t, village, v.Number, ActSign, ActionRequest{})
	v = f.act(t, village, v.Number, ActReply, ActionRequest{Reply: "已协调物业处理"})
	if v.Status != StatusReplied {
		t.Fatalf("status %s", v.Status)
	}
	// The parent government sees it; the township between them does too; a sibling does not.
	for _, p := range []*auth.Principal{ds, f.dept("DS-JT"), village} {
		if _, err := f.store.Find(f.ctx, p, v.Number); err != nil {
			t.Errorf("%s cannot see the ticket: %v", p.Name, err)
		}
	}
	_, err = f.store.Find(f.ctx, f.dept("DS-ZJ"), v.Number)
	wantKind(t, err, api.ErrNotFound, "ticket_not_found")
}

// signedHeating registers a heating ticket, dispatches it to HEAT and signs for it there.
func (f *fixture) signedHeating(t *testing.T) (*auth.Principal, *View) {
	t.Helper()
	in := heating()
	in.Dispatch = &DispatchRequest{}
	v := f.create(t, in)
	heat := f.dept("HEAT")
	return heat, f.act(t, heat, v.Number, ActSign, ActionRequest{})
}

// An extension reaches at most ExtensionMax beyond the current deadline on the working
// calendar: a request for 9999-12-31, once approved, would make a ticket never overdue.
func TestExtensionIsBounded(t *testing.T) {
	cal, err := calendar.New(calendar.Options{Location: shanghai})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		max  calendar.Limit // zero: the default
	}{
		{"default 30 working days", calendar.Limit{}},
		{"configured 5 working days", calendar.Limit{N: 5, Unit: calendar.WorkingDays}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(o *Options) { o.ExtensionMax = tc.max })
			heat, v := f.signedHeating(t)
			due := *v.DueAt
			max := tc.max
			if max.IsZero() {
				max = DefaultExtensionMax
			}
			latest := cal.Add(due, max)
			for _, until := range []time.Time{
				time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
				latest.Add(time.Second),
			} {
				_, err := f.store.Act(f.ctx, heat, v.Number, ActRequestExtension, ActionRequest{Reason: "需更换管道", Until: &until})
				wantKind(t, err, api.ErrInvalid, "until_too_far")
				if err != nil && !strings.Contains(err.Error(), latest.In(shanghai).Format(time.RFC3339)) {
					t.Errorf("the message does not name the latest allowed deadline %v: %v", latest, err)
				}
			}
			// The latest allowed deadline itself is accepted and, once approved, holds.
			f.act(t, heat, v.Number, ActRequestExtension, ActionRequest{Reason: "需更换管道", Until: &latest})
			v = f.act(t, supervisor, v.Number, ActApproveExtension, ActionRequest{})
			if !v.DueAt.Equal(latest) {
				t.Fatalf("approved extension: due %v, want %v", v.DueAt, latest)
			}
		})
	}
}

func TestExtensionMovesDeadlineOnlyOnApproval(t *testing.T) {
	f := newFixture(t)
	heat, v := f.signedHeating(t)
	due := *v.DueAt
	later := due.Add(48 * time.Hour)
	_, err := f.store.Act(f.ctx, heat, v.Number, ActRequestExtension, ActionRequest{Reason: "需更换管道"})
	wantKind(t, err, api.ErrInvalid, "empty_until")
	earlier := due.Add(-time.Hour)
	_, err = f.store.Act(f.ctx, heat, v.Number, ActRequestExtension, ActionRequest{Reason: "需更换管道", Until: &earlier})
	wantKind(t, err, api.ErrInvalid, "until_not_later")
	v = f.act(t, heat, v.Number, ActRequestExtension, ActionRequest{Reason: "需更换管道", Until: &later})
	if !v.DueAt.Equal(due) || !v.Assignments[0].ExtensionPending {
		t.Fatalf("a request moved the deadline: %v (was %v)", v.DueAt, due)
	}
	// Only a supervisor decides.
	_, err = f.store.Act(f.ctx, operator, v.Number, ActApproveExtension, ActionRequest{})
	wantKind(t, err, api.ErrForbidden, "")
	v = f.act(t, supervisor, v.Number, ActRefuseExtension, ActionRequest{Note: "管道更换可先临时处置"})
	if !v.DueAt.Equal(due) || v.Assignments[0].ExtensionPending {
		t.Fatalf("refusal: due %v pending %v", v.DueAt, v.Assignments[0].ExtensionPending)
	}
	f.act(t, heat, v.Number, ActRequestExtension, ActionRequest{Reason: "确需更换管道", Until: &later})
	v = f.act(t, supervisor, v.Number, ActApproveExtension, ActionRequest{})
	if !v.DueAt.Equal(later) {
		t.Fatalf("approved extension: due %v, want %v", v.DueAt, later)
	}
	v = f.act(t, supervisor, v.Number, ActUrge, ActionRequest{Note: "请于今日内处理"})
	if v.UrgeCount != 1 || v.Timeline[len(v.Timeline)-1].Action != ActUrge {
		t.Fatalf("urge: count %d", v.UrgeCount)
	}
}

func TestAnswerReopenMergeRefuse(t *testing.T) {
	f := newFixture(t)
	q := heating()
	q.Category, q.Content = "ZX-SB", "灵活就业人员如何缴纳养老保险"
	q.Answer = "携带身份证到社保大厅或通过蒙速办APP办理"
	v := f.create(t, q)
	if v.Status != StatusCompleted || v.Answer != q.Answer {
		t.Fatalf("direct answer: %s %q", v.Status, v.Answer)
	}
	_, err := f.store.Act(f.ctx, operator, v.Number, ActReopen, ActionRequest{})
	wantKind(t, err, api.ErrInvalid, "empty_reason")
	v = f.act(t, operator, v.Number, ActReopen, ActionRequest{Reason: "回访不满意：未说明缴费基数"})
	if v.Status != StatusRegistered || v.ReopenCount != 1 || v.CompletedAt != nil {
		t.Fatalf("reopen: %s count %d", v.Status, v.ReopenCount)
	}
	orig := f.create(t, heating())
	dup := f.create(t, heating())
	_, err = f.store.Act(f.ctx, operator, dup.Number, ActMerge, ActionRequest{Into: dup.Number})
	wantKind(t, err, api.ErrInvalid, "merge_self")
	_, err = f.store.Act(f.ctx, operator, dup.Number, ActMerge, ActionRequest{Into: FormatNumber(2026, 999999)})
	wantKind(t, err, api.ErrInvalid, "unknown_original")
	d := f.act(t, operator, dup.Number, ActMerge, ActionRequest{Into: orig.Number})
	if d.Status != StatusMerged || d.MergedInto != orig.Number {
		t.Fatalf("merge: %s into %q", d.Status, d.MergedInto)
	}
	o, err := f.store.Find(f.ctx, operator, orig.Number)
	if err != nil {
		t.Fatal(err)
	}
	if last := o.Timeline[len(o.Timeline)-1]; last.Action != ActMerge || last.Data["duplicate"] != dup.Number {
		t.Errorf("original's timeline does not record the duplicate: %+v", last)
	}
	r := f.create(t, heating())
	_, err = f.store.Act(f.ctx, operator, r.Number, ActRefuse, ActionRequest{Reason: "because"})
	wantKind(t, err, api.ErrInvalid, "unknown_reason")
	r = f.act(t, operator, r.Number, ActRefuse, ActionRequest{Reason: "litigation", Note: "已向法院起诉"})
	if r.Status != StatusRefused || !strings.Contains(r.Answer, "诉讼") {
		t.Fatalf("refuse: %s answer %q", r.Status, r.Answer)
	}
}

// Two operators act on the same ticket at the same moment: exactly one wins.
func TestConcurrentActionsExactlyOneWins(t *testing.T) {
	f := newFixture(t)
	v := f.create(t, heating())
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p := operator
			if i%2 == 1 {
				p = operator2
			}
			_, errs[i] = f.store.Act(f.ctx, p, v.Number, ActDispatch, ActionRequest{Version: v.Version})
		}(i)
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, api.ErrConflict):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent dispatches won, want exactly 1", wins, n)
	}
	got, _ := f.store.Find(f.ctx, operator, v.Number)
	dispatches := 0
	for _, e := range got.Timeline {
		if e.Action == ActDispatch {
			dispatches++
		}
	}
	if dispatches != 1 || len(got.Assignments) != 1 {
		t.Fatalf("%d dispatch events, %d assignments; want 1 and 1", dispatches, len(got.Assignments))
	}
	// A stale version is refused with the current one named.
	_, err := f.store.Act(f.ctx, supervisor, v.Number, ActUrge, ActionRequest{Version: v.Version, Note: "x"})
	wantKind(t, err, api.ErrConflict, "stale_version")
	if !strings.Contains(err.Error(), "version") {
		t.Errorf("message %q", err)
	}
}

func TestDepartmentSeesOnlyItsOwnAndMaskedPhones(t *testing.T) {
	f := newFixture(t)
	in := heating()
	in.Dispatch = &DispatchRequest{}
	mine := f.create(t, in)
	other := heating()
	other.Category = "ZX-SB"
	other.Dispatch = &DispatchRequest{}
	theirs := f.create(t, other)
	heat := f.dept("HEAT")
	v, err := f.store.Find(f.ctx, heat, mine.Number)
	if err != nil {
		t.Fatal(err)
	}
	if v.Citizen.Phone != "138****5678" {
		t.Errorf("department sees phone %q, want 138****5678", v.Citizen.Phone)
	}
	_, err = f.store.Find(f.ctx, heat, theirs.Number)
	wantKind(t, err, api.ErrNotFound, "ticket_not_found")
	list, _, err := f.store.List(f.ctx, heat, Filter{}, api.Page{Page: 1, PerPage: 50})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Number != mine.Number || list[0].CitizenPhone != "138****5678" {
		t.Fatalf("department list %+v", list)
	}
	_, _, err = f.store.List(f.ctx, heat, Filter{Department: "HRSS"}, api.Page{Page: 1, PerPage: 50})
	wantKind(t, err, api.ErrForbidden, "other_department")
	// Acting on another's ticket is also a 404, not a 403.
	_, err = f.store.Act(f.ctx, heat, theirs.Number, ActSign, ActionRequest{})
	wantKind(t, err, api.ErrNotFound, "")
}

func TestListFilters(t *testing.T) {
	f := newFixture(t)
	a := f.create(t, heating())
	f.clock.Add(time.Minute)
	b := heating()
	b.Category, b.Channel, b.Content = "ZX-SB", ChannelWeb, "养老保险补缴"
	bv := f.create(t, b)
	f.clock.Add(time.Minute)
	c := heating()
	c.Dispatch = &DispatchRequest{}
	cv := f.create(t, c)
	yes := true
	page := api.Page{Page: 1, PerPage: 50}
	for _, tc := range []struct {
		name string
		f    Filter
		want []string
	}{
		{"all newest first", Filter{}, []string{cv.Number, bv.Number, a.Number}},
		{"status", Filter{Status: []Status{StatusDispatched}}, []string{cv.Number}},
		{"department", Filter{Department: "HEAT"}, []string{cv.Number}},
		{"category subtree", Filter{Category: "TS"}, []string{cv.Number, a.Number}},
		{"channel", Filter{Channel: ChannelWeb}, []string{bv.Number}},
		{"text", Filter{Text: "养老"}, []string{bv.Number}},
		{"number", Filter{Text: a.Number}, []string{a.Number}},
		{"open", Filter{Open: &yes}, []string{cv.Number, bv.Number, a.Number}},
		{"overdue", Filter{Overdue: &yes}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.listed(t, operator, tc.f, page); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	got, more, err := f.store.List(f.ctx, operator, Filter{}, api.Page{Page: 1, PerPage: 2})
	if err != nil || len(got) != 2 || !more {
		t.Errorf("page of 2: %d items, more %v, err %v", len(got), more, err)
	}
	_, _, err = f.store.List(f.ctx, operator, Filter{Status: []Status{"lost"}}, page)
	wantKind(t, err, api.ErrInvalid, "unknown_status")
}

func TestOverdueWorkerMarksOnceAndExtensionLifts(t *testing.T) {
	f := newFixture(t)
	in := heating()
	in.Dispatch = &DispatchRequest{}
	v := f.create(t, in)
	// Sign-for limit is one working hour: at 10:01 it is late.
	f.clock.Add(61 * time.Minute)
	n, err := f.store.MarkOverdue(f.ctx)
	if err != nil || n != 1 {
		t.Fatalf("marked %d, err %v; want 1", n, err)
	}
	if n, _ := f.store.MarkOverdue(f.ctx); n != 0 {
		t.Fatalf("second run marked %d again", n)
	}
	v, _ = f.store.Find(f.ctx, operator, v.Number)
	if !v.Overdue || !v.Late || v.OverdueAt == nil || v.Timeline[len(v.Timeline)-1].Action != ActOverdue {
		t.Fatalf("overdue %v late %v at %v", v.Overdue, v.Late, v.OverdueAt)
	}
	yes := true
	list, _, _ := f.store.List(f.ctx, operator, Filter{Overdue: &yes}, api.Page{Page: 1, PerPage: 10})
	if len(list) != 1 {
		t.Errorf("overdue filter: %d tickets", len(list))
	}
}

func TestHandlingClockFromSignFor(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.ClockFrom = ClockFromSign })
	in := heating()
	in.Dispatch = &DispatchRequest{}
	v := f.create(t, in)
	if v.DueAt != nil || v.SignDueAt == nil {
		t.Fatalf("before sign-for: due %v sign due %v; want no handling deadline yet", v.DueAt, v.SignDueAt)
	}
	// Signed on Tuesday 09:00: one working day later is Wednesday 18:00.
	f.clock.Set(time.Date(2026, 11, 24, 9, 0, 0, 0, shanghai))
	v = f.act(t, f.dept("HEAT"), v.Number, ActSign, ActionRequest{})
	if want := time.Date(2026, 11, 25, 18, 0, 0, 0, shanghai); v.DueAt == nil || !v.DueAt.Equal(want) {
		t.Fatalf("due %v, want %v", v.DueAt, want)
	}
}

func TestUrgentLimitsRunOnTheClock(t *testing.T) {
	f := newFixture(t)
	// Saturday 2026-11-28 22:00: no working hours, but an urgent complaint is due in 24h.
	f.clock.Set(time.Date(2026, 11, 28, 22, 0, 0, 0, shanghai))
	in := heating()
	in.Category, in.Urgency = "TS-WY", UrgencyUrgent
	in.Dispatch = &DispatchRequest{Departments: []string{"DS"}}
	v := f.create(t, in)
	if want := time.Date(2026, 11, 29, 22, 0, 0, 0, shanghai); !v.DueAt.Equal(want) {
		t.Fatalf("urgent due %v, want %v", v.DueAt, want)
	}
	if want := time.Date(2026, 11, 29, 0, 0, 0, 0, shanghai); !v.SignDueAt.Equal(want) {
		t.Fatalf("urgent sign due %v, want %v", v.SignDueAt, want)
	}
}

func TestAuditDetectsTampering(t *testing.T) {
	f := newFixture(t)
	v := f.create(t, heating())
	f.act(t, operator, v.Number, ActDispatch, ActionRequest{Note: "请尽快处理"})
	rep, err := VerifyAudit(f.ctx, f.store.DB())
	if err != nil || !rep.OK() || rep.Events != 2 {
		t.Fatalf("clean audit: %+v %v", rep, err)
	}
	// Someone edits a note in the database directly.
	if err := f.store.DB().Model(&Event{}).Where("seq = 2").Update("note", "无需处理").Error; err != nil {
		t.Fatal(err)
	}
	rep, err = VerifyAudit(f.ctx, f.store.DB())
	if err != nil || rep.OK() || !strings.Contains(rep.Broken, v.Number+" event 2") {
		t.Fatalf("tampered audit: %+v %v", rep, err)
	}
	// And a deleted event is caught too.
	f.store.DB().Model(&Event{}).Where("seq = 2").Update("note", "请尽快处理")
	f.store.DB().Where("seq = 2").Delete(&Event{})
	rep, _ = VerifyAudit(f.ctx, f.store.DB())
	if rep.OK() {
		t.Fatal("a deleted event went unnoticed")
	}
}

func TestAttachments(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.AttachmentMaxBytes = 1024 })
	v := f.create(t, heating())
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 100)...)
	a, err := f.store.AddAttachment(f.ctx, operator, v.Number, "photo.png", bytes.NewReader(png))
	if err != nil {
		t.Fatal(err)
	}
	if a.ContentType != "image/png" || a.Size != int64(len(png)) {
		t.Errorf("attachment %+v", a)
	}
	_, file, err := f.store.OpenAttachment(f.ctx, operator, v.Number, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	file.Close()
	for _, tc := range []struct {
		name, file string
		body       []byte
		kind       error
		code       string
	}{
		{"oversized", "big.png", append(png, make([]byte, 2000)...), api.ErrTooLarge, "attachment_too_large"},
		{"disguised executable", "photo.jpg", append([]byte("MZ\x90\x00"), make([]byte, 200)...), api.ErrInvalid, "attachment_type"},
		{"png named jpg", "photo.jpg", png, api.ErrInvalid, "attachment_disguised"},
		{"empty", "a.txt", nil, api.ErrInvalid, "empty_attachment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.store.AddAttachment(f.ctx, operator, v.Number, tc.file, bytes.NewReader(tc.body))
			wantKind(t, err, tc.kind, tc.code)
		})
	}
	got, _ := f.store.Find(f.ctx, operator, v.Number)
	if len(got.Attachments) != 1 {
		t.Errorf("%d attachments stored, want only the good one", len(got.Attachments))
	}
	// A department that cannot see the ticket cannot attach to it either.
	_, err = f.store.AddAttachment(f.ctx, f.dept("HRSS"), v.Number, "x.png", bytes.NewReader(png))
	wantKind(t, err, api.ErrNotFound, "")
}

func TestDemoCityLoadsTwice(t *testing.T) {
	f := newFixture(t)
	city := DemoCity()
	for i := 0; i < 2; i++ {
		if err := f.store.LoadCity(f.ctx, city); err != nil {
			t.Fatalf("load %d: %v", i, err)
		}
	}
	ds, _ := f.store.Departments(f.ctx)
	levels := map[Level]int{}
	for _, d := range ds {
		levels[d.Level]++
	}
	if levels[LevelCity] < 40 || levels[LevelDistrict] < 9 || levels[LevelTownship] == 0 || levels[LevelVillage] == 0 {
		t.Errorf("demo city levels %v", levels)
	}
	cs, _ := f.store.Categories(f.ctx)
	if len(cs) < 30 {
		t.Errorf("%d categories", len(cs))
	}
}

// Several instances mark overdue tickets at the same time: every late ticket is marked
// exactly once, with exactly one overdue event.
func TestOverdueMarkingByConcurrentInstances(t *testing.T) {
	f := newFixture(t)
	const n = 30
	for i := 0; i < n; i++ {
		in := heating()
		in.Citizen.Phone = ""
		in.Dispatch = &DispatchRequest{}
		f.create(t, in)
	}
	f.clock.Add(2 * time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each "instance" is a store of its own over the same database.
			s := NewStore(f.store.DB(), f.store.opts)
			m, err := s.MarkOverdue(f.ctx)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			total += m
			mu.Unlock()
		}()
	}
	wg.Wait()
	var events int64
	f.store.DB().Model(&Event{}).Where("action = ?", ActOverdue).Count(&events)
	if total != n || events != n {
		t.Fatalf("marked %d with %d overdue events; want %d and %d", total, events, n, n)
	}
}

func TestNotesChangeNothingButTheTimeline(t *testing.T) {
	f := newFixture(t)
	v := f.create(t, heating())
	noted := f.act(t, operator, v.Number, ActNote, ActionRequest{Note: "来电者补充：楼道暖气也不热"})
	if noted.Status != v.Status || noted.DueAt != nil && v.DueAt != nil && !noted.DueAt.Equal(*v.DueAt) {
		t.Errorf("a note changed the ticket: status %s → %s", v.Status, noted.Status)
	}
	last := noted.Timeline[len(noted.Timeline)-1]
	if last.Action != ActNote || last.Note != "来电者补充：楼道暖气也不热" {
		t.Errorf("last timeline event %+v, want the note", last)
	}
	if _, err := f.store.Act(f.ctx, operator, v.Number, ActNote, ActionRequest{Note: "  "}); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("empty note: %v, want invalid", err)
	}
	// A department outside the ticket does not see it; one the ticket went to may note.
	if _, err := f.store.Act(f.ctx, f.dept("HRSS"), v.Number, ActNote, ActionRequest{Note: "x"}); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("note by a department that cannot see the ticket: %v, want not found", err)
	}
	f.act(t, operator, v.Number, ActDispatch, ActionRequest{})
	f.act(t, f.dept("HEAT"), v.Number, ActNote, ActionRequest{Note: "已联系物业"})
	// Completed tickets take notes too (a survey call, a later hand-off).
	c := f.create(t, NewTicket{Content: "咨询社保补缴", Category: "ZX-SB", Answer: "可在社保大厅补缴"})
	f.act(t, operator, c.Number, ActNote, ActionRequest{Note: "回访：群众表示满意"})
	if err := verifyAuditOK(f); err != nil {
		t.Fatal(err)
	}
}

// verifyAuditOK checks the hash chain after notes were added.
func verifyAuditOK(f *fixture) error {
	r, err := VerifyAudit(f.ctx, f.store.DB())
	if err != nil {
		return err
	}
	if !r.OK() {
		return fmt.Errorf("audit broken: %s", r)
	}
	return nil
}

// A timeline begun with SHA-256 (the default) goes on with SM3 once configured: its old
// events still verify, the new ones are SM3 (and fit their columns on PostgreSQL), the
// report counts both, and a change of an SM3-linked event is caught.
func TestAuditSM3TimelineContinuesASHA256One(t *testing.T) {
	f := newFixture(t)
	v := f.create(t, heating())
	sm := NewStore(f.store.DB(), Options{Calendar: f.store.opts.Calendar, Location: shanghai, Now: f.clock.Now, ChainHash: hashchain.SM3})
	if _, err := sm.Act(f.ctx, operator, v.Number, ActDispatch, ActionRequest{Note: "请尽快处理"}); err != nil {
		t.Fatal(err)
	}
	w, err := sm.Create(f.ctx, operator, heating())
	if err != nil {
		t.Fatal(err)
	}
	var evs []Event
	if err := f.store.DB().Order("id").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	var sm3 int
	for _, e := range evs {
		if strings.HasPrefix(e.Hash, "sm3:") {
			sm3++
		}
	}
	if len(evs) != 3 || sm3 != 2 || strings.HasPrefix(evs[0].Hash, "sm3:") || evs[1].PrevHash != evs[0].Hash {
		t.Fatalf("events %+v: want the first SHA-256 and the two after it SM3, linked", evs)
	}
	rep, err := VerifyAudit(f.ctx, f.store.DB())
	if err != nil || !rep.OK() || rep.Events != 3 || rep.Links != (hashchain.Tally{SHA256: 1, SM3: 2}) {
		t.Fatalf("mixed timelines: %+v %v", rep, err)
	}
	if !strings.Contains(rep.String(), "SM3 2 and SHA-256 1") {
		t.Errorf("report %q does not say how the events are linked", rep)
	}
	if err := f.store.DB().Model(&Event{}).Where("id = ?", evs[2].ID).Update("note", "改过").Error; err != nil {
		t.Fatal(err)
	}
	if rep, _ := VerifyAudit(f.ctx, f.store.DB()); rep.OK() || !strings.Contains(rep.Broken, w.Number+" event 1") {
		t.Errorf("a changed SM3 event: %+v", rep)
	}
}
