package ivr

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/rexian/rexian/ivr/aritest"
	"github.com/rexian/rexian/pii"
	"github.com/rexian/rexian/pii/piitest"
	"github.com/rexian/rexian/tickets"
)

func withPersonalDataKeys(t *testing.T) harnessOption {
	return func(o *Options, _ *aritest.Options) { piitest.Install(t, o.DB) }
}

// With personal-data keys the caller's number is sealed in the call record, the known
// caller is still recognised, the call list still finds the call by the caller's number,
// and a record written before the keys is sealed by Reseal.
func TestCallerNumberSealedAtRest(t *testing.T) {
	h := newHarness(t, withPersonalDataKeys(t))
	if _, err := h.store.Create(h.ctx, desk, tickets.NewTicket{Content: "路灯不亮", Category: "TS-WY", Citizen: tickets.NewCitizen{Phone: "13911112222"}}); err != nil {
		t.Fatal(err)
	}
	caller := h.dial("13911112222", "12345")
	h.waitPlayed(caller, "known-caller")
	caller.Hangup()
	h.idle()
	piitest.WantSealed(t, "ivr_calls.caller", piitest.Stored(t, h.opts.DB, "ivr_calls", "caller", "id"), "13911112222")
	if idx := piitest.Stored(t, h.opts.DB, "ivr_calls", "caller_idx", "id"); len(idx) != 1 || idx[0] == "" {
		t.Errorf("caller_idx %q: want the blind index", idx)
	}

	// A record from before the keys: plain, no index.
	if err := h.opts.DB.Exec(`INSERT INTO ivr_calls (node, channel_id, caller, dialled, hotline, direction, arrived_at, updated_at)
		VALUES ('n0', 'old', '13911112222', '12345', '12345', 'inbound', ?, ?)`, time.Now().UTC(), time.Now().UTC()).Error; err != nil {
		t.Fatal(err)
	}
	srv := h.api(supervisor, false)
	calls := func() []Record {
		code, body := request(t, srv, "GET", "/ivr/calls?caller=13911112222", "")
		var out struct {
			Calls []Record `json:"calls"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("call list by caller: %d %s", code, body)
		}
		for _, c := range out.Calls {
			if c.Caller != "13911112222" {
				t.Errorf("call %d listed with caller %q", c.ID, c.Caller)
			}
		}
		return out.Calls
	}
	if n := len(calls()); n != 2 {
		t.Errorf("call list by caller before reseal: %d calls, want the sealed one and the plain one", n)
	}
	for _, tb := range PersonalData() {
		if rep, err := pii.Reseal(h.ctx, h.opts.DB, tb, 10); err != nil || rep.Resealed != 1 {
			t.Fatalf("reseal %s: %+v %v; want the plain record sealed", tb.Name, rep, err)
		}
	}
	piitest.WantSealed(t, "ivr_calls.caller after reseal", piitest.Stored(t, h.opts.DB, "ivr_calls", "caller", "id"), "13911112222")
	if n := len(calls()); n != 2 {
		t.Errorf("call list by caller after reseal: %d calls, want 2", n)
	}
}
