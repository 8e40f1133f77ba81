package dashboards

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// ticketsServer serves the tickets API to a supervisor, as the figures' links are
// followed from the dashboards.
func (e *env) ticketsServer() *httptest.Server {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	g := r.Group("/api/v1", func(c *gin.Context) {
		c.Request = c.Request.WithContext(auth.NewContext(c.Request.Context(), supervisor))
	})
	tickets.NewHandler(e.store, nil).Routes(g)
	srv := httptest.NewServer(r)
	e.t.Cleanup(srv.Close)
	return srv
}

// follow counts the tickets GET /api/v1/tickets?query lists, page after page.
func (e *env) follow(srv *httptest.Server, query string) int64 {
	e.t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		e.t.Fatalf("link %q: %v", query, err)
	}
	q.Set("per_page", "2") // small pages, so that the count depends on following them
	var n int64
	for page := 1; ; page++ {
		q.Set("page", fmt.Sprint(page))
		req, err := http.NewRequestWithContext(e.ctx, http.MethodGet, srv.URL+"/api/v1/tickets?"+q.Encode(), nil)
		if err != nil {
			e.t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		var body struct {
			Tickets []tickets.Summary `json:"tickets"`
			HasMore bool              `json:"has_more"`
			Error   struct{ Code, Message string }
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			e.t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			e.t.Fatalf("GET /api/v1/tickets?%s: %d %s: %s", query, resp.StatusCode, body.Error.Code, body.Error.Message)
		}
		n += int64(len(body.Tickets))
		if !body.HasMore {
			return n
		}
	}
}

