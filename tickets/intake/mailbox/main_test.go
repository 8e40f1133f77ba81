package mailbox

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/intake/mailbox/mailtest"
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

// fixture is a fresh database with the test city, a tickets store, and a mailbox user.
type fixture struct {
	ctx      context.Context
	url      string
	db       *gorm.DB
	store    *tickets.Store
	attDir   string
	box, pw  string
	mail     *mailtest.Server
	log      *slog.Logger
	category string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := servers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	f := &fixture{ctx: ctx, mail: s, url: dbtest.URL(t), attDir: filepath.Join(t.TempDir(), "attachments"), category: "ZX",
		log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	f.db = f.open(t)
	if err := database.Migrate(ctx, f.db, append(tickets.Migrations(), Migrations()...)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	f.store = f.newStore(f.db)
	b, err := os.ReadFile("testdata/city.yaml")
	if err != nil {
		t.Fatal(err)
	}
	city, err := tickets.ParseCity(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.LoadCity(ctx, city); err != nil {
		t.Fatalf("load city: %v", err)
	}
	f.box, f.pw = s.NewUser(t, "mayor")
	return f
}

func (f *fixture) open(t *testing.T) *gorm.DB {
	t.Helper()
	db, err := database.Open(f.ctx, f.url, nil)
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	t.Cleanup(func() { database.Close(db) })
	return db
}

func (f *fixture) newStore(db *gorm.DB) *tickets.Store {
	return tickets.NewStore(db, tickets.Options{AttachmentDir: f.attDir, Log: f.log})
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
