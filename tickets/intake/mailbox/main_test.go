package mailbox

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/intake/mailbox/mailtest"
	"github.com/rexian/rexian/tickets/ticketstest"
)

// services is the Dovecot and Exim pair of this test package, started once in TestMain;
// servicesErr says why it could not start.
var (
	services    *mailtest.Server
	servicesErr error
)

func TestMain(m *testing.M) {
	services, servicesErr = mailtest.Start(mailtest.Options{})
	code := m.Run()
	if services != nil {
		services.Close()
	}
	os.Exit(code)
}

// servers returns the package's mail servers, or skips (fails under
// REXIAN_TEST_REQUIRE_SERVICES=1) when they could not start.
func servers(t *testing.T) *mailtest.Server {
	t.Helper()
	if services == nil {
		dbtest.Unavailable(t, "Dovecot and Exim", mailtest.HowToStart, servicesErr)
	}
	return services
}

// fixture is a fresh database with ticketstest.City, a tickets store, and a mailbox user.
type fixture struct {
	env      *ticketstest.Env
	ctx      context.Context
	db       *gorm.DB
	store    *tickets.Store
	box, pw  string
	mail     *mailtest.Server
	log      *slog.Logger
	category string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := servers(t)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	env := ticketstest.New(t, ticketstest.Options{Migrations: Migrations(), Store: tickets.Options{Log: log}})
	f := &fixture{env: env, ctx: env.Ctx, db: env.DB, store: env.Store, mail: s, log: log, category: "ZX"}
	f.box, f.pw = s.NewUser(t, "mayor")
	return f
}

type readerOption func(*ReaderOptions)

func (f *fixture) reader(t *testing.T, store *tickets.Store, mods ...readerOption) *Reader {
	t.Helper()
	e, err := ParseIMAPURL(fmt.Sprintf("imap://%s:%s@%s/INBOX", f.box, f.pw, f.mail.IMAPAddr))
	if err != nil {
		t.Fatal(err)
	}
	opts := ReaderOptions{Endpoint: e, TLS: f.mail.TLS, PollInterval: 100 * time.Millisecond, Log: f.log}
	for _, m := range mods {
		m(&opts)
	}
	return NewReader(NewIntake(store, IntakeOptions{Category: f.category, Log: f.log}), opts)
}

func (f *fixture) append(t *testing.T, raw []byte) {
	t.Helper()
	f.mail.Append(t, f.box, f.pw, "INBOX", raw)
}

// ticketOf returns the ticket registered for a Message-ID, or nil.
func (f *fixture) ticketOf(t *testing.T, ref string) *tickets.View {
	t.Helper()
	var numbers []string
	if err := f.db.WithContext(f.ctx).Model(&tickets.Ticket{}).Where("external_ref = ?", ref).Order("id").Pluck("number", &numbers).Error; err != nil {
		t.Fatal(err)
	}
	if len(numbers) > 1 {
		t.Fatalf("letter %s made %d tickets: %v", ref, len(numbers), numbers)
	}
	if len(numbers) == 0 {
		return nil
	}
	v, err := f.store.Find(f.ctx, Actor, numbers[0])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// testWriter sends the log to the test's output, so a failing test shows what happened.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}
