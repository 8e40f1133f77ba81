package kannel_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/sms/kannel"
	"github.com/rexian/rexian/sms/kannel/kanneltest"
	"github.com/rexian/rexian/tickets"
)

// The crash test: a survey batch (100,000 messages by default) sent through a real
// Kannel by a worker process that is SIGKILLed mid-way and started again; at the end the
// fake SMS centre must have received every message exactly once. It takes minutes, so it
// runs only when asked:
//
//	REXIAN_SMS_CRASH_TEST=1 go test ./sms/kannel -run TestOutboxCrash -v -timeout 60m
//
// REXIAN_SMS_CRASH_MESSAGES sets the batch size, REXIAN_TEST_DB=postgres the database.
// The worker is this test binary again, running TestOutboxCrashWorker.

const crashWorkerEnv = "REXIAN_SMS_CRASH_WORKER"

func TestOutboxCrash(t *testing.T) {
	if os.Getenv(crashWorkerEnv) == "1" {
		t.Skip("running as the crash test's worker")
	}
	if os.Getenv("REXIAN_SMS_CRASH_TEST") != "1" {
		t.Skip("takes minutes; run with REXIAN_SMS_CRASH_TEST=1")
	}
	n := 100000
	if s := os.Getenv("REXIAN_SMS_CRASH_MESSAGES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 10 {
			t.Fatalf("REXIAN_SMS_CRASH_MESSAGES=%q: want a number of at least 10", s)
		}
		n = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	defer cancel()

	// Kannel keeps retrying the reports the dead worker could not take, long enough to
	// cover the restart: they are what proves an interrupted submission went out.
	k := kanneltest.Start(t, kanneltest.Options{LogLevel: 3, CallbackRetries: 300})
	dbURL := dbtest.URL(t)
	db, err := database.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	if err := database.Migrate(ctx, db, crashMigrations()); err != nil {
		t.Fatal(err)
	}
	queue, err := sms.NewService(db, nil, tickets.NewStore(db, tickets.Options{}), sms.Options{QuietKinds: []sms.Kind{}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	text := "请对工单2026112600017的办理结果进行评价：回复1满意，2基本满意，3不满意。"
	for i := range n {
		_, _, err := queue.Enqueue(ctx, sms.NewMessage{
			Kind: sms.KindSurvey, To: crashRecipient(i), Text: text,
			IdempotencyKey: fmt.Sprintf("crash:%d", i), CreatedBy: "crash-test",
		})
		if err != nil {
			t.Fatalf("Enqueue %d: %v", i, err)
		}
	}
	t.Logf("queued %d surveys in %v", n, time.Since(start).Round(time.Millisecond))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	// worker starts the rexian side; done is closed when it has exited.
	worker := func(name string) (cmd *exec.Cmd, done chan struct{}) {
		out, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(os.Args[0], "-test.run=^TestOutboxCrashWorker$", "-test.count=1", "-test.v", "-test.timeout=0")
		cmd.Env = append(os.Environ(), crashWorkerEnv+"=1",
			"REXIAN_SMS_CRASH_DB="+dbURL, "REXIAN_SMS_CRASH_LISTEN="+addr,
			"REXIAN_SMS_CRASH_KANNEL_URL="+k.URL(), "REXIAN_SMS_CRASH_KANNEL_USER="+k.User(),
			"REXIAN_SMS_CRASH_KANNEL_PASSWORD="+k.Password())
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start worker: %v", err)
		}
		done = make(chan struct{})
		go func() {
			if err := cmd.Wait(); err != nil {
				t.Logf("%s worker: %v", name, err)
			}
			out.Close()
			close(done)
		}()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-done
		})
		t.Logf("%s worker started (pid %d); log %s", name, cmd.Process.Pid, out.Name())
		return cmd, done
	}

	sendStart := time.Now()
	first, firstDone := worker("first")
	killAt := n * 2 / 5
	for k.Count() < killAt {
		select {
		case <-firstDone:
			t.Fatal("first worker ended before the kill")
		case <-ctx.Done():
			t.Fatalf("fake SMS centre got %d of the %d before the kill: %v", k.Count(), killAt, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-firstDone
	atKill := k.Count()
	states := crashStates(ctx, t, db)
	t.Logf("SIGKILLed the first worker after %v: fake SMS centre had %d; outbox %v",
		time.Since(sendStart).Round(time.Millisecond), atKill, states)

	_, secondDone := worker("second")
	lastLog := time.Now()
	for {
		states := crashStates(ctx, t, db)
		if states[sms.StatusDelivered] == int64(n) {
			break
		}
		if time.Since(lastLog) > 10*time.Second {
			t.Logf("fake SMS centre %d; outbox %v", k.Count(), states)
			lastLog = time.Now()
		}
		select {
		case <-secondDone:
			t.Fatal("second worker ended before every message was delivered")
		case <-ctx.Done():
			t.Fatalf("not all delivered: outbox %v, fake SMS centre %d: %v", states, k.Count(), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	elapsed := time.Since(sendStart)
	// Every message is delivered, so nothing is left to send; give a stray duplicate
	// time to show before counting.
	settle := time.Now()
	last := k.Count()
	for time.Since(settle) < 3*time.Second {
		time.Sleep(100 * time.Millisecond)
		if c := k.Count(); c != last {
			last, settle = c, time.Now()
		}
	}

	seen := make(map[string]int, n)
	for _, m := range k.Received() {
		seen[m.To]++
	}
	missing, twice := 0, 0
	for i := range n {
		switch c := seen[crashRecipient(i)]; {
		case c == 0:
			missing++
		case c > 1:
			twice++
			if twice <= 10 {
				t.Errorf("%s received %d times", crashRecipient(i), c)
			}
		}
	}
	t.Logf("%d messages, killed at %d on the air, all delivered after %v (%.0f msgs/s overall, restart and reconcile included); fake SMS centre received %d, missing %d, more than once %d",
		n, atKill, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), len(k.Received()), missing, twice)
	if missing != 0 || twice != 0 || len(k.Received()) != n {
		t.Fatalf("want every message exactly once: received %d for %d messages, %d missing, %d more than once",
			len(k.Received()), n, missing, twice)
	}
}

func crashRecipient(i int) string { return fmt.Sprintf("139%08d", i) }

func crashMigrations() []*database.Migration {
	var all []*database.Migration
	all = append(all, auth.Migrations()...)
	all = append(all, tickets.Migrations()...)
	return append(all, sms.Migrations()...)
}

func crashStates(ctx context.Context, t *testing.T, db *gorm.DB) map[sms.Status]int64 {
	t.Helper()
	var rows []struct {
		Status sms.Status
		N      int64
	}
	if err := db.WithContext(ctx).Model(&sms.Message{}).Select("status, count(*) AS n").Group("status").Scan(&rows).Error; err != nil {
		t.Fatalf("count outbox states: %v", err)
	}
	out := map[sms.Status]int64{}
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out
}

// TestOutboxCrashWorker is the rexian side of the crash test, run as its own process:
// the outbox's sender and reconciler with the Kannel gateway, and the callbacks on a
// fixed address, until it is killed.
func TestOutboxCrashWorker(t *testing.T) {
	if os.Getenv(crashWorkerEnv) != "1" {
		t.Skip("the crash test's worker process; TestOutboxCrash starts it")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := database.Open(ctx, os.Getenv("REXIAN_SMS_CRASH_DB"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer database.Close(db)
	addr := os.Getenv("REXIAN_SMS_CRASH_LISTEN")
	g, err := kannel.New(kannel.Config{
		URL: os.Getenv("REXIAN_SMS_CRASH_KANNEL_URL"), User: os.Getenv("REXIAN_SMS_CRASH_KANNEL_USER"),
		Password: os.Getenv("REXIAN_SMS_CRASH_KANNEL_PASSWORD"), From: "12345",
		PublicURL: "http://" + addr, CallbackSecret: testSecret, MaxConns: 64,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	svc, err := sms.NewService(db, nil, tickets.NewStore(db, tickets.Options{Log: log}), sms.Options{
		Gateway: g, Log: log, QuietKinds: []sms.Kind{}, Concurrency: 64, BatchSize: 200, RatePerSecond: 1e6,
		// Short, so that the restarted worker settles the killed one's claims quickly.
		Lease: 5 * time.Second, ReconcileGrace: 5 * time.Second, PollInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	kannel.NewCallbacks(svc.Receiver(), testSecret, log).Routes(e)
	srv := &http.Server{Addr: addr, Handler: e, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 3)
	go func() {
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("callbacks: %w", err)
		}
	}()
	go func() { errc <- svc.RunSender(ctx) }()
	go func() { errc <- svc.RunReconciler(ctx, time.Second) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		t.Errorf("worker stopped: %v", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
}
