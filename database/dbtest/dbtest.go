// Package dbtest gives each test a fresh, migrated database of the kind the test run asks
// for: REXIAN_TEST_DB=sqlite (the default) or REXIAN_TEST_DB=postgres, the latter at
// REXIAN_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test). Each
// PostgreSQL test gets its own schema, dropped when the test ends.
//
// When the service is unreachable the test is skipped with a message saying how to start
// it, unless REXIAN_TEST_REQUIRE_SERVICES=1 (the full test command sets it), which makes it
// fail instead.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/database"
)

// DefaultPostgresURL is where the tests look for PostgreSQL unless told otherwise.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Kind is the database kind this test run uses.
func Kind() database.Dialect {
	if os.Getenv("REXIAN_TEST_DB") == "postgres" {
		return database.Postgres
	}
	return database.SQLite
}

// Required reports whether missing services fail tests instead of skipping them.
func Required() bool { return os.Getenv("REXIAN_TEST_REQUIRE_SERVICES") == "1" }

// Unavailable skips or fails t, as the run asks, for a service that cannot be reached.
func Unavailable(t testing.TB, service, howToStart string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s unreachable (%v); start it with: %s", service, err, howToStart)
	if Required() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// PostgresURL is the server URL the tests use.
func PostgresURL() string {
	if u := os.Getenv("REXIAN_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// URL creates an empty database for t and returns its URL; it is removed when t ends.
func URL(t testing.TB) string {
	t.Helper()
	if Kind() == database.SQLite {
		return "sqlite://" + filepath.Join(t.TempDir(), "test.db")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin, err := database.Open(ctx, PostgresURL(), nil)
	if err != nil {
		Unavailable(t, "PostgreSQL", "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start (or scripts/test, which starts one)", err)
	}
	defer database.Close(admin)
	schema := "t_" + randomHex(8)
	if err := admin.WithContext(ctx).Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if os.Getenv("REXIAN_TEST_KEEP_DB") == "1" {
			// Kept for a look at the data and the query plans after a long run.
			t.Logf("kept PostgreSQL schema %s (REXIAN_TEST_KEEP_DB=1); drop it with DROP SCHEMA %s CASCADE", schema, schema)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := database.Open(ctx, PostgresURL(), nil)
		if err != nil {
			t.Logf("drop schema %s: %v", schema, err)
			return
		}
		defer database.Close(admin)
		if err := admin.WithContext(ctx).Exec("DROP SCHEMA " + schema + " CASCADE").Error; err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatalf("REXIAN_TEST_POSTGRES_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open returns a fresh database for t with the given migrations applied.
func Open(t testing.TB, migrations ...[]*database.Migration) *gorm.DB {
	t.Helper()
	return OpenURL(t, URL(t), migrations...)
}

// OpenURL connects to a database that URL made, applies the given migrations and closes
// the connection when t ends. Called again on the same dbURL, it is a second connection, as
// another process would have: one a test may close to stand for an outage.
func OpenURL(t testing.TB, dbURL string, migrations ...[]*database.Migration) *gorm.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := database.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { database.Close(db) })
	var all []*database.Migration
	for _, m := range migrations {
		all = append(all, m...)
	}
	if err := database.Migrate(ctx, db, all); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return db
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
