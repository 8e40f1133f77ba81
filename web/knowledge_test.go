package web

import (
	"net/url"
	"strings"
	"testing"

	"github.com/rexian/rexian/sms"
)

func TestKnowledgeShowsAndSearchesTheEightElements(t *testing.T) {
	f := newFixture(t)
	if _, err := f.sms.SaveMaterialItem(f.env.Ctx, "admin:root", sms.MaterialItemInput{Code: "XSS", Name: "测试事项",
		Materials: []string{"身份证"}, ItemElements: sms.ItemElements{Process: `<script>alert(1)</script><img src=x onerror=alert(2)>`}}); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	c.login("op")
	_, page := c.do("GET", "/console/knowledge?q=BDCDJ", nil)
	for _, want := range []string{"事项名称", "设定依据", "办理时限", "申请条件", "办理流程", "申请材料", "收费依据", "收费标准",
		"不动产登记暂行条例", "承诺时限 5 个工作日", "全体共有人同意", "登簿", "购房合同", "发改价格规〔2016〕2559号", "住宅每件 80 元"} {
		if !strings.Contains(page, want) {
			t.Errorf("the item lacks %q", want)
		}
	}
	for _, tt := range []struct {
		q          string
		want, nots []string
	}{
		{"2559号", []string{"item-BDCDJ"}, []string{"item-HJQY", "item-JYXK", "item-SBZM"}},  // fee basis
		{"工本费", []string{"item-BDCDJ", "item-HJQY"}, []string{"item-JYXK", "item-SBZM"}},    // fee standard
		{"即时办结", []string{"item-SBZM"}, []string{"item-BDCDJ", "item-HJQY", "item-JYXK"}},   // time limit
		{"不收费 食品", []string{"item-JYXK"}, []string{"item-SBZM", "item-BDCDJ", "item-HJQY"}}, // every word must match
		{"专职或者兼职", []string{"item-JYXK"}, []string{"item-SBZM"}},                            // preconditions
		{"民法典", []string{"item-BDCDJ"}, []string{"item-JYXK"}},                              // legal basis
		{"sbzm", []string{"item-SBZM"}, []string{"item-JYXK"}},                              // code, any case
		{"没有这样的事项", []string{"没有符合的事项"}, []string{"item-"}},
	} {
		_, page := c.do("GET", "/console/knowledge?q="+url.QueryEscape(tt.q), nil)
		for _, w := range tt.want {
			if !strings.Contains(page, w) {
				t.Errorf("q=%s: the page lacks %q", tt.q, w)
			}
		}
		for _, n := range tt.nots {
			if strings.Contains(page, n) {
				t.Errorf("q=%s: the page shows %q", tt.q, n)
			}
		}
	}
	_, page = c.do("GET", "/console/knowledge?q=XSS", nil)
	if strings.Contains(page, "<script>alert") || strings.Contains(page, "<img src=x") || !strings.Contains(page, "&lt;script&gt;alert(1)") {
		t.Errorf("an element is not shown as text:\n%s", page)
	}
	if !strings.Contains(page, "（未填写）") {
		t.Error("an empty element is not marked")
	}
}
