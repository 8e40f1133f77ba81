package ivr

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rexian/rexian/config"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testQueue(name, skill, strategy string) config.Queue {
	return config.Queue{Name: name, Skill: skill, Strategy: strategy, RingTimeout: 15 * time.Second, MaxWait: 2 * time.Minute}
}

func newWaiter(key string, q config.Queue, since time.Time) *waiter {
	return &waiter{key: key, queue: q, since: since, offer: make(chan []*Agent, 1)}
}

func offered(t *testing.T, w *waiter) []string {
	t.Helper()
	select {
	case agents := <-w.offer:
		var users []string
		for _, a := range agents {
			users = append(users, a.User)
		}
		slices.Sort(users)
		return users
	default:
		return nil
	}
}

func TestACDLongestIdleFirst(t *testing.T) {
	clk := newTestClock()
	q := newACD(clk.now, nil)
	q.login("wang", "王", "PJSIP/8001", nil)
	clk.add(time.Minute)
	q.login("li", "李", "PJSIP/8002", nil)
	clk.add(time.Minute)

	general := testQueue("general", "", config.StrategyLongestIdle)
	w1 := newWaiter("1", general, clk.now())
	q.enqueue(w1)
	if got := offered(t, w1); !slices.Equal(got, []string{"wang"}) {
		t.Fatalf("first caller offered %v, want the operator idle longest (wang)", got)
	}
	w2 := newWaiter("2", general, clk.now())
	q.enqueue(w2)
	if got := offered(t, w2); !slices.Equal(got, []string{"li"}) {
		t.Fatalf("second caller offered %v, want li", got)
	}
	w3 := newWaiter("3", general, clk.now())
	q.enqueue(w3)
	if got := offered(t, w3); got != nil {
		t.Fatalf("third caller offered %v while both operators are ringing", got)
	}
	if pos, _ := q.position(w3); pos != 1 {
		t.Fatalf("third caller at position %d, want 1", pos)
	}
}

func TestACDRingAllOffersEveryReadyOperator(t *testing.T) {
	clk := newTestClock()
	q := newACD(clk.now, nil)
	for _, u := range []string{"a", "b", "c"} {
		q.login(u, u, "PJSIP/"+u, nil)
	}
	q.setState("c", false, "lunch")
	w := newWaiter("1", testQueue("general", "", config.StrategyRingAll), clk.now())
	q.enqueue(w)
	if got := offered(t, w); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("ring-all offered %v, want the ready operators a and b (c is paused)", got)
	}
}

func TestACDSkills(t *testing.T) {
	clk := newTestClock()
	q := newACD(clk.now, nil)
	q.login("consult", "c", "PJSIP/1", []string{"consultation"})
	complaint := testQueue("complaint", "complaint", config.StrategyLongestIdle)
	if q.servable(complaint) {
		t.Fatal("a complaint queue is servable by an operator who only does consultations")
	}
	w := newWaiter("1", complaint, clk.now())
	q.enqueue(w)
	if got := offered(t, w); got != nil {
		t.Fatalf("offered %v without the skill", got)
	}
	// An operator with no skills listed takes every queue.
	q.login("all", "all", "PJSIP/2", nil)
	if got := offered(t, w); !slices.Equal(got, []string{"all"}) {
		t.Fatalf("offered %v, want the operator with every skill", got)
	}
}

