package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The call-control and listen-in forms end on the desk with a message in words: an
// operator may not listen in (the API's 403), a call that is not going on cannot be
// controlled, and the telephone being off is said as such.
func TestCallControlForms(t *testing.T) {
	f := newFixture(t)
	op := f.client()
	csrf := op.login("op")
	resp, body := op.do("POST", "/console/call/monitor", url.Values{"csrf_token": {csrf}, "call": {"7"}, "mode": {"listen"}, "phone": {"PJSIP/8003"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "您的角色不能") {
		t.Errorf("operator listening in: %d\n%.400s", resp.StatusCode, body)
	}
	resp, body = op.do("POST", "/console/call/control", url.Values{"csrf_token": {csrf}, "call": {""}, "action": {"hold"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "不在通话中") {
		t.Errorf("no call chosen: %d\n%.400s", resp.StatusCode, body)
	}
	resp, body = op.do("POST", "/console/call/control", url.Values{"csrf_token": {csrf}, "call": {"7"}, "action": {"dance"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "不支持的通话操作") {
		t.Errorf("unknown action: %d\n%.400s", resp.StatusCode, body)
	}
}
