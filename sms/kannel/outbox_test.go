package kannel_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/sms/kannel"
	"github.com/rexian/rexian/sms/kannel/kanneltest"
	"github.com/rexian/rexian/tickets"
)

// outboxRig is the outbox (sms.Service with its sender running) wired to a real Kannel
// through the Gateway and the callbacks, the way cmd/rexian wires them.
type outboxRig struct {
	svc    *sms.Service
	kannel *kanneltest.Kannel
	db     *gorm.DB
	start  func() // starts the sender; stopped when the test ends
}

// newOutboxRig builds the rig; the sender runs once start is called (newOutboxRig's
// callers that do not measure call it at once).
func newOutboxRig(t testing.TB, opts sms.Options, kopts kanneltest.Options) *outboxRig {
	return newOutboxRigReports(t, opts, kopts, true)
}

// newOutboxRigReports is newOutboxRig with the choice to drop delivery reports and
// inbound messages at the callback instead of giving them to the outbox (to measure the
// sender alone).
func newOutboxRigReports(t testing.TB, opts sms.Options, kopts kanneltest.Options, reports bool) *outboxRig {
	t.Helper()
	if err := kanneltest.Installed(); err != nil {
		kanneltest.Start(t, kanneltest.Options{}) // skips or fails with the reason
	}
	db := dbtest.Open(t, auth.Migrations(), tickets.Migrations(), sms.Migrations())
	log := slog.New(slog.DiscardHandler)

	// The callbacks need the outbox, the outbox needs the gateway, and the gateway needs
	// the callbacks' URL: take the port first, serve later.
	srv := httptest.NewUnstartedServer(nil)
	publicURL := "http://" + srv.Listener.Addr().String()
	kopts.MOURL = publicURL + kannel.MOPath + "?secret=" + url.QueryEscape(testSecret)
	kopts.MORecode = true
	k := kanneltest.Start(t, kopts)
	g, err := kannel.New(kannel.Config{
		URL: k.URL(), User: k.User(), Password: k.Password(), From: "12345",
		PublicURL: publicURL, CallbackSecret: testSecret, MaxConns: max(opts.Concurrency, 64),
	}, log)
	if err != nil {
		t.Fatalf("kannel.New: %v", err)
	}
	t.Cleanup(g.Close)
	opts.Gateway, opts.Log = g, log
	// Surveys would wait for the morning outside working hours; this test is about the
	// gateway, not the clock.
	opts.QuietKinds = []sms.Kind{}
	if opts.PollInterval == 0 {
		opts.PollInterval = 50 * time.Millisecond
	}
	if opts.RatePerSecond == 0 {
		opts.RatePerSecond = 1000
	}
	svc, err := sms.NewService(db, nil, tickets.NewStore(db, tickets.Options{Log: log}), opts)
	if err != nil {
		t.Fatalf("sms.NewService: %v", err)
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	var receiver sms.Receiver = discardReceiver{}
	if reports {
		receiver = svc.Receiver()
	}
	kannel.NewCallbacks(receiver, testSecret, log).Routes(e)
	srv.Config.Handler = e
	srv.Start()
	t.Cleanup(srv.Close)

	start := func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- svc.RunSender(ctx) }()
		t.Cleanup(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("RunSender: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("RunSender did not stop within 30 s of cancel")
			}
		})
	}
	return &outboxRig{svc: svc, kannel: k, db: db, start: start}
}

