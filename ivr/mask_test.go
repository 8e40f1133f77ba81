package ivr

import (
	"strings"
	"testing"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// The live picture and the live messages show a token without personal:read (a wall
// screen) the callers' numbers masked, and the desk's people whole; the original
// message, which other subscribers share, is never changed.
func TestLiveMessagesMaskedForTokensWithoutPersonalScope(t *testing.T) {
	const tel = "13912345678"
	m := Message{Type: "screen_pop",
		Snapshot: &Snapshot{Waiting: []Waiting{{Caller: tel}}},
		Call:     &CallEvent{Caller: tel},
		Pop:      &ScreenPop{Caller: tel, Tickets: []tickets.Summary{{CitizenPhone: tel}}}}
	for _, tt := range []struct {
		name  string
		p     *auth.Principal
		whole bool
	}{
		{"an operator at the desk", &auth.Principal{Name: "op", Role: auth.RoleOperator}, true},
		{"a token with personal:read", &auth.Principal{Name: "crm", Role: auth.RoleSupervisor, TokenID: 3, Scopes: []string{auth.ScopeCallsRead, auth.ScopePersonal}}, true},
		{"a wall screen's token", &auth.Principal{Name: "wall", Role: auth.RoleSupervisor, TokenID: 4, Scopes: []string{auth.ScopeCallsRead}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := maskedMessage(tt.p, m)
			shown := []string{got.Snapshot.Waiting[0].Caller, got.Call.Caller, got.Pop.Caller, got.Pop.Tickets[0].CitizenPhone}
			for i, s := range shown {
				if whole := s == tel; whole != tt.whole || (!whole && !strings.HasPrefix(s, "139****")) {
					t.Errorf("number %d shown as %q", i+1, s)
				}
			}
			if s := maskedSnapshot(tt.p, m.Snapshot); (s.Waiting[0].Caller == tel) != tt.whole {
				t.Errorf("the live picture shows %q", s.Waiting[0].Caller)
			}
		})
	}
	if m.Snapshot.Waiting[0].Caller != tel || m.Call.Caller != tel || m.Pop.Caller != tel || m.Pop.Tickets[0].CitizenPhone != tel {
		t.Error("masking changed the shared message")
	}
}
