package callback

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/tickets"
)

// TestScheduleHundredThousand schedules and queues the surveys of 100,000 completed
// tickets and reports how long it took; the goal is under 60 s. It writes the tickets
// and their completion events straight into the tables (creating them through the
// workflow is not what is measured). Run with REXIAN_CALLBACK_BENCH=1 (the count with
// REXIAN_CALLBACK_BENCH_N).
func TestScheduleHundredThousand(t *testing.T) {
	if os.Getenv("REXIAN_CALLBACK_BENCH") == "" {
		t.Skip("set REXIAN_CALLBACK_BENCH=1 to run the 100,000-survey benchmark")
	}
	n := 100_000
	if v := os.Getenv("REXIAN_CALLBACK_BENCH_N"); v != "" {
		fmt.Sscan(v, &n)
	}
	e := newEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	t.Cleanup(cancel)
	e.ctx = ctx
	var cat tickets.Category
	if err := e.db.Where("code = ?", "ZX-SHBX").Take(&cat).Error; err != nil {
		t.Fatal(err)
	}
	completed := e.clk.Now().Add(-3 * time.Hour)
	const chunk = 500
	start := time.Now()
	for i := 0; i < n; i += chunk {
		m := min(chunk, n-i)
		ts := make([]tickets.Ticket, m)
		for j := range ts {
			k := i + j
			ts[j] = tickets.Ticket{Number: tickets.FormatNumber(2026, int64(k+1)), Channel: tickets.ChannelPhone,
				Status: tickets.StatusCompleted, Version: 2, CitizenPhone: fmt.Sprintf("139%08d", k), PhoneKind: tickets.PhoneMobile,
				WantsReply: true, Title: "社保卡补办", Content: "社保卡丢了怎么补办", CategoryID: cat.ID, Urgency: tickets.UrgencyNormal,
				RegisteredBy: "operator:bench", RegisteredAt: completed, CompletedAt: &completed, Open: false,
				Answer: "携带身份证到社保大厅补办，当场制卡。", EventSeq: 2, CreatedAt: completed, UpdatedAt: completed}
		}
		if err := e.db.CreateInBatches(&ts, chunk).Error; err != nil {
			t.Fatal(err)
		}
		evs := make([]tickets.Event, m)
		for j, tk := range ts {
			evs[j] = tickets.Event{TicketID: tk.ID, Seq: 2, At: completed, Actor: "operator:bench", Action: tickets.ActAnswer,
				FromStatus: tickets.StatusRegistered, ToStatus: tickets.StatusCompleted, PrevHash: "x", Hash: "y"}
		}
		if err := e.db.CreateInBatches(&evs, chunk).Error; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d completed tickets written in %s", n, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	scheduled, err := e.svc.ScheduleOnce(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	mid := time.Since(start)
	queued, err := e.svc.SendOnce(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	var msgs int64
	e.db.Model(&sms.Message{}).Where("kind = ? AND status = ?", sms.KindSurvey, sms.StatusQueued).Count(&msgs)
	t.Logf("%d completions scheduled in %s; %d surveys queued (%d survey messages in the outbox) in %s in all (%.0f surveys/s)",
		scheduled, mid.Round(time.Millisecond), queued, msgs, took.Round(time.Millisecond), float64(n)/took.Seconds())
	if scheduled != n || queued != n || msgs != int64(n) {
		t.Fatalf("scheduled %d, queued %d, %d messages; want %d each", scheduled, queued, msgs, n)
	}
	if took > 60*time.Second {
		t.Errorf("took %s, over the 60 s goal", took)
	}
}
