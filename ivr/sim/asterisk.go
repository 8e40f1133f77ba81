package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Load through a real Asterisk. The citizens are Local channels originated over ARI into
// the hotline's dialplan, as the recorded timing scenario did: the ;2 leg runs the
// inbound context (and enters Stasis(hotline,…) like a real call), the ;1 leg runs a
// scripted caller context (press keys, wait, hang up). What happens inside rexian is in
// its call records (GET /api/v1/ivr/stats); this side measures what a caller sees: how
// long the originate took and how long each call lasted.

// AsteriskOptions describe the load on a real Asterisk.
type AsteriskOptions struct {
	URL, User, Password string // ARI, e.g. http://127.0.0.1:8088
	// Endpoint is the dial string of one citizen, {n} replaced by the caller's number,
	// e.g. Local/{n}@hotline-in (the inbound context sets the dialled number).
	Endpoint string
	// Context and Extension are where the caller's side runs: a scripted caller such as
	// [sim-caller] in the deployment's dialplan (keys, waits, hang-up).
	Context, Extension string
	Calls              int
	Rate               float64
	FirstNumber        int64
	Timeout            time.Duration
}

// AsteriskReport is what a run through a real Asterisk measured.
type AsteriskReport struct {
	Calls, Placed, Failed int
	Originate             Percentiles // POST /channels round trip
	Duration              Percentiles // originate → the caller's channel is gone
	Errors                []string
}

// RunAsterisk originates the calls and waits until each caller channel is gone.
func RunAsterisk(ctx context.Context, o AsteriskOptions) (AsteriskReport, error) {
	if o.Calls < 1 || o.Endpoint == "" || o.Context == "" {
		return AsteriskReport{}, fmt.Errorf("sim: calls, endpoint and context are required")
	}
	if o.Extension == "" {
		o.Extension = "s"
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.FirstNumber == 0 {
		o.FirstNumber = 13900000000
	}
	base := strings.TrimRight(o.URL, "/")
	if !strings.HasSuffix(base, "/ari") {
		base += "/ari"
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	do := func(ctx context.Context, method, path string, q url.Values, out any) (int, error) {
		req, err := http.NewRequestWithContext(ctx, method, base+path+"?"+q.Encode(), nil)
		if err != nil {
			return 0, err
		}
		req.SetBasicAuth(o.User, o.Password)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if out != nil && resp.StatusCode/100 == 2 {
			_ = json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode, nil
	}
	rep := AsteriskReport{Calls: o.Calls}
	var (
		mu       sync.Mutex
		orig     []time.Duration
		lasted   []time.Duration
		wg       sync.WaitGroup
		interval time.Duration
	)
	if o.Rate > 0 {
		interval = time.Duration(float64(time.Second) / o.Rate)
	}
	fail := func(err error) {
		mu.Lock()
		rep.Failed++
		if len(rep.Errors) < 10 {
			rep.Errors = append(rep.Errors, err.Error())
		}
		mu.Unlock()
	}
	for i := 0; i < o.Calls; i++ {
		if i > 0 && interval > 0 {
			select {
			case <-time.After(interval):
			case <-ctx.Done():
				return rep, ctx.Err()
			}
		}
		n := fmt.Sprint(o.FirstNumber + int64(i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, o.Timeout)
			defer cancel()
			start := time.Now()
			var ch struct{ ID string }
			code, err := do(cctx, http.MethodPost, "/channels", url.Values{
				"endpoint": {strings.ReplaceAll(o.Endpoint, "{n}", n)}, "context": {o.Context},
				"extension": {o.Extension}, "priority": {"1"}, "timeout": {"30"}, "callerId": {n},
			}, &ch)
			if err != nil || code != http.StatusOK || ch.ID == "" {
				fail(fmt.Errorf("%s: originate: status %d %v", n, code, err))
				return
			}
			mu.Lock()
			rep.Placed++
			orig = append(orig, time.Since(start))
			mu.Unlock()
			for {
				select {
				case <-cctx.Done():
					fail(fmt.Errorf("%s: still up after %s", n, o.Timeout))
					return
				case <-time.After(250 * time.Millisecond):
				}
				code, err := do(cctx, http.MethodGet, "/channels/"+url.PathEscape(ch.ID), nil, nil)
				if err == nil && code == http.StatusNotFound {
					mu.Lock()
					lasted = append(lasted, time.Since(start))
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	rep.Originate, rep.Duration = Of(orig), Of(lasted)
	return rep, nil
}
