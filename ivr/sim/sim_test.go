package sim

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/rexian/rexian/config"
)

func settings() config.IVR {
	s := config.DefaultIVR()
	for i := range s.Queues {
		s.Queues[i].WrapUp = 0
		s.Queues[i].AnnounceEvery = 0
		s.Queues[i].MaxWait = 10 * time.Minute
		s.Queues[i].Record = true
	}
	for i := range s.Lines {
		s.Lines[i].Channels = 100000 // the load measures the controller, not the line limit
	}
	for i := range s.Hotlines {
		s.Hotlines[i].KnownCaller = false
	}
	return s
}

func TestSimulatedCallsAllReachOperators(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := NewEnv(ctx, EnvOptions{Settings: settings(), Operators: 20, AnswerAfter: 5 * time.Millisecond, Second: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close() })
	rep, err := Run(ctx, env.Driver(), Options{Calls: 40, Rate: 400, Keys: "1", Talk: 20 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep.Reply = Of(env.Replies.Take())
	if rep.Bridged != 40 || rep.Failed != 0 || !rep.ControllerActive0 {
		rep.Print(os.Stderr, runtime.NumCPU())
		t.Fatalf("bridged %d of 40, failed %d, controller idle %v", rep.Bridged, rep.Failed, rep.ControllerActive0)
	}
	if rep.Reply.N == 0 || rep.ToOperator.N != 40 {
		t.Errorf("no latency measured: reply %v, to operator %v", rep.Reply, rep.ToOperator)
	}
}

// BenchmarkThousandConcurrentCalls is the IVR issue's speed target: 1,000 calls at once
// through the menu, the queue and a bridge with an operator, then all hang up. It
// reports the p99 from an ARI event arriving to the controller's REST answer, the heap
// per active call and the goroutines left.
//
//	go test -run XXX -bench ThousandConcurrentCalls -benchtime 1x ./ivr/sim/
func BenchmarkThousandConcurrentCalls(b *testing.B) {
	const calls = 1000
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		env, err := NewEnv(ctx, EnvOptions{
			// Real Asterisk seconds: an operator's phone rings up to 15 s, as configured.
			Settings: settings(), Operators: calls, AnswerAfter: 10 * time.Millisecond,
		})
		if err != nil {
			b.Fatal(err)
		}
		// Calls arrive at 100 a second and stay until all 1,000 talk at once.
		rep, err := Run(ctx, env.Driver(), Options{Calls: calls, Rate: 100, Keys: "1", HoldAll: true, Talk: 100 * time.Millisecond, Timeout: 5 * time.Minute}, nil)
		if err != nil {
			b.Fatal(err)
		}
		rep.Reply = Of(env.Replies.Take())
		env.Close()
		cancel()
		if rep.Bridged != calls {
			rep.Print(os.Stderr, runtime.NumCPU())
			b.Fatalf("bridged %d of %d", rep.Bridged, calls)
		}
		b.ReportMetric(float64(rep.Reply.P99.Microseconds())/1000, "p99-reply-ms")
		b.ReportMetric(float64(rep.Reply.P50.Microseconds())/1000, "p50-reply-ms")
		b.ReportMetric(float64(rep.HeapPerCall)/1024, "KB/call")
		b.ReportMetric(float64(rep.ControllerAfter-rep.ControllerBefore), "goroutines-left")
		b.ReportMetric(float64(rep.ToOperator.P99.Milliseconds()), "p99-to-operator-ms")
		if testing.Verbose() {
			rep.Print(os.Stderr, runtime.NumCPU())
		}
	}
}
