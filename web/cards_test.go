package web

import (
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/dashboards"
	"github.com/rexian/rexian/tickets"
)

// card issues a card as the dashboards' worker does, this month.
func (f *fixture) card(dept string, color dashboards.Color, rule dashboards.Rule, ticket, reason string) {
	f.t.Helper()
	var id uint
	if err := f.env.DB.WithContext(f.env.Ctx).Model(&tickets.Department{}).Where("code = ?", dept).Pluck("id", &id).Error; err != nil || id == 0 {
		f.t.Fatalf("department %s: %d %v", dept, id, err)
	}
	now := f.clock.Now()
	c := dashboards.Card{DepartmentID: id, Color: color, Rule: rule, Cause: dept + ":" + ticket + ":" + string(rule),
		Month: now.Format("2006-01"), TicketNumber: ticket, Reason: reason, CauseAt: now.Add(-time.Hour), IssuedAt: now}
	if err := f.env.DB.WithContext(f.env.Ctx).Create(&c).Error; err != nil {
		f.t.Fatal(err)
	}
}

func TestCardsInThePortalAndOnTheBoard(t *testing.T) {
	f := newFixture(t)
	f.card("HEAT", dashboards.Yellow, dashboards.RuleOverdue, "2611260101", "工单 2611260101 超期未办结")
	f.card("HEAT", dashboards.Red, dashboards.RuleDoubleOverdue, "2611260102", "工单 2611260102 超期时间超过其办理时限<script>x</script>")
	f.card("DS", dashboards.Yellow, dashboards.RuleOverdue, "2611260201", "工单 2611260201 超期未办结")

	heat := f.client()
	heat.login("heat")
	_, page := heat.do("GET", "/portal/", nil)
	for _, want := range []string{`id="portal-cards"`, "红牌 1", "黄牌 1", "超期超过办理时限", `href="/portal/tickets/2611260102"`,
		"2611260101", "&lt;script&gt;x&lt;/script&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("the portal lacks %q", want)
		}
	}
	if strings.Contains(page, "2611260201") || strings.Contains(page, "<script>x") {
		t.Error("the portal shows another department's card, or the reason unescaped")
	}

	ds := f.client()
	ds.login("ds")
	if _, page := ds.do("GET", "/portal/", nil); !strings.Contains(page, "2611260201") || strings.Contains(page, "2611260101") {
		t.Error("the other department does not see its own card only")
	}

	sup := f.client()
	sup.login("sup")
	_, page = sup.do("GET", "/console/supervisor", nil)
	for _, want := range []string{`id="cards-board"`, "红牌 1", "黄牌 2", `data-department="HEAT"`, `data-department="DS"`,
		`href="/console/tickets/2611260201"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the supervisor's board lacks %q", want)
		}
	}
	if strings.Index(page, `data-department="HEAT"`) > strings.Index(page, `data-department="DS"`) {
		t.Error("the department with a red card is not first on the board")
	}

	// A department without cards is told so.
	f.env.DB.WithContext(f.env.Ctx).Where("1 = 1").Delete(&dashboards.Card{})
	if _, page := heat.do("GET", "/portal/", nil); !strings.Contains(page, "本月没有红黄牌") {
		t.Error("an empty board says nothing")
	}
}
