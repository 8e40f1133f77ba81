package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unavailable reports whether err says the database cannot be reached or cannot serve now
// (a server stopped or restarting, a connection cut, too many connections, a locked or
// unreadable SQLite file) rather than that the statement was wrong. Such a failure is the
// service's, and passes: callers answer 503 with Retry-After, not 500.
func Unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var (
		pg      *pgconn.PgError
		connect *pgconn.ConnectError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &pg):
		// 08: connection exception; 57P01-57P03: the server shuts down or starts;
		// 53300: too many connections; 55P03/40001/40P01 are the caller's to retry.
		return strings.HasPrefix(pg.Code, "08") || pg.Code == "57P01" || pg.Code == "57P02" ||
			pg.Code == "57P03" || pg.Code == "53300"
	case errors.As(err, &connect), errors.As(err, &netErr),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, driver.ErrBadConn),
		errors.Is(err, sql.ErrConnDone), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.DeadlineExceeded):
		return true
	}
	// database/sql's closed pool has no exported error, and SQLite's result codes come as
	// text through the driver: SQLITE_BUSY, _LOCKED, _IOERR, _FULL and _CANTOPEN.
	msg := err.Error()
	for _, s := range []string{"sql: database is closed", "failed to connect to", "database is locked",
		"database table is locked", "disk I/O error", "database or disk is full", "unable to open database file"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
