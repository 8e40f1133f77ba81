// Package ticketstest gives tests of the packages built on tickets a store over a fresh,
// migrated database (database/dbtest: SQLite, or PostgreSQL under REXIAN_TEST_DB=postgres)
// holding a small city, and a clock that moves only when told. It is imported only by
// tests.
//
// The tickets package's own tests cannot import it (it imports tickets); they load the
// same city from city.yaml in this directory.
package ticketstest

import (
	"cmp"
	"context"
	_ "embed"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/tickets"
)

// Timeout bounds the context of an Env: long enough for the slowest fixture on
// PostgreSQL, short enough that a test stuck on the database fails with its own message
// before go test's deadline ends the whole run.
const Timeout = 5 * time.Minute

//go:embed city.yaml
var cityYAML []byte

// City returns the small city most tests load: departments HEAT and HRSS; district DS
// with a bureau (DS-ZJ) and a township (DS-JT) with a village (DS-JT-01); district KBS
// with neither; categories ZX (ZX-SB) and TS (TS-GN, sent to HEAT, and TS-WY). Each call
// returns a new value, so a test may change its copy.
func City() *tickets.City {
	c, err := tickets.ParseCity(cityYAML)
	if err != nil {
		panic(err) // embedded at build time; every test that loads it would fail
	}
	return c
}

// ParseCity parses a test's own city, for tests that name departments or categories the
// small city does not have, and fails the test if it does not parse.
func ParseCity(t testing.TB, yaml string) *tickets.City {
	t.Helper()
	c, err := tickets.ParseCity([]byte(yaml))
	if err != nil {
		t.Fatalf("parse test city: %v", err)
	}
	return c
}

// Options say what an Env is made of. The zero value is a store over a database with the
// tickets schema, holding City, on the real clock.
type Options struct {
	// City is loaded into the database; nil loads City().
	City *tickets.City
	// Migrations are the other schemas the test needs (auth, the package's own). They
	// are applied with the tickets schema in ID order: IDs sort by date, so a schema that
	// refers to tickets tables comes after them.
	Migrations []*database.Migration
	// Store configures the store. An empty AttachmentDir is a directory of the test's,
	// removed when it ends.
	Store tickets.Options
	// Audit gives the store a security audit log on the same database (Env.Audit), which
	// records every view of citizens' unmasked data.
	Audit bool
}

// Env is a tickets store over a fresh database, and what a test needs around it.
type Env struct {
	// Ctx ends with the test, or after Timeout.
	Ctx context.Context
	// DB is the migrated database, closed when the test ends.
	DB *gorm.DB
	// URL is the database's, for a second connection (dbtest.OpenURL).
	URL string
	// Store holds the city.
	Store *tickets.Store
	// Audit is the store's audit log when Options.Audit asked for one.
	Audit *audit.Log

	opts tickets.Options
}

// New returns an Env for t: a fresh database with the tickets schema and o.Migrations,
// a store configured by o.Store, and o.City loaded.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	t.Cleanup(cancel)
	steps := append(tickets.Migrations(), o.Migrations...)
	if o.Audit {
		steps = append(steps, audit.Migrations()...)
	}
	slices.SortStableFunc(steps, func(a, b *database.Migration) int { return cmp.Compare(a.ID, b.ID) })
	u := dbtest.URL(t)
	db := dbtest.OpenURL(t, u, steps)
	if o.Store.AttachmentDir == "" {
		o.Store.AttachmentDir = filepath.Join(t.TempDir(), "attachments")
	}
	var al *audit.Log
	if o.Audit {
		al = audit.New(db, audit.Options{Now: o.Store.Now,
			ActorOf: func(ctx context.Context) string { return auth.FromContext(ctx).Actor() }})
		o.Store.Audit = al
	}
	e := &Env{Ctx: ctx, DB: db, URL: u, Store: tickets.NewStore(db, o.Store), Audit: al, opts: o.Store}
	city := o.City
	if city == nil {
		city = City()
	}
	if err := e.Store.LoadCity(ctx, city); err != nil {
		t.Fatalf("load test city: %v", err)
	}
	return e
}

// NewStore returns a store configured as Store is, over db: a second connection to the
// same database, as another process would have, or one the test closes to stand for an
// outage.
func (e *Env) NewStore(db *gorm.DB) *tickets.Store { return tickets.NewStore(db, e.opts) }

// Clock is a test clock that moves only when told, so that deadlines, quiet hours and
// retries are tested without sleeping. Its zero value stands at the zero time.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time; pass the method value where an Options wants a Now.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
