package dashboards

import (
	"errors"
	"strings"
	"testing"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/tickets"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ name, in, citizen, want string }{
		{"name", "王小明反映暖气不热，王小明家中有老人。", "王小明", "王某反映暖气不热，王某家中有老人。"},
		{"self-named", "我叫李四，住在小区。", "", "我叫李某，住在小区。"},
		{"mobile", "请回电13812345678。", "", "请回电[电话]。"},
		{"spaced mobile", "电话 138 1234 5678 谢谢", "", "电话 [电话] 谢谢"},
		{"landline", "座机0477-8581234", "", "座机[电话]"},
		{"id number", "身份证号15020219800101123X，请核实", "", "身份证号[身份证号]，请核实"},
		{"email", "邮箱 zhang.san@example.com", "", "邮箱 [邮箱]"},
		{"house", "鄂尔多斯大街12号3单元501室", "", "鄂尔多斯大街*号*单元*室"},
		{"dashed house", "住在5-2-301", "", "住在*"},
		{"chinese numerals", "三号楼二单元", "", "*号楼*单元"},
		{"dates stay", "2026-11-23 反映，11月23日处理", "", "2026-11-23 反映，11月23日处理"},
		{"hotline stays", "拨打12345热线", "", "拨打12345热线"},
		{"nothing", "暖气不热", "张三", "暖气不热"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Redact(tc.in, tc.citizen); got != tc.want {
				t.Errorf("Redact(%q) = %q; want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzRedact checks that whatever surrounds them, a mobile number and the citizen's
// name never survive.
func FuzzRedact(f *testing.F) {
	f.Add("住在鄂尔多斯大街12号", "王小明")
	f.Add("2026-11-23", "")
	f.Fuzz(func(t *testing.T, before, after string) {
		out := Redact(before+"王小明 13812345678"+after, "王小明")
		if strings.Contains(out, "13812345678") || strings.Contains(out, "王小明") {
			t.Errorf("Redact kept personal data: %q", out)
		}
	})
}

func TestPublish(t *testing.T) {
	e := newEnv(t)
	n := e.ticket("ZX-SB", func(in *tickets.NewTicket) {
		in.Dispatch = nil
		in.Content = "我是王小明，电话13812345678，住康巴什区某路12号，社保卡丢了怎么办？"
		in.Answer = "王小明您好：携带身份证到社保大厅补办。"
	})
	a, err := e.svc.Publish(e.ctx, supervisor, PublishRequest{Ticket: n})
	if err != nil {
		t.Fatal(err)
	}
	if a.Question != "我是王某，电话[电话]，住康巴什区某路*号，社保卡丢了怎么办？" || a.Reply != "王某您好：携带身份证到社保大厅补办。" {
		t.Errorf("published %q / %q", a.Question, a.Reply)
	}
	a2, err := e.svc.Publish(e.ctx, supervisor, PublishRequest{Ticket: n, Title: "社保卡补办（王小明）"})
	if err != nil || a2.ID != a.ID || a2.Title != "社保卡补办（王某）" {
		t.Errorf("publishing again: %+v, %v", a2, err)
	}
	list, _, err := e.svc.PublishedAnswers(e.ctx, api.Page{Page: 1, PerPage: 10})
	if err != nil || len(list) != 1 {
		t.Fatalf("list %+v, %v", list, err)
	}
	open := e.ticket("TS-GN", nil)
	for name, tc := range map[string]struct {
		in   PublishRequest
		kind error
	}{
		"open":    {PublishRequest{Ticket: open}, api.ErrConflict},
		"missing": {PublishRequest{Ticket: "2600000000"}, api.ErrNotFound},
		"empty":   {PublishRequest{}, api.ErrInvalid},
	} {
		if _, err := e.svc.Publish(e.ctx, supervisor, tc.in); !errors.Is(err, tc.kind) {
			t.Errorf("%s: %v; want %v", name, err, tc.kind)
		}
	}
	if _, err := e.svc.Publish(e.ctx, e.department("HEAT"), PublishRequest{Ticket: n}); !errors.Is(err, api.ErrForbidden) {
		t.Errorf("a department publishes: %v", err)
	}
	if err := e.svc.Withdraw(e.ctx, supervisor, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PublishedAnswer(e.ctx, a.ID); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("a withdrawn answer: %v", err)
	}
	if err := e.svc.Withdraw(e.ctx, supervisor, a.ID); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("withdrawing twice: %v", err)
	}
}
