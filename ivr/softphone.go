package ivr

import (
	"context"
	"fmt"
)

// LeaveIfPhone takes user out of the queue when they are logged in with phone, and
// leaves them alone when they have joined with another phone since. The console calls
// it when a browser phone is revoked (the session that owned it ended): the queue must
// not go on offering calls to an endpoint that no longer exists.
func (h *Handler) LeaveIfPhone(ctx context.Context, user, phone string) error {
	if h.local() {
		if a, ok := h.ctrl.acd.agent(user); ok && a.Phone == phone {
			h.ctrl.acd.logout(user)
		}
		return nil
	}
	if h.live == nil {
		return nil
	}
	agents, err := h.live.Agents(ctx)
	if err != nil {
		return fmt.Errorf("ivr: leave %s: %w", user, err)
	}
	for _, a := range agents {
		if a.User == user && a.Phone == phone {
			if err := h.live.send(ctx, command{Op: "logout", User: user}); err != nil {
				return fmt.Errorf("ivr: leave %s: %w", user, err)
			}
		}
	}
	return nil
}
