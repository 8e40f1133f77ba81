package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/dashboards"
	"github.com/rexian/rexian/tickets"
)

// card issues a card as the dashboards' worker does, this month.
func (f *fixture) card(dept string, color dashboards.Color, rule dashboards.Rule, ticket, reason string) uint64 {
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
	return c.ID
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

// banner is the portal's banner of cards to sign for, "" when there is none.
func banner(page string) string {
	i := strings.Index(page, `id="card-banner"`)
	if i < 0 {
		return ""
	}
	j := strings.Index(page[i:], "</section>")
	if j < 0 {
		return page[i:]
	}
	return page[i : i+j]
}

func TestCardBannerAndSigning(t *testing.T) {
	f := newFixture(t)
	yellow := f.card("HEAT", dashboards.Yellow, dashboards.RuleOverdue, "2611260101", "工单 2611260101 超期未办结")
	red := f.card("HEAT", dashboards.Red, dashboards.RuleYellows, "", "2026-11 累计黄牌 3 张")
	other := f.card("DS", dashboards.Yellow, dashboards.RuleOverdue, "2611260201", "工单 2611260201 超期未办结")
	// The notice worker has texted HEAT about its yellow card.
	if err := f.env.DB.WithContext(f.env.Ctx).Model(&dashboards.Card{}).Where("id = ?", yellow).
		Update("notified_at", f.clock.Now()).Error; err != nil {
		t.Fatal(err)
	}
	action := func(id uint64) string { return fmt.Sprintf(`action="/portal/cards/%d/acknowledge"`, id) }

	heat := f.client()
	tok := heat.login("heat")
	_, page := heat.do("GET", "/portal/", nil)
	b := banner(page)
	for _, want := range []string{"请查看并签收（2 张）", "红牌", "黄牌", "工单 2611260101 超期未办结", `href="/portal/tickets/2611260101"`,
		"2026-11 累计黄牌 3 张", "亮牌时间 2026-11-26 10:00", action(yellow), action(red), "签收"} {
		if !strings.Contains(b, want) {
			t.Errorf("the banner lacks %q:\n%s", want, b)
		}
	}
	if strings.Index(page, `id="card-banner"`) > strings.Index(page, `id="portal-cards"`) {
		t.Error("the banner is not at the top of the inbox")
	}
	if strings.Contains(b, "2611260201") {
		t.Error("the banner shows another department's card")
	}

	tests := []struct {
		name     string
		who      *client
		id       uint64
		token    bool
		status   int
		location string
		says     string
	}{
		{"without the form token", heat, yellow, false, http.StatusForbidden, "", "表单已过期"},
		{"another department's card", heat, other, true, http.StatusNotFound, "", "没有找到该红黄牌"},
		{"its own card", heat, yellow, true, http.StatusSeeOther, "/portal/?ok=card_sign", ""},
		{"its own card again", heat, yellow, true, http.StatusSeeOther, "/portal/?ok=card_sign", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{}
			if tt.token {
				form.Set("csrf_token", tok)
			}
			resp, body := tt.who.do("POST", fmt.Sprintf("/portal/cards/%d/acknowledge", tt.id), form)
			if resp.StatusCode != tt.status || resp.Header.Get("Location") != tt.location || !strings.Contains(body, tt.says) {
				t.Errorf("%d %q, want %d %q saying %q:\n%s", resp.StatusCode, resp.Header.Get("Location"), tt.status, tt.location, tt.says, body)
			}
		})
	}
	_, page = heat.do("GET", "/portal/?ok=card_sign", nil)
	if !strings.Contains(page, "红黄牌已签收") {
		t.Error("no word that the card was signed for")
	}
	b = banner(page)
	if strings.Contains(b, action(yellow)) || !strings.Contains(b, action(red)) || !strings.Contains(b, "（1 张）") {
		t.Errorf("after signing the yellow card the banner is:\n%s", b)
	}
	if !strings.Contains(page, "工单 2611260101 超期未办结") {
		t.Error("a signed card left the month's board")
	}

	// The other department's card is still unsigned; the supervisor sees who was told and
	// who signed.
	sup := f.client()
	sup.login("sup")
	_, page = sup.do("GET", "/console/supervisor", nil)
	for id, want := range map[uint64]string{
		yellow: "已短信通知 2026-11-26 10:00 · 已签收 2026-11-26 10:00",
		red:    "待通知 · 未签收",
		other:  "待通知 · 未签收",
	} {
		i := strings.Index(page, fmt.Sprintf(`data-card="%d"`, id))
		if i < 0 {
			t.Errorf("card %d is not on the supervisor's board", id)
			continue
		}
		if end := strings.Index(page[i:], "</li>"); end < 0 || !strings.Contains(page[i:i+end], want) {
			t.Errorf("card %d on the supervisor's board does not say %q", id, want)
		}
	}

	// With every card signed the banner goes.
	heat.do("POST", fmt.Sprintf("/portal/cards/%d/acknowledge", red), url.Values{"csrf_token": {tok}})
	if _, page := heat.do("GET", "/portal/", nil); banner(page) != "" {
		t.Errorf("a banner with nothing to sign:\n%s", banner(page))
	}
}
