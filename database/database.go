// Package database opens the relational store rexian keeps its durable state in —
// PostgreSQL in production, a SQLite file as the embedded default — and applies the
// versioned migrations that each domain package owns.
//
// Domain packages never see a driver: they get a *gorm.DB and ask Dialect when a query
// must differ (SKIP LOCKED exists only on PostgreSQL).
package database

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// Dialect names the SQL dialect behind a *gorm.DB.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// DialectOf reports which dialect db speaks.
func DialectOf(db *gorm.DB) Dialect {
	if db.Dialector.Name() == "postgres" {
		return Postgres
	}
	return SQLite
}

// DefaultURL is the embedded default: a SQLite file in the data directory.
func DefaultURL(dataDir string) string {
	return "sqlite://" + filepath.Join(dataDir, "rexian.db")
}

// Open connects to the database at rawURL: postgres://… (or postgresql://…) or
// sqlite://PATH (sqlite::memory: for a throw-away database). It checks the connection before
// returning.
func Open(ctx context.Context, rawURL string, log *slog.Logger, opts ...Option) (*gorm.DB, error) {
	o := options{slowQuery: DefaultSlowQuery}
	for _, opt := range opts {
		opt(&o)
	}
	cfg := &gorm.Config{
		Logger:         newLogger(log, o),
		NowFunc:        func() time.Time { return time.Now().UTC() },
		TranslateError: true,
	}
	var (
		db  *gorm.DB
		err error
	)
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		cfg.SkipDefaultTransaction = true // our writes choose their own transactions
		db, err = gorm.Open(postgres.Open(sessionDefaults(rawURL)), cfg)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		sqlDB, _ := db.DB()
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(10)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	case strings.HasPrefix(rawURL, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "//")
		dsn, err := sqliteDSN(path)
		if err != nil {
			return nil, err
		}
		db, err = gorm.Open(sqlite.Open(dsn), cfg)
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		// SQLite allows one writer at a time; a single connection serialises writes
		// without SQLITE_BUSY surprises and is ample for a city's hotline on one node.
		sqlDB, _ := db.DB()
		sqlDB.SetMaxOpenConns(1)
	default:
		return nil, fmt.Errorf("database url %q: want postgres://… or sqlite://PATH", redact(rawURL))
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("database handle: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to database %s: %w", redact(rawURL), err)
	}
	return db, nil
}

// sessionDefaults sets what our sessions need from PostgreSQL, unless the URL sets it
// itself:
//   - jit=off: our queries are short and prepared; their generic plans' estimates easily
//     pass jit_above_cost, and compiling then costs 40–150 ms on a query that runs in 10
//     (measured on the dashboards' figures over a million tickets).
//   - max_parallel_workers_per_gather=0: a console query does its work in a few
//     milliseconds, but a parallel plan first starts worker processes, which took about
//     80 ms on a busy 2-core server and put seven pages over 100 ms at a million tickets
//     (searches for a short word, the rates panel); serially the slowest was 67 ms.
//     A deployment with cores to spare for long reports can set it in the URL.
func sessionDefaults(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL // the driver reports it
	}
	q := u.Query()
	changed := false
	for _, kv := range [][2]string{{"jit", "off"}, {"max_parallel_workers_per_gather", "0"}} {
		if !q.Has(kv[0]) {
			q.Set(kv[0], kv[1])
			changed = true
		}
	}
	if !changed {
		return rawURL
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func sqliteDSN(path string) (string, error) {
	pragmas := "_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	if path == ":memory:" || path == "" {
		return "file::memory:?" + pragmas, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return "", fmt.Errorf("create database folder: %w", err)
	}
	return "file:" + path + "?" + pragmas, nil
}

// Ping checks that the database answers.
func Ping(ctx context.Context, db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Close closes the pool.
func Close(db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// redact hides a password in a URL for logs and errors.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
