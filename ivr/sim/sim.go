// Package sim runs scripted telephone load: citizens who call a hotline, press keys, wait
// for an operator, talk and hang up, against a controller attached to the ARI emulator
// (ivr/aritest). `rexian sim` prints its report; the ivr benchmark uses it for the
// figures of the IVR issue (latency from an ARI event to the controller's answer, memory
// per active call, goroutines left after the calls).
package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rexian/rexian/ivr/aritest"
)

// Options describe the load.
type Options struct {
	Calls int     // how many calls in all
	Rate  float64 // new calls per second; 0 starts them all at once
	// Keys are pressed after the menu prompt starts ("1": complaint queue); empty waits
	// for the menu's fallback.
	Keys string
	// Talk is how long a caller stays once bridged to an operator; HoldAll keeps every
	// call up until all are bridged (to measure memory with every call active).
	Talk    time.Duration
	HoldAll bool
	// Timeout bounds one call from dial to its end.
	Timeout time.Duration
	// FirstNumber is the first caller's number; the others follow it.
	FirstNumber int64
	Dialled     string
}

// Driver is what the load runs against: the emulator and, when the controller runs in
// the same process, hooks into it.
type Driver struct {
	Server *aritest.Server
	// Active reports the calls the controller holds (nil: unknown, e.g. another process).
	Active func() int
}

// Report is what one run measured.
type Report struct {
	Calls      int
	Bridged    int // reached an operator
	Ended      int // ended by the script or the controller
	Failed     int // could not even be placed, or timed out
	Errors     []string
	Elapsed    time.Duration
	ToOperator Percentiles // dial → bridged with an operator
	Reply      Percentiles // ARI event → controller's REST answer (when measured)
	// HeapPerCall is the in-process heap growth per active call with every call up
	// (emulator and controller together: an upper bound for the controller alone).
	HeapPerCall      int64
	GoroutinesBefore int
	GoroutinesPeak   int
	GoroutinesAfter  int
	// Controller goroutines (stacks in package ivr, not the emulator's or this
	// package's) before the calls and once they all ended: equal when nothing leaked.
	ControllerBefore, ControllerAfter int
	Requests                          int
	ControllerActive0                 bool // the controller held no call at the end
}

// Percentiles of a sample.
type Percentiles struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// Of computes the percentiles of samples.
func Of(samples []time.Duration) Percentiles {
	if len(samples) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return Percentiles{N: len(s), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: s[len(s)-1]}
}

func (p Percentiles) String() string {
	if p.N == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s  (n=%d)", round(p.P50), round(p.P90), round(p.P99), round(p.Max), p.N)
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// Replies collects event→reply latencies from the controller (Options.ObserveReply).
type Replies struct {
	mu sync.Mutex
	d  []time.Duration
}

// Observe records one latency.
func (r *Replies) Observe(d time.Duration) {
	r.mu.Lock()
	r.d = append(r.d, d)
	r.mu.Unlock()
}

// Take returns and forgets the samples.
func (r *Replies) Take() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.d
	r.d = nil
	return out
}

