package database

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// DefaultSlowQuery is how long a statement runs before it is logged as slow.
const DefaultSlowQuery = 500 * time.Millisecond

// Option adjusts how Open sets up the connection.
type Option func(*options)

type options struct {
	slowQuery time.Duration
}

// SlowQuery logs statements that run longer than d (at warn); 0 keeps DefaultSlowQuery.
func SlowQuery(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.slowQuery = d
		}
	}
}

// sqlLogger is gorm's logger for rexian. A statement's values are citizens' phone numbers,
// names and complaints, users' password hashes and tokens' digests: it logs the SQL with
// its placeholders and never a value, neither for a failed statement nor for a slow one,
// and of a PostgreSQL error only what cannot quote a value back.
type sqlLogger struct {
	log   *slog.Logger
	slow  time.Duration
	level logger.LogLevel
}

var (
	_ logger.Interface  = (*sqlLogger)(nil)
	_ gorm.ParamsFilter = (*sqlLogger)(nil)
)

func newLogger(log *slog.Logger, o options) logger.Interface {
	if log == nil {
		return logger.Discard
	}
	return &sqlLogger{log: log.With("component", "database"), slow: o.slowQuery, level: logger.Warn}
}

func (l *sqlLogger) LogMode(level logger.LogLevel) logger.Interface {
	c := *l
	c.level = level
	return &c
}

// Info, Warn and Error carry gorm's own remarks (a model it cannot parse, a migration
// note); gorm formats them, with no statement values.
func (l *sqlLogger) Info(ctx context.Context, msg string, data ...any) {
	if l.level >= logger.Info {
		l.log.InfoContext(ctx, fmt.Sprintf(msg, data...))
	}
}

func (l *sqlLogger) Warn(ctx context.Context, msg string, data ...any) {
	if l.level >= logger.Warn {
		l.log.WarnContext(ctx, fmt.Sprintf(msg, data...))
	}
}

func (l *sqlLogger) Error(ctx context.Context, msg string, data ...any) {
	if l.level >= logger.Error {
		l.log.ErrorContext(ctx, fmt.Sprintf(msg, data...))
	}
}

// ParamsFilter drops the values before gorm renders the statement for Trace, so that the
// SQL Trace receives keeps its placeholders ($1, ?).
func (l *sqlLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

func (l *sqlLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if l.level <= logger.Silent {
		return
	}
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound) && l.level >= logger.Error:
		sql, rows := fc()
		l.log.ErrorContext(ctx, "sql failed", "sql", sql, "rows", rows,
			"duration", elapsed, "err", ErrorText(err))
	case l.slow > 0 && elapsed > l.slow && l.level >= logger.Warn:
		sql, rows := fc()
		l.log.WarnContext(ctx, "sql slow", "sql", sql, "rows", rows, "duration", elapsed)
	case l.level >= logger.Info:
		sql, rows := fc()
		l.log.DebugContext(ctx, "sql", "sql", sql, "rows", rows, "duration", elapsed)
	}
}

// ErrorText describes a database error for a log without quoting a value: PostgreSQL's
// messages for bad data (class 22: "invalid input syntax for type integer: \"…\"") and
// its details ("Key (username)=(…) already exists") can carry what was sent, so of those
// only the SQLSTATE and the names of the constraint, table and column are kept.
func ErrorText(err error) string {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		return err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SQLSTATE %s", pg.Code)
	if !strings.HasPrefix(pg.Code, "22") {
		fmt.Fprintf(&b, ": %s", pg.Message)
	}
	for _, kv := range [][2]string{{"constraint", pg.ConstraintName}, {"table", pg.TableName}, {"column", pg.ColumnName}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
		}
	}
	return b.String()
}
