package kannel_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/sms/kannel"
	"github.com/rexian/rexian/sms/kannel/kanneltest"
)

// BenchmarkKannelSendsms measures sendsms through a real Kannel with the fake SMS centre:
// a plain HTTP client sending the very same requests as the Gateway (the ceiling), then
// the Gateway. Each reports msgs/s accepted by smsbox and air-msgs/s (until the fake SMS
// centre has them all). Run a fixed count, e.g.
//
//	go test ./sms/kannel -run XXX -bench KannelSendsms -benchtime 5000x
func BenchmarkKannelSendsms(b *testing.B) {
	for _, conc := range []int{16, 64} {
		b.Run(fmt.Sprintf("concurrency-%d", conc), func(b *testing.B) {
			benchSendsms(b, conc)
		})
	}
}

func benchSendsms(b *testing.B, concurrency int) {
	// One Kannel for both runs, quiet logs; callbacks answered by a receiver that keeps
	// nothing, so the reports cost Kannel what they cost in production.
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	kannel.NewCallbacks(discardReceiver{}, testSecret, nil).Routes(e)
	srv := httptest.NewServer(e)
	b.Cleanup(srv.Close)
	k := kanneltest.Start(b, kanneltest.Options{LogLevel: 3})
	g, err := kannel.New(kannel.Config{
		URL: k.URL(), User: k.User(), Password: k.Password(), From: "12345",
		PublicURL: srv.URL, CallbackSecret: testSecret, MaxConns: concurrency,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(g.Close)

	text := "【12345市民热线】您好，请对工单2026112600017的办理结果评价：回复1满意，2基本满意，3不满意。"
	part := func(i int) sms.Part {
		return sms.Part{MessageID: uint64(i + 1), PartID: uint64(i + 1), To: fmt.Sprintf("139%08d", i), Coding: sms.CodingUCS2, Text: text, Seq: 1, Count: 1}
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency}}
	b.Cleanup(client.CloseIdleConnections)
	plain := func(ctx context.Context, i int) error {
		p := part(i)
		q := url.Values{
			"username": {k.User()}, "password": {k.Password()}, "from": {"12345"}, "to": {p.To},
			"text": {p.Text}, "charset": {"UTF-8"}, "coding": {"2"}, "dlr-mask": {"31"},
		}
		// The same report URL the Gateway sends, signature included.
		dlr := fmt.Sprintf("%s%s?msg=%d&part=%d&sig=%s&type=%%d&smsc=%%i&reply=%%A&ts=%%t&fid=%%F",
			srv.URL, kannel.DLRPath, p.MessageID, p.PartID, kannel.Sign([]byte(testSecret), p.MessageID, p.PartID))
		q.Set("dlr-url", dlr)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.SendsmsURL()+"?"+q.Encode(), nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("sendsms answered %d", resp.StatusCode)
		}
		return nil
	}
	viaGateway := func(ctx context.Context, i int) error {
		_, err := g.Submit(ctx, part(i))
		return err
	}

	for _, run := range []struct {
		name string
		send func(context.Context, int) error
	}{{"plain-client", plain}, {"gateway", viaGateway}} {
		b.Run(run.name, func(b *testing.B) {
			before := k.Count()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			var next atomic.Int64
			var failed atomic.Int64
			var firstErr atomic.Value
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range concurrency {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						if err := run.send(ctx, i); err != nil {
							failed.Add(1)
							firstErr.CompareAndSwap(nil, err)
						}
					}
				}()
			}
			wg.Wait()
			accepted := time.Since(start)
			if _, err := k.WaitReceived(ctx, before+b.N); err != nil {
				b.Fatalf("fake SMS centre: %v", err)
			}
			onAir := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d of %d submissions failed, first: %v", n, b.N, firstErr.Load())
			}
			b.ReportMetric(float64(b.N)/accepted.Seconds(), "msgs/s")
			b.ReportMetric(float64(b.N)/onAir.Seconds(), "air-msgs/s")
		})
	}
}

// discardReceiver acknowledges every callback and keeps nothing.
type discardReceiver struct{}

func (discardReceiver) Report(context.Context, sms.Report) error   { return nil }
func (discardReceiver) Receive(context.Context, sms.Inbound) error { return nil }

// BenchmarkOutboxThroughKannel measures the outbox's sender (claim with a lease, submit
// through the Gateway, record in batches) into a real Kannel: b.N one-part surveys are
// queued first, then the sender runs. msgs/s counts until every message is recorded as
// submitted (or already delivered), air-msgs/s until the fake SMS centre has them all.
//
//	go test ./sms/kannel -run XXX -bench OutboxThroughKannel -benchtime 5000x
//
// "reports-to-outbox" is the whole loop: every message's two delivery reports are
// written to the outbox while it sends. "reports-dropped" answers the reports without
// storing them, which leaves the sender alone on the database.
func BenchmarkOutboxThroughKannel(b *testing.B) {
	b.Run("reports-to-outbox", func(b *testing.B) { benchOutbox(b, true) })
	b.Run("reports-dropped", func(b *testing.B) { benchOutbox(b, false) })
}

func benchOutbox(b *testing.B, reports bool) {
	r := newOutboxRigReports(b, sms.Options{Concurrency: 64, BatchSize: 200, RatePerSecond: 1e6}, kanneltest.Options{LogLevel: 3}, reports)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	text := "请对工单2026112600017的办理结果评价：回复1满意，2基本满意，3不满意。"
	for i := range b.N {
		_, _, err := r.svc.Enqueue(ctx, sms.NewMessage{
			Kind: sms.KindSurvey, To: fmt.Sprintf("139%08d", i), Text: text,
			IdempotencyKey: fmt.Sprintf("bench:%d", i), CreatedBy: "bench",
		})
		if err != nil {
			b.Fatalf("Enqueue %d: %v", i, err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	r.start()
	for {
		var n int64
		err := r.db.WithContext(ctx).Model(&sms.Message{}).
			Where("status IN ?", []sms.Status{sms.StatusSubmitted, sms.StatusDelivered}).Count(&n).Error
		if err != nil {
			b.Fatal(err)
		}
		if n >= int64(b.N) {
			break
		}
		select {
		case <-ctx.Done():
			b.Fatalf("%d of %d messages submitted: %v", n, b.N, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	submitted := time.Since(start)
	if _, err := r.kannel.WaitReceived(ctx, b.N); err != nil {
		b.Fatal(err)
	}
	onAir := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/submitted.Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N)/onAir.Seconds(), "air-msgs/s")
}
