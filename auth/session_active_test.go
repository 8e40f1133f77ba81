package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/rexian/rexian/auth"
)

// TestSessionActive: what was handed out for a session (the browser phone) asks by the
// stored id whether the session lasts: true while it does, false after a logout and
// after its lifetime.
func TestSessionActive(t *testing.T) {
	e := newEnv(t)
	e.createUser(t, "op", auth.RoleOperator, "")
	ctx := context.Background()
	active := func(id string) bool {
		t.Helper()
		ok, err := e.svc.SessionActive(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	token, sess, err := e.svc.Login(ctx, "op", password, "192.0.2.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	if !active(sess.ID) {
		t.Error("a fresh session is not active")
	}
	if active(token) {
		t.Error("the cookie value was taken for the stored id")
	}
	if err := e.svc.Logout(ctx, token); err != nil {
		t.Fatal(err)
	}
	if active(sess.ID) {
		t.Error("a logged-out session is active")
	}
	_, sess, err = e.svc.Login(ctx, "op", password, "192.0.2.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(13 * time.Hour)
	if active(sess.ID) {
		t.Error("a session past its lifetime is active")
	}
}