// TestLinksListExactlyTheTicketsCounted follows every figure's link, for every group of
// every breakdown, and expects as many tickets as the figure says.
func TestLinksListExactlyTheTicketsCounted(t *testing.T) {
	e := newEnv(t)
	heat, zj := e.department("HEAT"), e.department("DS-ZJ")
	in := func(district string, dispatch *tickets.DispatchRequest) func(*tickets.NewTicket) {
		return func(x *tickets.NewTicket) { x.Location.District, x.Dispatch = district, dispatch }
	}
	// Just before and at the start of Monday.
	e.clk.Set(time.Date(2026, 11, 22, 23, 59, 59, 0, shanghai))
	e.ticket("TS-GN", nil)
	e.clk.Set(time.Date(2026, 11, 23, 0, 0, 0, 0, shanghai))
	e.ticket("TS-GN", nil) // lead HEAT, no district
	e.clk.Set(monday10)
	// Lead HEAT in DS, completed on time.
	done := e.ticket("TS-GN", in("DS", &tickets.DispatchRequest{}))
	e.act(heat, done, tickets.ActSign, tickets.ActionRequest{})
	e.act(heat, done, tickets.ActReply, tickets.ActionRequest{Reply: "已派人维修，暖气恢复正常。"})
	e.act(desk, done, tickets.ActApprove, tickets.ActionRequest{Answer: "已维修。"})
	// Lead DS-ZJ (a sub-unit of DS) with HEAT as co-handler, in DS; DS-ZJ signs for it.
	both := e.ticket("TS-WY", in("DS", &tickets.DispatchRequest{Departments: []string{"DS-ZJ", "HEAT"}, Lead: "DS-ZJ"}))
	e.act(zj, both, tickets.ActSign, tickets.ActionRequest{})
	// DS-ZJ is granted an extension; HEAT returns its part (an event of HEAT's, on a
	// ticket DS-ZJ leads).
	view, err := e.store.Find(e.ctx, desk, both)
	if err != nil {
		t.Fatal(err)
	}
	until := view.DueAt.Add(72 * time.Hour)
	e.act(zj, both, tickets.ActRequestExtension, tickets.ActionRequest{Reason: "需协调物业", Until: &until})
	e.act(supervisor, both, tickets.ActApproveExtension, tickets.ActionRequest{})
	e.act(heat, both, tickets.ActReturn, tickets.ActionRequest{Reason: "不属于本单位职责"})
	if p, _ := PeriodOf(PeriodToday, e.clk.Now(), "", "", shanghai); true {
		set, err := e.svc.Figures(e.ctx, supervisor, p, GroupNone)
		if err != nil || set.Total.Extensions != 1 || set.Total.Returns != 1 {
			t.Fatalf("an extension and a return today: %+v, %v", set.Total, err)
		}
	}
	// Lead DS itself, in KBS; nobody signs: overdue by the evening.
	e.ticket("TS-WY", in("KBS", &tickets.DispatchRequest{Departments: []string{"DS"}}))
	// No lead department: answered at once, by web, without a district.
	e.ticket("ZX-SB", func(x *tickets.NewTicket) {
		x.Dispatch, x.Answer, x.Channel = nil, "携带身份证到社保大厅办理。", tickets.ChannelWeb
	})
	// No lead department: not dispatched yet, in KBS.
	e.ticket("TS-WY", in("KBS", nil))
	// Lead HRSS, no district; nobody signs.
	e.ticket("ZX-SB", nil)
	// Refused and merged: never counted, whatever their groups.
	refused := e.ticket("TS-WY", in("DS", nil))
	e.act(desk, refused, tickets.ActRefuse, tickets.ActionRequest{Reason: tickets.DefaultRefusalReasons()[0].Code})
	dup := e.ticket("TS-GN", in("DS", nil))
	e.act(desk, dup, tickets.ActMerge, tickets.ActionRequest{Into: done})
	e.clk.Set(monday10.Add(7 * time.Hour)) // 17:00: past the sign-for limits
	e.markOverdue()
	// At the end of Monday: in the week, not in the day.
	e.clk.Set(time.Date(2026, 11, 24, 0, 0, 0, 0, shanghai))
	e.ticket("TS-WY", in("KBS", &tickets.DispatchRequest{Departments: []string{"HRSS"}}))

	srv := e.ticketsServer()
	figures := []string{"accepted", "completed", "completed_on_time", "overdue_now", "extensions", "returns"}
	for _, tc := range []struct {
		kind     PeriodKind
		accepted int64
	}{
		{PeriodToday, 7},
		{PeriodWeek, 8},
	} {
		p, err := PeriodOf(tc.kind, monday10, "", "", shanghai)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []Group{GroupNone, GroupDepartment, GroupCategory, GroupChannel, GroupDistrict} {
			t.Run(fmt.Sprintf("%s by %q", tc.kind, g), func(t *testing.T) {
				set, err := e.svc.Figures(e.ctx, supervisor, p, g)
				if err != nil {
					t.Fatal(err)
				}
				if set.Total.Accepted != tc.accepted {
					t.Fatalf("accepted in total %d; want %d", set.Total.Accepted, tc.accepted)
				}
				all := append([]Figures{set.Total}, set.Groups...)
				var keys []string
				for _, f := range all {
					keys = append(keys, f.Key)
					for _, fig := range figures {
						link, ok := f.Tickets[fig]
						if !ok {
							t.Errorf("%s: no link for %s", f.Key, fig)
							continue
						}
						want := map[string]int64{"accepted": f.Accepted, "completed": f.Completed, "completed_on_time": f.CompletedOnTime,
							"overdue_now": f.OverdueNow, "extensions": f.Extensions, "returns": f.Returns}[fig]
						if got := e.follow(srv, link); got != want {
							t.Errorf("%s %s: the link lists %d tickets; the figure is %d (%s)", f.Key, fig, got, want, link)
						}
					}
				}
				// The groups a superset link used to get wrong, and the "none" groups, are there.
				var must []string
				switch g {
				case GroupDepartment:
					must = []string{"HEAT", "DS", "DS-ZJ", "HRSS", noKey}
				case GroupDistrict:
					must = []string{"DS", "KBS", noKey}
				}
				for _, k := range must {
					if !slices.Contains(keys, k) {
						t.Errorf("no group %s in %v", k, keys)
					}
				}
			})
		}
	}
}
