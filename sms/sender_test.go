package sms

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rexian/rexian/database/dbtest"
)

func TestSendAndReports(t *testing.T) {
	f := newFixture(t)
	long := f.enqueue(t, NewMessage{To: "13800138000", Text: strings.Repeat("市民热线", 40)}) // 3 parts
	if long.PartCount != 3 {
		t.Fatalf("%d parts", long.PartCount)
	}
	f.sendAll(t)
	m, parts := f.load(t, long.ID)
	if m.Status != StatusSubmitted || m.Attempts != 1 || m.LeaseOwner != "" || m.SubmittedAt == nil {
		t.Fatalf("after sending: %+v", m)
	}
	sent := f.gw.submitted()
	if len(sent) != 3 {
		t.Fatalf("%d parts submitted", len(sent))
	}
	for i, p := range sent {
		if p.MessageID != long.ID || p.PartID != parts[i].ID || p.Seq != i+1 || p.Count != 3 || p.Ref != sent[0].Ref ||
			p.Coding != CodingUCS2 || p.To != "13800138000" || p.Text != parts[i].Text {
			t.Fatalf("part %d submitted as %+v", i+1, p)
		}
		if parts[i].Status != PartSubmitted || parts[i].GatewayID != fmt.Sprintf("gw-%d", p.PartID) {
			t.Fatalf("part %d recorded as %+v", i+1, parts[i])
		}
	}
	report := func(i int, st DeliveryState) {
		t.Helper()
		if err := f.svc.Report(f.ctx, Report{MessageID: long.ID, PartID: parts[i].ID, State: st, Detail: "ACK/", At: monday10}); err != nil {
			t.Fatal(err)
		}
	}
	// Out of order, duplicated, and a late non-final report after a final one.
	report(1, DeliveryDelivered)
	report(1, DeliveryDelivered)
	report(1, DeliveryAccepted)
	report(0, DeliveryBuffered)
	if f.status(t, long.ID) != StatusSubmitted {
		t.Fatal("a message with undelivered parts is not submitted")
	}
	report(0, DeliveryDelivered)
	report(2, DeliveryAccepted)
	report(2, DeliveryDelivered)
	m, parts = f.load(t, long.ID)
	if m.Status != StatusDelivered || m.FinishedAt == nil {
		t.Fatalf("every part delivered, message %s", m.Status)
	}
	for _, p := range parts {
		if p.Status != PartDelivered {
			t.Fatalf("part %d %s", p.Seq, p.Status)
		}
	}
	// A failed report after delivery changes nothing.
	report(0, DeliveryFailed)
	if st := f.status(t, long.ID); st != StatusDelivered {
		t.Fatalf("final state downgraded to %s", st)
	}

	t.Run("one failed part fails the message", func(t *testing.T) {
		m := f.enqueue(t, NewMessage{To: "13800138000", Text: strings.Repeat("市民热线", 40)})
		f.sendAll(t)
		_, parts := f.load(t, m.ID)
		f.svc.Report(f.ctx, Report{MessageID: m.ID, PartID: parts[0].ID, State: DeliveryDelivered})
		f.svc.Report(f.ctx, Report{MessageID: m.ID, PartID: parts[1].ID, State: DeliveryFailed, Detail: "NACK/absent subscriber"})
		if st := f.status(t, m.ID); st != StatusFailed {
			t.Fatalf("status %s", st)
		}
		f.svc.Report(f.ctx, Report{MessageID: m.ID, PartID: parts[1].ID, State: DeliveryDelivered})
		if st := f.status(t, m.ID); st != StatusFailed {
			t.Fatalf("failed message changed to %s", st)
		}
	})

	t.Run("unknown part is acknowledged", func(t *testing.T) {
		for _, r := range []Report{
			{MessageID: 999999, PartID: 1, State: DeliveryDelivered},
			{MessageID: long.ID, PartID: 999999, State: DeliveryDelivered},
			{MessageID: long.ID + 1, PartID: parts[0].ID, State: DeliveryDelivered}, // ids that do not belong together
			{MessageID: long.ID, PartID: parts[0].ID, State: "weird"},
		} {
			if err := f.svc.Report(f.ctx, r); err != nil {
				t.Fatalf("report %+v: %v", r, err)
			}
		}
	})
}

