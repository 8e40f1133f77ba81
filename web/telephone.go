package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/ivr"
)

// telephone joins, leaves and pauses operators through the ivr API's own handler, run in
// process: the controller keeps its queue unexported, and on an instance without the
// controller the handler forwards the command to the one that runs it. The form handler
// has already checked the session and its CSRF token, so the principal is handed over
// directly.
type telephone struct {
	engine *gin.Engine
	opts   ivr.HandlerOptions
}

func newTelephone(o ivr.HandlerOptions) *telephone {
	e := gin.New()
	e.Use(api.Recovery(o.Log))
	ivr.NewHandler(o).Routes(e.Group("/api/v1"))
	return &telephone{engine: e, opts: o}
}

// call runs one ivr API request for p and turns an error answer back into an *api.Error.
func (t *telephone) call(ctx context.Context, p *auth.Principal, path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("telephone %s: %w", path, err)
	}
	req, err := http.NewRequestWithContext(auth.NewContext(ctx, p), http.MethodPost, "/api/v1"+path, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("telephone %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	t.engine.ServeHTTP(rec, req)
	if rec.Code < 300 {
		return nil
	}
	var out api.Body
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Error.Code == "" {
		return fmt.Errorf("telephone %s: status %d", path, rec.Code)
	}
	return &api.Error{Kind: kindOf(rec.Code), Code: out.Error.Code, Message: out.Error.Message}
}

func kindOf(status int) error {
	switch status {
	case http.StatusBadRequest:
		return api.ErrInvalid
	case http.StatusUnauthorized:
		return api.ErrUnauthorized
	case http.StatusForbidden:
		return api.ErrForbidden
	case http.StatusNotFound:
		return api.ErrNotFound
	case http.StatusConflict:
		return api.ErrConflict
	case http.StatusServiceUnavailable:
		return api.ErrUnavailable
	}
	return fmt.Errorf("status %d", status)
}

// Join puts p in the queue with phone (a dial string such as PJSIP/8001).
func (t *telephone) Join(ctx context.Context, p *auth.Principal, phone string) error {
	return t.call(ctx, p, "/ivr/agents/me/login", ivr.LoginRequest{Phone: phone})
}

// Leave takes p out of the queue.
func (t *telephone) Leave(ctx context.Context, p *auth.Principal) error {
	return t.call(ctx, p, "/ivr/agents/me/logout", struct{}{})
}

// SetState makes p ready or paused.
func (t *telephone) SetState(ctx context.Context, p *auth.Principal, state, reason string) error {
	return t.call(ctx, p, "/ivr/agents/me/state", ivr.StateRequest{State: state, Reason: reason})
}

// Snapshot is the live picture (the active instance's, with this instance's roles), nil
// when no controller runs anywhere.
func (t *telephone) Snapshot(ctx context.Context) *ivr.Snapshot {
	s, err := t.opts.Controller.Picture(ctx, t.opts.Live)
	if err != nil {
		return nil
	}
	return s
}
