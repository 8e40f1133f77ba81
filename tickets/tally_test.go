package tickets

import (
	"testing"
	"time"

	"github.com/rexian/rexian/api"
)

func TestTally(t *testing.T) {
	f := newFixture(t)
	answered := func() string {
		t.Helper()
		in := heating()
		in.Category, in.Content, in.Answer = "ZX-SB", "灵活就业人员如何缴纳养老保险", "携带身份证到社保大厅办理"
		v := f.create(t, in)
		if v.Status != StatusCompleted {
			t.Fatalf("direct answer: %s", v.Status)
		}
		f.clock.Add(time.Minute)
		return v.Number
	}
	// Three completed yesterday, an open one, two completed today: newest last.
	f.clock.Add(-24 * time.Hour)
	for range 3 {
		answered()
	}
	f.clock.Add(24 * time.Hour)
	in := heating()
	in.Dispatch = &DispatchRequest{}
	f.create(t, in)
	f.clock.Add(time.Minute)
	answered()
	answered()
	today := time.Date(2026, 11, 23, 0, 0, 0, 0, shanghai)
	completed := Filter{Status: []Status{StatusCompleted}}
	for _, tc := range []struct {
		name  string
		f     Filter
		limit int
		want  Tally
	}{
		{"all, under the limit", completed, 10, Tally{Counted: 5, CompletedSince: 2}},
		{"exactly the limit", completed, 5, Tally{Counted: 5, CompletedSince: 2}},
		{"over the limit: today's among the newest only", completed, 1, Tally{Counted: 1, More: true, CompletedSince: 1}},
		{"over the limit, yesterday's beyond", completed, 3, Tally{Counted: 3, More: true, CompletedSince: 2}},
		{"open ones", Filter{Status: []Status{StatusDispatched}}, 10, Tally{Counted: 1}},
		{"a short word", Filter{Text: "养老"}, 10, Tally{Counted: 5, CompletedSince: 2}},
		{"a short word, over the limit", Filter{Text: "养老"}, 4, Tally{Counted: 4, More: true, CompletedSince: 2}},
		{"one character nobody wrote", Filter{Text: "鲸"}, 10, Tally{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.store.Tally(f.ctx, supervisor, tc.f, tc.limit, today)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Tally = %+v, want %+v", got, tc.want)
			}
			// The same as reading the list.
			items, more, err := f.store.List(f.ctx, supervisor, tc.f, api.Page{Page: 1, PerPage: tc.limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != got.Counted || more != got.More {
				t.Errorf("List has %d (more %v), Tally %+v", len(items), more, got)
			}
		})
	}
	// A department sees only its own; the consultations went to HRSS.
	if got, err := f.store.Tally(f.ctx, f.dept("HEAT"), completed, 10, today); err != nil || got != (Tally{}) {
		t.Errorf("HEAT's tally = %+v, %v; want none", got, err)
	}
	if _, err := f.store.Tally(f.ctx, supervisor, completed, 0, today); err == nil {
		t.Error("a tally without a limit passed")
	}
}