// A delivery report can arrive before the sender has recorded the part as submitted.
func TestReportOvertakesRecord(t *testing.T) {
	f := newFixture(t)
	f.gw.onAccept = func(p Part) {
		if err := f.svc.Report(f.ctx, Report{MessageID: p.MessageID, PartID: p.PartID, State: DeliveryDelivered}); err != nil {
			t.Error(err)
		}
	}
	m := f.enqueue(t, NewMessage{To: "13800138000", Text: strings.Repeat("热线", 40)})
	f.sendAll(t)
	got, parts := f.load(t, m.ID)
	if got.Status != StatusDelivered {
		t.Fatalf("status %s; want delivered", got.Status)
	}
	for _, p := range parts {
		if p.Status != PartDelivered || p.GatewayID == "" {
			t.Fatalf("part %+v", p)
		}
	}
}

func TestGatewayErrors(t *testing.T) {
	t.Run("down, then back", func(t *testing.T) {
		f := newFixture(t)
		f.gw.setNext(func(context.Context, Part) error { return errors.New("connection refused") })
		m := f.enqueue(t, NewMessage{To: "13800138000", Text: "测试"})
		f.sendAll(t)
		got, _ := f.load(t, m.ID)
		if got.Status != StatusQueued || got.Attempts != 1 || !got.NextAttemptAt.After(monday10) || got.Error == "" {
			t.Fatalf("after a temporary error: %+v", got)
		}
		wait := got.NextAttemptAt.Sub(monday10)
		if wait < 5*time.Second || wait > 10*time.Second {
			t.Fatalf("first backoff %s; want 5-10s", wait)
		}
		f.sendAll(t) // not due yet
		if n := len(f.gw.submitted()); n != 0 {
			t.Fatalf("%d parts sent before the backoff ended", n)
		}
		f.gw.setNext(func(context.Context, Part) error {
			return fmt.Errorf("kannel answered 503: %w", errors.New("unavailable"))
		})
		f.clock.Add(wait)
		f.sendAll(t)
		got, _ = f.load(t, m.ID)
		second := got.NextAttemptAt.Sub(f.clock.Now())
		if got.Attempts != 2 || second < 10*time.Second || second > 20*time.Second {
			t.Fatalf("second backoff %s after %d attempts", second, got.Attempts)
		}
		f.gw.setNext(nil)
		f.clock.Add(second)
		f.sendAll(t)
		if st := f.status(t, m.ID); st != StatusSubmitted {
			t.Fatalf("status %s", st)
		}
		f.wantSubmissions(t, map[string]float64{submitError: 2, submitAccepted: 1})
	})

	t.Run("rejected", func(t *testing.T) {
		f := newFixture(t)
		f.gw.setNext(func(_ context.Context, p Part) error {
			if p.Seq == 2 {
				return fmt.Errorf("kannel answered 403 Forbidden: %w", ErrRejected)
			}
			return nil
		})
		m := f.enqueue(t, NewMessage{To: "13800138000", Text: strings.Repeat("热线", 80)})
		f.sendAll(t)
		got, parts := f.load(t, m.ID)
		if got.Status != StatusFailed || !strings.Contains(got.Error, "403") || got.FinishedAt == nil {
			t.Fatalf("message %+v", got)
		}
		if parts[0].Status != PartSubmitted || parts[1].Status != PartFailed || parts[2].Status != PartPending {
			t.Fatalf("parts %s %s %s", parts[0].Status, parts[1].Status, parts[2].Status)
		}
		f.clock.Add(time.Hour)
		f.sendAll(t)
		if n := len(f.gw.submitted()); n != 1 {
			t.Fatalf("%d parts sent; a refused message is never retried", n)
		}
		f.wantSubmissions(t, map[string]float64{submitAccepted: 1, submitRejected: 1})
	})

	t.Run("expires", func(t *testing.T) {
		f := newFixture(t, func(o *Options) { o.Expiry = 10 * time.Minute })
		f.gw.setNext(func(context.Context, Part) error { return errors.New("connection refused") })
		m := f.enqueue(t, NewMessage{To: "13800138000", Text: "测试"})
		for f.status(t, m.ID) == StatusQueued && f.clock.Now().Before(monday10.Add(time.Hour)) {
			f.sendAll(t)
			if err := f.svc.ReconcileOnce(f.ctx); err != nil {
				t.Fatal(err)
			}
			f.clock.Add(time.Minute)
		}
		got, _ := f.load(t, m.ID)
		if got.Status != StatusExpired || got.FinishedAt == nil || got.FinishedAt.After(monday10.Add(11*time.Minute)) {
			t.Fatalf("message %+v", got)
		}
	})

	t.Run("no gateway keeps messages queued", func(t *testing.T) {
		f := newFixture(t, func(o *Options) { o.Gateway = nil })
		m := f.enqueue(t, NewMessage{To: "13800138000", Text: "测试"})
		if n, err := f.svc.SendOnce(f.ctx); n != 0 || err != nil {
			t.Fatal(n, err)
		}
		ctx, cancel := context.WithTimeout(f.ctx, 50*time.Millisecond)
		defer cancel()
		if err := f.svc.RunSender(ctx); err != nil {
			t.Fatal(err)
		}
		if st := f.status(t, m.ID); st != StatusQueued {
			t.Fatalf("status %s", st)
		}
	})

	t.Run("a gateway that hangs leaves the decision to reconcile", func(t *testing.T) {
		f := newFixture(t, func(o *Options) { o.Lease = leaseMargin + 200*time.Millisecond })
		f.gw.setNext(func(ctx context.Context, p Part) error {
			<-ctx.Done() // hangs until the call's deadline
			return ctx.Err()
		})
		m := f.enqueue(t, NewMessage{To: "13800138000", Text: "测试"})
		f.sendAll(t)
		got, _ := f.load(t, m.ID)
		if got.Status != StatusSubmitting || got.LeaseUntil == nil || got.LeaseUntil.After(f.clock.Now()) {
			t.Fatalf("after a hang: %+v", got)
		}
		f.gw.setNext(nil)
		f.reconcileAt(t, f.clock.Now().Add(time.Minute)) // within the grace: waits
		if st := f.status(t, m.ID); st != StatusSubmitting {
			t.Fatalf("requeued within the grace period: %s", st)
		}
		f.reconcileAt(t, f.clock.Now().Add(2*time.Minute))
		if st := f.status(t, m.ID); st != StatusQueued {
			t.Fatalf("after the grace: %s", st)
		}
		f.sendAll(t)
		if st := f.status(t, m.ID); st != StatusSubmitted {
			t.Fatalf("resent: %s", st)
		}
		f.wantSubmissions(t, map[string]float64{submitUnknown: 1, submitAccepted: 1})
	})

	t.Run("a panicking gateway does not lose the message", func(t *testing.T) {
		f := newFixture(t)
		f.gw.setNext(func(context.Context, Part) error { panic("driver bug") })
		m := f.enqueue(t, NewMessage{To: "13800138000", Text: "测试"})
		f.sendAll(t)
		if st := f.status(t, m.ID); st != StatusSubmitting {
			t.Fatalf("status %s", st)
		}
	})
}

