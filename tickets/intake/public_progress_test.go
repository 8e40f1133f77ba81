package intake

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rexian/rexian/tickets"
)

func TestPublicTimeline(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	heat := &tickets.DepartmentRef{Code: "HEAT", Name: "市热力公司"}
	timeline := []tickets.EventView{
		{Seq: 1, At: at, Actor: "operator:wang", Action: tickets.ActRegister, Note: "来电人情绪激动"},
		{Seq: 2, At: at, Actor: "operator:wang", Action: tickets.ActDispatch, Department: heat, Note: "内部：请优先"},
		{Seq: 3, At: at, Actor: "supervisor:liu", Action: tickets.ActUrge, Note: "督办"},
		{Seq: 4, At: at, Actor: "department:heat", Action: tickets.ActSign, Department: heat},
		{Seq: 5, At: at, Actor: "operator:wang", Action: tickets.ActApprove, Note: "审核通过"},
	}
	tests := []struct {
		name   string
		status tickets.Status
		want   []PublicStep
	}{
		{"closed shows the answer on the closing step", tickets.StatusCompleted, []PublicStep{
			{At: at, What: "受理"}, {At: at, What: "派单", Department: "市热力公司"}, {At: at, What: "签收", Department: "市热力公司"},
			{At: at, What: "办结", Note: "已修复"},
		}},
		{"reopened shows no result", tickets.StatusHandling, []PublicStep{
			{At: at, What: "受理"}, {At: at, What: "派单", Department: "市热力公司"}, {At: at, What: "签收", Department: "市热力公司"},
			{At: at, What: "办结"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &tickets.View{Status: tt.status, Answer: "已修复", Timeline: timeline}
			if diff := cmp.Diff(tt.want, PublicTimeline(v)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusLabelCoversEveryStatus(t *testing.T) {
	for _, s := range tickets.Statuses {
		if got := StatusLabel(s); got == string(s) || got == "" {
			t.Errorf("status %s has no citizen wording", s)
		}
	}
}
