package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/callback"
	"github.com/rexian/rexian/ivr"
)

// manualSurvey puts a survey on the manual callback list, as the survey worker does when
// the calls went unanswered.
func (f *fixture) manualSurvey(number, phone, why string, attempts int) uint64 {
	f.t.Helper()
	now := f.clock.Now()
	sv := callback.Survey{TicketID: uint64(len(number)*1000 + attempts), TicketNumber: number, CompletionSeq: attempts + 1,
		CompletedAt: now, CategoryID: 1, Phone: phone, PhoneKind: "mobile", Status: callback.StatusManual, DueAt: now,
		Note: why, Attempts: attempts}
	if attempts > 0 {
		sv.LastOutcome = string(ivr.SurveyNoAnswer)
	}
	if err := f.env.DB.WithContext(f.env.Ctx).Create(&sv).Error; err != nil {
		f.t.Fatal(err)
	}
	return sv.ID
}

func TestManualCallbackList(t *testing.T) {
	f := newFixture(t)
	first := f.manualSurvey("2611260001", "13800138001", callback.ReasonCallsExhausted, 3)
	second := f.manualSurvey("2611260002", "13800138002", callback.ReasonNoTelephony, 0)
	c := f.client()
	csrf := c.login("op")

	_, page := c.do("GET", "/console/desk", nil)
	if !strings.Contains(page, `href="/console/callbacks"`) {
		t.Error("the desk's menu does not link the manual callback list")
	}
	_, page = c.do("GET", "/console/callbacks", nil)
	for _, want := range []string{"2611260001", "13800138001", "自动外呼多次无人接听", "最近一次：无人接听", "2611260002", "未配置自动外呼", "13800138002"} {
		if !strings.Contains(page, want) {
			t.Errorf("the list lacks %q", want)
		}
	}
	if strings.Index(page, "2611260001") > strings.Index(page, "2611260002") {
		t.Error("the list is not oldest first")
	}

	post := func(id uint64, form url.Values) (*http.Response, string) {
		form.Set("csrf_token", csrf)
		return c.do("POST", "/console/callbacks/"+strconv.FormatUint(id, 10), form)
	}
	for _, tt := range []struct {
		name   string
		id     uint64
		form   url.Values
		status int
		says   []string
	}{
		{"no result", first, url.Values{"note": {"电话已接通<b>"}}, 400, []string{"请选择回访结果", "电话已接通&lt;b&gt;"}},
		{"dissatisfied without a reason", first, url.Values{"result": {"dissatisfied"}, "note": {"市民情绪激动"}}, 400,
			[]string{"请填写市民不满意的原因", "市民情绪激动", `value="dissatisfied" checked`}},
		{"reason with satisfied", first, url.Values{"result": {"satisfied"}, "reason": {"路灯又坏了"}}, 400,
			[]string{"只有“不满意”需要填写原因", "路灯又坏了"}},
		{"unknown result", first, url.Values{"result": {"delighted"}}, 400, []string{"请选择回访结果"}},
		{"unknown survey", 999999, url.Values{"result": {"satisfied"}}, 404, []string{"没有找到该回访"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(tt.id, tt.form)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tt.status, body)
			}
			for _, want := range tt.says {
				if !strings.Contains(body, want) {
					t.Errorf("the page lacks %q", want)
				}
			}
		})
	}

	resp, body := post(first, url.Values{"result": {"fairly_satisfied"}, "note": {"市民表示问题已基本解决"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("record: %d\n%s", resp.StatusCode, body)
	}
	_, page = c.do("GET", resp.Header.Get("Location"), nil)
	if !strings.Contains(page, "回访结果已记录") || strings.Contains(page, "2611260001") {
		t.Errorf("after recording, the survey is still listed or no confirmation:\n%s", page)
	}
	v, err := f.calls.Find(f.env.Ctx, first, false)
	if err != nil {
		t.Fatal(err)
	}
	if v.Result != callback.ResultFairlySatisfied || v.Channel != callback.ChannelManual || v.AnsweredBy == "" ||
		!strings.Contains(v.Remarks, "市民表示问题已基本解决") {
		t.Errorf("recorded survey %+v", v)
	}
	if resp, body := post(first, url.Values{"result": {"satisfied"}}); resp.StatusCode != http.StatusConflict ||
		!strings.Contains(body, "该回访已有结果") {
		t.Errorf("second answer: %d\n%s", resp.StatusCode, body)
	}

	resp, _ = post(second, url.Values{"result": {"dissatisfied"}, "reason": {"井盖仍未修好"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "ok=reopened") {
		t.Errorf("dissatisfied: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if v, err := f.calls.Find(f.env.Ctx, second, false); err != nil || v.Result != callback.ResultDissatisfied || v.Reason != "井盖仍未修好" {
		t.Errorf("dissatisfied survey %+v (%v)", v, err)
	}
}

func TestSupervisorSeesDissatisfiedSurveys(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	answered := now.Add(-time.Hour)
	sv := callback.Survey{TicketID: 77, TicketNumber: "2611260077", CompletionSeq: 3, CompletedAt: now.Add(-48 * time.Hour),
		CategoryID: 1, Phone: "13800138077", PhoneKind: "mobile", Status: callback.StatusDone, DueAt: now,
		Result: callback.ResultDissatisfied, Channel: callback.ChannelSMS, Reason: "<b>窗口推诿</b>", AnsweredAt: &answered}
	if err := f.env.DB.WithContext(f.env.Ctx).Create(&sv).Error; err != nil {
		t.Fatal(err)
	}
	c := f.client()
	c.login("sup")
	_, page := c.do("GET", "/console/supervisor", nil)
	for _, want := range []string{`id="dissatisfied"`, "2611260077", "&lt;b&gt;窗口推诿&lt;/b&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("the supervisor page lacks %q", want)
		}
	}
	if strings.Contains(page, "<b>窗口推诿</b>") {
		t.Error("the reason was rendered as markup")
	}
}
