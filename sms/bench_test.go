package sms

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkSend measures claim + submit + record from the outbox into an in-process
// gateway that accepts at once: the outbox's own cost per message.
func BenchmarkSend(b *testing.B) {
	f := newFixture(b, func(o *Options) {
		o.Now, o.QuietKinds, o.Concurrency, o.BatchSize, o.PollInterval = nil, []Kind{}, 32, 200, 5*time.Millisecond
	})
	text := "您反映的问题（工单号2600000014）已办结，请对办理结果评价：回复1满意 2基本满意 3不满意。" // one part with the signature
	for i := range b.N {
		f.enqueue(b, NewMessage{Kind: KindFreeText, To: fmt.Sprintf("139%08d", i%1e8), Text: text})
	}
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Minute)
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	done := make(chan error)
	go func() { done <- f.svc.RunSender(ctx) }()
	for {
		var left int64
		if err := f.db.Model(&Message{}).Where("status <> ?", StatusSubmitted).Count(&left).Error; err != nil {
			b.Fatal(err)
		}
		if left == 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	<-done
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}

// BenchmarkReport measures recording a final delivery report (part update and message
// settling), the outbox's cost per delivery-report callback.
func BenchmarkReport(b *testing.B) {
	f := newFixture(b, func(o *Options) { o.QuietKinds = []Kind{}; o.BatchSize = 200 })
	for i := range b.N {
		f.enqueue(b, NewMessage{Kind: KindFreeText, To: fmt.Sprintf("139%08d", i%1e8), Text: "您的工单已办结。"})
	}
	f.sendAll(b)
	var parts []MessagePart
	if err := f.db.Order("id").Find(&parts).Error; err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for _, p := range parts[:b.N] {
		if err := f.svc.Report(f.ctx, Report{MessageID: p.MessageID, PartID: p.ID, State: DeliveryDelivered}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var left int64
	f.db.Model(&Message{}).Where("status <> ?", StatusDelivered).Count(&left)
	if left != 0 {
		b.Fatalf("%d messages not delivered", left)
	}
}