func TestACDMissedCallPausesAndRequeueKeepsPlace(t *testing.T) {
	clk := newTestClock()
	q := newACD(clk.now, nil)
	q.login("wang", "王", "PJSIP/8001", nil)
	general := testQueue("general", "", config.StrategyLongestIdle)
	first := newWaiter("first", general, clk.now())
	q.enqueue(first)
	agents := <-first.offer
	clk.add(time.Second)
	second := newWaiter("second", general, clk.now())
	q.enqueue(second)

	// wang does not answer: paused, and the first caller goes back ahead of the second.
	q.missed(agents, PauseNoAnswer, nil)
	if a, _ := q.agent("wang"); a.State != AgentPaused || a.Reason != PauseNoAnswer {
		t.Fatalf("after a missed call wang is %s (%s), want paused for no_answer", a.State, a.Reason)
	}
	q.enqueue(first)
	if pos, _ := q.position(first); pos != 1 {
		t.Fatalf("re-queued caller at position %d, want 1 (kept their place)", pos)
	}
	if pos, _ := q.position(second); pos != 2 {
		t.Fatalf("later caller at position %d, want 2", pos)
	}
	if q.servable(general) {
		t.Fatal("queue servable with the only operator paused")
	}
	// wang comes back: the first caller is offered, not the second.
	q.setState("wang", true, "")
	if got := offered(t, first); !slices.Equal(got, []string{"wang"}) {
		t.Fatalf("first caller offered %v, want wang", got)
	}
	if got := offered(t, second); got != nil {
		t.Fatalf("second caller offered %v before the first", got)
	}
}

func TestACDWrapUpThenReady(t *testing.T) {
	clk := newTestClock()
	q := newACD(clk.now, nil)
	q.login("wang", "王", "PJSIP/8001", nil)
	w := newWaiter("1", testQueue("general", "", config.StrategyLongestIdle), clk.now())
	q.enqueue(w)
	a := (<-w.offer)[0]
	q.answered(a, 42)
	if got, _ := q.agent("wang"); got.State != AgentBusy || got.CallID != 42 {
		t.Fatalf("answering operator is %s on call %d, want busy on 42", got.State, got.CallID)
	}
	next := newWaiter("2", w.queue, clk.now())
	q.enqueue(next)
	q.finished(a, 2*time.Minute, 20*time.Millisecond)
	if got, _ := q.agent("wang"); got.State != AgentWrapUp || got.Calls != 1 {
		t.Fatalf("after the call wang is %s with %d calls, want wrap_up with 1", got.State, got.Calls)
	}
	if got := offered(t, next); got != nil {
		t.Fatal("a caller was offered to an operator still wrapping up")
	}
	// The wrap-up timer makes wang ready and hands over the waiting caller.
	deadline := time.After(5 * time.Second)
	select {
	case agents := <-next.offer:
		if agents[0].User != "wang" {
			t.Fatalf("offered %s, want wang", agents[0].User)
		}
	case <-deadline:
		t.Fatal("wrap-up never ended")
	}
}

func TestACDLeaveReleasesAnOfferNotTaken(t *testing.T) {
	clk := newTestClock()
	q := newACD(clk.now, nil)
	q.login("wang", "王", "PJSIP/8001", nil)
	w := newWaiter("1", testQueue("general", "", config.StrategyLongestIdle), clk.now())
	q.enqueue(w) // offered at once, but the caller hangs up before taking it
	q.leave(w)
	if a, _ := q.agent("wang"); a.State != AgentReady {
		t.Fatalf("operator left %s after the caller hung up before the offer was taken, want ready", a.State)
	}
	agents, waiting := q.snapshot()
	if len(agents) != 1 || len(waiting) != 0 {
		t.Fatalf("snapshot has %d agents and %d waiting, want 1 and 0", len(agents), len(waiting))
	}
}

func TestACDLogoutDuringCallKeepsItGoing(t *testing.T) {
	clk := newTestClock()
	q := newACD(clk.now, nil)
	q.login("wang", "王", "PJSIP/8001", nil)
	w := newWaiter("1", testQueue("general", "", config.StrategyLongestIdle), clk.now())
	q.enqueue(w)
	a := (<-w.offer)[0]
	q.answered(a, 7)
	if !q.logout("wang") {
		t.Fatal("logout of a logged-in operator refused")
	}
	q.finished(a, time.Minute, time.Second) // must not bring wang back
	if _, ok := q.agent("wang"); ok {
		t.Fatal("operator who logged out mid-call is back in the queue after it ended")
	}
	if q.logout("wang") {
		t.Fatal("second logout reported success")
	}
}
