package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
)

// Body is the JSON error envelope.
type Body struct {
	Error BodyError `json:"error"`
}

// BodyError is the inside of the error envelope.
type BodyError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// HandlerFunc is a gin handler that returns an error instead of writing one.
type HandlerFunc func(c *gin.Context) error

// Handle adapts h to gin. A returned error becomes the JSON envelope with the status of its
// kind; only server errors (5xx) are logged, with the request's method and path, and their
// message is not shown to the client.
func Handle(log *slog.Logger, h HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			WriteError(c, log, err)
		}
	}
}

// WriteError writes err as the JSON envelope and aborts the chain.
func WriteError(c *gin.Context, log *slog.Logger, err error) {
	status := Status(err)
	msg := err.Error()
	if status >= 500 {
		if log != nil {
			log.ErrorContext(c.Request.Context(), "request failed",
				"method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
		}
		switch {
		case errors.Is(err, ErrUnavailable):
		case status == http.StatusServiceUnavailable:
			msg = "the database is unavailable; try again shortly"
		default:
			msg = "internal error; the failure has been logged"
		}
	}
	if status == http.StatusServiceUnavailable && c.Writer.Header().Get("Retry-After") == "" {
		c.Header("Retry-After", strconv.Itoa(RetryAfter))
	}
	c.AbortWithStatusJSON(status, Body{Error: BodyError{Code: codeOf(err), Message: msg}})
}

// MaxJSONBody is the largest JSON request body accepted by BindJSON.
const MaxJSONBody = 1 << 20

// BindJSON decodes the request body into v, refusing unknown fields, trailing data,
// bodies over MaxJSONBody and texts that break the rule of CheckText (naming the field),
// with a message that says what was wrong.
func BindJSON(c *gin.Context, v any) error {
	r := http.MaxBytesReader(c.Writer, c.Request.Body, MaxJSONBody)
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var maxErr *http.MaxBytesError
		var syntaxErr *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &maxErr):
			return Errorf(ErrTooLarge, "body_too_large", "request body is over the limit of %d bytes", MaxJSONBody)
		case errors.Is(err, io.EOF):
			return Errorf(ErrInvalid, "invalid_json", "request body is empty; a JSON object is expected")
		case errors.As(err, &syntaxErr):
			return Errorf(ErrInvalid, "invalid_json", "malformed JSON at byte %d: %v", syntaxErr.Offset, err)
		case errors.As(err, &typeErr):
			return Errorf(ErrInvalid, "invalid_json", "field %q must be %s, not %s", typeErr.Field, typeErr.Type, typeErr.Value)
		default:
			return Errorf(ErrInvalid, "invalid_json", "malformed JSON: %v", err)
		}
	}
	if dec.More() {
		return Errorf(ErrInvalid, "invalid_json", "malformed JSON: unexpected data after the object")
	}
	return CheckFields(v)
}

// Page is a page request: ?page=1&per_page=50.
type Page struct {
	Page    int `json:"page"`
	PerPage int `json:"per_page"`
}

// Offset is the number of rows before this page.
func (p Page) Offset() int { return (p.Page - 1) * p.PerPage }

// MaxPerPage caps per_page so that one request cannot read a whole table.
const MaxPerPage = 200

// ParsePage reads page and per_page from the query string (defaults 1 and 50).
func ParsePage(c *gin.Context) (Page, error) {
	p := Page{Page: 1, PerPage: 50}
	if s := c.Query("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return p, Errorf(ErrInvalid, "invalid_page", "page must be a whole number from 1, not %q", s)
		}
		p.Page = n
	}
	if s := c.Query("per_page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPerPage {
			return p, Errorf(ErrInvalid, "invalid_page", "per_page must be a whole number from 1 to %d, not %q", MaxPerPage, s)
		}
		p.PerPage = n
	}
	return p, nil
}

// NotFoundHandler answers unknown routes with the JSON envelope.
func NotFoundHandler(c *gin.Context) {
	WriteError(c, nil, Errorf(ErrNotFound, "no_route", "no such endpoint: %s %s", c.Request.Method, c.Request.URL.Path))
}

// MethodNotAllowedHandler answers a known path with the wrong method.
func MethodNotAllowedHandler(c *gin.Context) {
	c.AbortWithStatusJSON(http.StatusMethodNotAllowed, Body{Error: BodyError{
		Code: "method_not_allowed", Message: fmt.Sprintf("%s is not allowed on %s", c.Request.Method, c.Request.URL.Path)}})
}

// Recovery turns a panic in a handler into a logged 500 with the envelope, so that no
// panic reaches a client as a dropped connection.
func Recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				WriteError(c, log, fmt.Errorf("panic in handler: %v", r))
			}
		}()
		c.Next()
	}
}
