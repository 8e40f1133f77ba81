package callback

import (
	"testing"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/pii"
	"github.com/rexian/rexian/pii/piitest"
)

// With personal-data keys the survey's number is sealed at rest, the survey SMS still
// reaches the citizen, their reply still finds the survey, the list shows the number,
// and surveys from before the keys are sealed by Reseal.
func TestSurveyNumberSealedAtRest(t *testing.T) {
	e, num := sent(t, func(o *Options) { piitest.Install(t, o.DB) })
	piitest.WantSealed(t, "callback_surveys.phone", piitest.Stored(t, e.db, "callback_surveys", "phone", "id"), "13800138000")
	if n := e.gw.sentTo("13800138000"); n == 0 {
		t.Fatal("the survey SMS did not reach the citizen's number")
	}
	if m := e.inbound("13800138000", "1"); m.Route != "survey" {
		t.Errorf("reply routed %s: %s", m.Route, m.RouteError)
	}
	if sv := e.survey(num); sv.Result != ResultSatisfied || sv.Phone != "13800138000" {
		t.Fatalf("survey after the reply: %s %s, phone %q", sv.Status, sv.Result, sv.Phone)
	}
	vs, _, err := e.svc.Surveys(e.ctx, Filter{}, api.Page{Page: 1, PerPage: 10}, false)
	if err != nil || len(vs) != 1 || vs[0].Phone != "13800138000" {
		t.Fatalf("survey list: %+v, %v", vs, err)
	}
	if err := e.db.Exec("UPDATE callback_surveys SET phone = '13800138000', phone_idx = ''").Error; err != nil {
		t.Fatal(err)
	}
	for _, tb := range PersonalData() {
		if rep, err := pii.Reseal(e.ctx, e.db, tb, 10); err != nil || rep.Resealed != 1 {
			t.Fatalf("reseal %s: %+v, %v", tb.Name, rep, err)
		}
	}
	piitest.WantSealed(t, "callback_surveys.phone after reseal", piitest.Stored(t, e.db, "callback_surveys", "phone", "id"), "13800138000")
}