// wantSubmissions compares rexian_sms_submissions_total by result.
func (f *fixture) wantSubmissions(t testing.TB, want map[string]float64) {
	t.Helper()
	for _, r := range []string{submitAccepted, submitRejected, submitUnknown, submitError} {
		if got := testutil.ToFloat64(f.svc.submissions.WithLabelValues(r)); got != want[r] {
			t.Errorf("rexian_sms_submissions_total{result=%q} = %v, want %v", r, got, want[r])
		}
	}
}

func (f *fixture) reconcileAt(t testing.TB, at time.Time) {
	t.Helper()
	f.clock.Set(at)
	if err := f.svc.ReconcileOnce(f.ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCrashBetweenSubmitAndRecord abandons a claimed batch as a SIGKILL would: some parts
// reached the gateway, none was recorded. Reports prove what was sent; the rest is sent
// once after the grace period, and nothing is sent twice.
func TestCrashBetweenSubmitAndRecord(t *testing.T) {
	f := newFixture(t)
	var ids []uint64
	for i := range 6 {
		m := f.enqueue(t, NewMessage{To: fmt.Sprintf("1380013800%d", i), Text: strings.Repeat("热线", 40)}) // 2 parts each
		ids = append(ids, m.ID)
	}
	cs, err := f.svc.claim(f.ctx, 100)
	if err != nil || len(cs) != 6 {
		t.Fatalf("claim = %d, %v", len(cs), err)
	}
	// The "crashed" instance got these to the gateway before dying:
	//   message 0: both parts, and the SMS centre reported both;
	//   message 1: both parts, reports of part 1 only;
	//   message 2: part 1 only, reported;
	//   message 3: part 1 only, never reported (the one window that remains);
	//   messages 4, 5: nothing.
	slices.SortFunc(cs, func(a, b *claimed) int { return int(a.id) - int(b.id) })
	gateway := func(c *claimed, seq int, report bool) {
		p := c.parts[seq-1]
		f.gw.Submit(f.ctx, Part{MessageID: c.id, PartID: p.ID, Seq: p.Seq, Count: c.count, To: c.to, Text: p.Text})
		if report {
			if err := f.svc.Report(f.ctx, Report{MessageID: c.id, PartID: p.ID, State: DeliveryAccepted}); err != nil {
				t.Fatal(err)
			}
		}
	}
	gateway(cs[0], 1, true)
	gateway(cs[0], 2, true)
	gateway(cs[1], 1, true)
	gateway(cs[1], 2, false)
	gateway(cs[2], 1, true)
	gateway(cs[3], 1, false)

	// A second instance starts; nothing is due while the lease holds.
	g := fixtureOn(t, f.db, func(o *Options) { o.Gateway = f.gw; o.Now = f.clock.Now; o.Owner = "second" })
	g.clock = f.clock
	g.sendAll(t)
	if n := len(f.gw.submitted()); n != 6 {
		t.Fatalf("%d submissions while the lease held", n)
	}
	f.reconcileAt(t, monday10.Add(time.Minute+time.Second)) // lease over, grace running
	want := map[uint64]Status{ids[0]: StatusSubmitted, ids[1]: StatusSubmitting, ids[2]: StatusSubmitting,
		ids[3]: StatusSubmitting, ids[4]: StatusSubmitting, ids[5]: StatusSubmitting}
	for id, st := range want {
		if got := f.status(t, id); got != st {
			t.Errorf("within grace: message %d is %s; want %s", id, got, st)
		}
	}
	// Part 2 of message 1 is reported late, within the grace.
	_, p1 := f.load(t, ids[1])
	f.svc.Report(f.ctx, Report{MessageID: ids[1], PartID: p1[1].ID, State: DeliveryDelivered})
	f.reconcileAt(t, monday10.Add(3*time.Minute+2*time.Second)) // grace over
	g.sendAll(t)
	for _, id := range ids {
		if got := f.status(t, id); got != StatusSubmitted {
			t.Errorf("message %d is %s; want submitted", id, got)
		}
	}
	counts := map[uint64]int{}
	for _, p := range f.gw.submitted() {
		counts[p.PartID]++
	}
	for i, id := range ids {
		_, parts := f.load(t, id)
		for _, p := range parts {
			want := 1
			if i == 3 && p.Seq == 1 {
				want = 2 // accepted, never reported: sent again, as documented
			}
			if counts[p.ID] != want {
				t.Errorf("message %d part %d sent %d times; want %d", i, p.Seq, counts[p.ID], want)
			}
		}
	}
}

// TestConcurrentSenders runs several senders on one database against one gateway: every
// part is submitted exactly once.
func TestConcurrentSenders(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.BatchSize = 20; o.Now = nil; o.QuietKinds = []Kind{} }) // real time: no quiet hours
	const n = 300
	for i := range n {
		text := "测试"
		if i%3 == 0 {
			text = strings.Repeat("热线", 40)
		}
		f.enqueue(t, NewMessage{To: fmt.Sprintf("139%08d", i), Text: text})
	}
	var parts int64
	f.db.Model(&MessagePart{}).Count(&parts)
	ctx, cancel := context.WithTimeout(f.ctx, time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 3 {
		svc, err := NewService(f.db, nil, f.tickets, Options{Gateway: f.gw, Owner: fmt.Sprintf("w%d", i), RatePerSecond: 1e6,
			Concurrency: 4, BatchSize: 20, PollInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc.RunSender(ctx)
		}()
	}
	eventually(t, 50*time.Second, "every message submitted", func() bool {
		var left int64
		f.db.Model(&Message{}).Where("status <> ?", StatusSubmitted).Count(&left)
		return left == 0
	})
	cancel()
	wg.Wait()
	if got := len(f.gw.submitted()); int64(got) != parts {
		t.Errorf("%d submissions for %d parts", got, parts)
	}
	if d := f.gw.duplicates(); len(d) > 0 {
		t.Errorf("parts sent twice: %v", d)
	}
	t.Logf("%s: %d messages, %d parts by 3 senders", dbtest.Kind(), n, parts)
}

// TestSenderShutdownReleases: messages claimed but not tried when the sender stops go
// back to the queue at once instead of waiting for their lease.
func TestSenderShutdownReleases(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Concurrency, o.BatchSize, o.Now, o.PollInterval, o.QuietKinds = 1, 10, nil, 10*time.Millisecond, []Kind{}
	})
	started := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	f.gw.setNext(func(ctx context.Context, p Part) error {
		once.Do(func() { close(started) })
		<-release
		return nil
	})
	for i := range 5 {
		f.enqueue(t, NewMessage{To: fmt.Sprintf("139%08d", i), Text: "测试"})
	}
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error)
	go func() { done <- f.svc.RunSender(ctx) }()
	<-started
	cancel()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var sub, queued int64
	f.db.Model(&Message{}).Where("status = ?", StatusSubmitted).Count(&sub)
	f.db.Model(&Message{}).Where("status = ? AND lease_owner = ''", StatusQueued).Count(&queued)
	if sub != 1 || queued != 4 {
		t.Fatalf("after shutdown: %d submitted, %d queued; want the one in flight recorded and 4 released", sub, queued)
	}
}
