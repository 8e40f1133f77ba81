package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/rexian/rexian/database"
)

// Error kinds. Domain code wraps one of these (directly or through Errorf) so that the
// HTTP adapter, the CLI and the IVR can each decide how to tell the user.
var (
	ErrInvalid      = errors.New("invalid input")
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrForbidden    = errors.New("forbidden")
	ErrUnauthorized = errors.New("unauthorized")
	ErrTooLarge     = errors.New("too large")
	ErrRateLimited  = errors.New("rate limited")
	ErrUnavailable  = errors.New("unavailable")
	// ErrUnprocessable is a well-formed request that cannot be taken as it is: an
	// Idempotency-Key sent again with another request.
	ErrUnprocessable = errors.New("unprocessable")
)

// Error is an error with a stable machine-readable code and a message meant for the
// person who sent the request.
type Error struct {
	Kind    error  // one of the Err* kinds above
	Code    string // stable, snake_case, e.g. "illegal_transition"
	Message string // human-readable; may be shown to an operator as is
	// Field names the input at fault, where one is ("citizen.name", "q"), so that a page
	// can say it in its own words.
	Field string
}

func (e *Error) Error() string { return e.Message }

// Unwrap lets errors.Is(err, api.ErrConflict) see the kind.
func (e *Error) Unwrap() error { return e.Kind }

// Errorf builds an *Error of the given kind.
func Errorf(kind error, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Status returns the HTTP status for err's kind; 500 for anything unknown.
func Status(err error) int {
	switch {
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrUnprocessable):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrUnavailable), database.Unavailable(err):
		// An unreachable database is an outage that passes, not a fault of the request.
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// RetryAfter is what a 503 answer asks the client to wait, in seconds: about the time a
// PostgreSQL restart or a fail-over takes.
const RetryAfter = 5

// codeOf returns the stable code for err: the Code of the outermost *Error, else one
// derived from the kind.
func codeOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != "" {
		return e.Code
	}
	switch Status(err) {
	case http.StatusBadRequest:
		return "invalid"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusUnprocessableEntity:
		return "unprocessable"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	return "internal"
}