// Run places the calls and waits for all of them to end.
func Run(ctx context.Context, d Driver, o Options, log *slog.Logger) (Report, error) {
	if o.Calls < 1 {
		return Report{}, errors.New("sim: calls must be at least 1")
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.FirstNumber == 0 {
		o.FirstNumber = 13900000000
	}
	if o.Dialled == "" {
		o.Dialled = "12345"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rep := Report{Calls: o.Calls, GoroutinesBefore: runtime.NumGoroutine(), ControllerBefore: ControllerGoroutines()}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	requests0 := d.Server.Requests()

	var (
		mu        sync.Mutex
		toOp      []time.Duration
		wg        sync.WaitGroup
		bridged   sync.WaitGroup // HoldAll: every call reaches an operator (or fails)
		release   = make(chan struct{})
		peakHeap  uint64
		peakGorou int
	)
	bridged.Add(o.Calls)
	fail := func(err error) {
		mu.Lock()
		rep.Failed++
		if len(rep.Errors) < 10 {
			rep.Errors = append(rep.Errors, err.Error())
		}
		mu.Unlock()
	}
	var tick <-chan time.Time
	if o.Rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / o.Rate))
		defer t.Stop()
		tick = t.C
	}
	for i := 0; i < o.Calls; i++ {
		if tick != nil && i > 0 {
			select {
			case <-tick:
			case <-ctx.Done():
				return rep, ctx.Err()
			}
		}
		number := fmt.Sprint(o.FirstNumber + int64(i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			once := sync.OnceFunc(bridged.Done)
			defer once()
			cctx, cancel := context.WithTimeout(ctx, o.Timeout)
			defer cancel()
			dialled := time.Now()
			c, err := d.Server.Dial(cctx, aritest.Caller{Number: number, Dialled: o.Dialled})
			if err != nil {
				fail(err)
				return
			}
			defer c.Hangup()
			if o.Keys != "" {
				if _, err := c.WaitPlayed(cctx, func(uri string) bool { return strings.Contains(uri, "menu") }); err != nil {
					fail(fmt.Errorf("%s: no menu: %w", number, err))
					return
				}
				c.Press(o.Keys)
			}
			// The controller bridges a caller only once an operator answered.
			for c.BridgeID() == "" {
				select {
				case <-c.Done():
					mu.Lock()
					rep.Ended++
					mu.Unlock()
					return
				case <-cctx.Done():
					fail(fmt.Errorf("%s: not bridged within %s (played %v)", number, o.Timeout, c.Played()))
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
			mu.Lock()
			rep.Bridged++
			toOp = append(toOp, time.Since(dialled))
			mu.Unlock()
			once()
			if o.HoldAll {
				select {
				case <-release:
				case <-cctx.Done():
				}
			}
			select {
			case <-time.After(o.Talk):
			case <-c.Done():
			case <-cctx.Done():
			}
			c.Hangup()
			select {
			case <-c.Done():
			case <-cctx.Done():
				fail(fmt.Errorf("%s: still up after hang-up", number))
			}
		}()
	}
	if o.HoldAll {
		bridged.Wait()
		var peak runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&peak)
		peakHeap = peak.HeapAlloc
		peakGorou = runtime.NumGoroutine()
		close(release)
	}
	wg.Wait()
	rep.Elapsed = time.Since(start)
	rep.ToOperator = Of(toOp)
	rep.Requests = d.Server.Requests() - requests0
	if peakHeap > before.HeapAlloc && rep.Bridged > 0 {
		rep.HeapPerCall = int64(peakHeap-before.HeapAlloc) / int64(rep.Bridged)
	}
	rep.GoroutinesPeak = peakGorou
	// Let the controller finish its clean-up, then count what is left.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if (d.Active == nil || d.Active() == 0) && len(d.Server.Channels()) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	rep.ControllerActive0 = d.Active == nil || d.Active() == 0
	for time.Now().Before(deadline) && ControllerGoroutines() > rep.ControllerBefore {
		time.Sleep(10 * time.Millisecond) // clean-up after the last hang-up is asynchronous
	}
	rep.GoroutinesAfter = runtime.NumGoroutine()
	rep.ControllerAfter = ControllerGoroutines()
	return rep, nil
}

// Print writes the report for people.
func (r Report) Print(w io.Writer, cores int) {
	fmt.Fprintf(w, "calls %d  bridged to an operator %d  ended early %d  failed %d  in %s (%d cores)\n",
		r.Calls, r.Bridged, r.Ended, r.Failed, r.Elapsed.Round(time.Millisecond), cores)
	fmt.Fprintf(w, "dial → operator:          %s\n", r.ToOperator)
	fmt.Fprintf(w, "ARI event → REST answer:  %s\n", r.Reply)
	if r.HeapPerCall > 0 {
		fmt.Fprintf(w, "heap per active call:     %.1f KB (emulator and controller together)\n", float64(r.HeapPerCall)/1024)
	}
	fmt.Fprintf(w, "goroutines in the process: before %d, with all calls up %d, after %d\n",
		r.GoroutinesBefore, r.GoroutinesPeak, r.GoroutinesAfter)
	fmt.Fprintf(w, "controller goroutines: before the calls %d, after %d; calls held at the end: %v\n",
		r.ControllerBefore, r.ControllerAfter, !r.ControllerActive0)
	fmt.Fprintf(w, "ARI requests served: %d\n", r.Requests)
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
}

// ControllerGoroutines counts the goroutines running the controller's code (package ivr),
// leaving out the emulator, this package and the HTTP keep-alive connections that both
// sides keep idle by design.
func ControllerGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "rexian/rexian/ivr.") && !strings.Contains(g, "rexian/ivr/sim.") {
			count++
		}
	}
	return count
}