// waitStatus polls the outbox until message id has status want.
func (r *outboxRig) waitStatus(ctx context.Context, t *testing.T, id uint64, want sms.Status) sms.MessageView {
	t.Helper()
	for {
		v, err := r.svc.Message(ctx, id, false)
		if err != nil {
			t.Fatalf("Message(%d): %v", id, err)
		}
		if v.Status == want {
			return v
		}
		select {
		case <-ctx.Done():
			t.Fatalf("message %d is %s (%s), want %s: %v", id, v.Status, v.Error, want, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestOutboxThroughKannel(t *testing.T) {
	r := newOutboxRig(t, sms.Options{}, kanneltest.Options{})
	r.start()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// A three-part survey: enqueue → sender → Kannel → fake SMS centre → reports →
	// delivered only once every part is.
	msg, created, err := r.svc.Enqueue(ctx, sms.NewMessage{
		Kind: sms.KindSurvey, To: "13800138000", Text: longChinese, IdempotencyKey: "survey:e2e:1", CreatedBy: "test",
	})
	if err != nil || !created {
		t.Fatalf("Enqueue: created %v, err %v", created, err)
	}
	if msg.PartCount != 3 {
		t.Fatalf("the long survey has %d parts, want 3", msg.PartCount)
	}
	v := r.waitStatus(ctx, t, msg.ID, sms.StatusDelivered)
	for _, p := range v.Parts {
		if p.Status != sms.PartDelivered {
			t.Errorf("message delivered with part %d %s", p.Seq, p.Status)
		}
	}
	got, err := r.kannel.WaitReceived(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("fake SMS centre got %d messages, want 3", len(got))
	}
	sort.Slice(got, func(i, j int) bool {
		_, _, a, _ := got[i].Concat()
		_, _, b, _ := got[j].Concat()
		return a < b
	})
	var whole strings.Builder
	for i, m := range got {
		ref, count, seq, ok := m.Concat()
		if !ok || count != 3 || seq != i+1 || ref != int(msg.ID%256) || m.To != "13800138000" {
			t.Errorf("part %d: UDH % x (ref %d count %d seq %d), to %s", i+1, m.UDH, ref, count, seq, m.To)
		}
		whole.WriteString(m.Text)
	}
	if whole.String() != msg.Text {
		t.Errorf("the phone reassembles %q, want %q", whole.String(), msg.Text)
	}

	// The citizen answers 退订: the number is suppressed for surveys, the next survey is
	// stored as suppressed and never sent, and the confirmation goes out.
	if err := r.kannel.Inject(ctx, "13800138000", "12345", "退订", true); err != nil {
		t.Fatal(err)
	}
	for {
		ok, err := r.svc.Suppressed(ctx, "13800138000")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("13800138000 not suppressed after 退订: %v", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	second, _, err := r.svc.Enqueue(ctx, sms.NewMessage{
		Kind: sms.KindSurvey, To: "13800138000", Text: "请对工单2026112600018评价：回复1满意。", IdempotencyKey: "survey:e2e:2", CreatedBy: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	if second.Status != sms.StatusSuppressed {
		t.Errorf("survey after 退订 is %s, want suppressed", second.Status)
	}
	// The opt-out confirmation (a reply, which opt-out does not stop) reaches the phone.
	got, err = r.kannel.WaitReceived(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range got[3:] {
		if strings.Contains(m.Text, "2026112600018") {
			t.Errorf("the suppressed survey reached the phone: %q", m.Text)
		}
	}
	if !strings.Contains(got[3].Text, "退订") {
		t.Errorf("fourth message on the air is %q, want the opt-out confirmation", got[3].Text)
	}
}

// TestOutboxWrongPassword checks the outbox's view of smsbox answers through the real
// driver: a wrong password fails the message with Kannel's words, without retrying.
func TestOutboxWrongPassword(t *testing.T) {
	if err := kanneltest.Installed(); err != nil {
		kanneltest.Start(t, kanneltest.Options{})
	}
	db := dbtest.Open(t, auth.Migrations(), tickets.Migrations(), sms.Migrations())
	k := kanneltest.Start(t, kanneltest.Options{})
	g, err := kannel.New(kannel.Config{
		URL: k.URL(), User: k.User(), Password: "wrong", PublicURL: "http://127.0.0.1:1", CallbackSecret: testSecret,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	svc, err := sms.NewService(db, nil, tickets.NewStore(db, tickets.Options{}), sms.Options{
		Gateway: g, QuietKinds: []sms.Kind{}, RatePerSecond: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msg, _, err := svc.Enqueue(ctx, sms.NewMessage{Kind: sms.KindFreeText, To: "13800138000", Text: "您好", CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SendOnce(ctx); err != nil {
		t.Fatalf("SendOnce: %v", err)
	}
	v, err := svc.Message(ctx, msg.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != sms.StatusFailed || !strings.Contains(v.Error, "Authorization failed") || v.Attempts != 1 {
		t.Errorf("message is %s after %d attempts (%q), want failed once with Kannel's words", v.Status, v.Attempts, v.Error)
	}
	if n := k.Count(); n != 0 {
		t.Errorf("fake SMS centre got %d messages", n)
	}
}
