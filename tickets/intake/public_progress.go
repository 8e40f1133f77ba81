// Package intake holds what the channels that open tickets (tickets/intake/…) share.
package intake

import (
	"strings"
	"time"

	"github.com/rexian/rexian/tickets"
)

// This file turns a ticket into what a citizen may be told about its progress. The web
// status page, the QQ "查询" answer and Open311's status_notes all show the same words,
// so that a citizen who asks on two channels hears the same thing.

// StatusLabel is a ticket status in the words the citizen sees. The steps inside the
// departments (signed for, replied, returned) are all "being handled" to the citizen.
func StatusLabel(s tickets.Status) string {
	switch s {
	case tickets.StatusRegistered:
		return "已受理，等待派单"
	case tickets.StatusDispatched:
		return "已派单，等待承办单位签收"
	case tickets.StatusHandling, tickets.StatusReturned:
		return "办理中"
	case tickets.StatusReplied:
		return "承办单位已答复，正在审核"
	case tickets.StatusCompleted:
		return "已办结"
	case tickets.StatusRefused:
		return "不予受理"
	case tickets.StatusMerged:
		return "已合并到相同诉求的工单办理"
	}
	return string(s)
}

// PublicStep is one timeline entry as the citizen may see it: no operator names, no
// internal notes; only results meant for the citizen carry their text.
type PublicStep struct {
	At         time.Time
	What       string // 受理, 派单, …
	Department string // the department involved, if any
	Note       string // the answer or refusal told to the citizen; empty otherwise
}

// publicActions are the timeline actions a citizen is shown, with their wording. Anything
// else (urges, send-backs, returns, attachments, overdue marks) is internal.
var publicActions = map[tickets.Action]string{
	tickets.ActRegister:         "受理",
	tickets.ActDispatch:         "派单",
	tickets.ActRedispatch:       "转办",
	tickets.ActSign:             "签收",
	tickets.ActApproveExtension: "延期办理",
	tickets.ActApprove:          "办结",
	tickets.ActAnswer:           "办结",
	tickets.ActReopen:           "重新办理",
	tickets.ActRefuse:           "不予受理",
	tickets.ActMerge:            "合并办理",
}

// closing marks the actions that close a ticket with a result for the citizen.
var closing = map[tickets.Action]bool{
	tickets.ActApprove: true,
	tickets.ActAnswer:  true,
	tickets.ActRefuse:  true,
}

// PublicTimeline lists the steps of v a citizen may see, oldest first. Event notes are
// written for colleagues and stay internal; the step that closed the ticket carries the
// result told to the citizen instead.
func PublicTimeline(v *tickets.View) []PublicStep {
	var out []PublicStep
	lastClose := -1
	for _, e := range v.Timeline {
		what, ok := publicActions[e.Action]
		if !ok {
			continue
		}
		st := PublicStep{At: e.At, What: what}
		if e.Department != nil {
			st.Department = e.Department.Name
		}
		if closing[e.Action] {
			lastClose = len(out)
		}
		out = append(out, st)
	}
	if lastClose >= 0 && !v.Status.Open() {
		out[lastClose].Note = ResultText(v)
	}
	return out
}

// ResultText is the result told to the citizen when the ticket is closed: the verified
// answer, the refusal reason, or where it was merged.
func ResultText(v *tickets.View) string {
	switch v.Status {
	case tickets.StatusCompleted, tickets.StatusRefused:
		// A refusal's answer is the reason's wording plus the desk's explanation.
		return v.Answer
	case tickets.StatusMerged:
		if v.MergedInto != "" {
			return "已并入工单 " + v.MergedInto + " 一并办理"
		}
	}
	return ""
}

// PlaceName is how citizens name a banner/district or township: its government's name
// without the "人民政府" or "办事处" of the office (东胜区人民政府 → 东胜区,
// 交通街道办事处 → 交通街道).
func PlaceName(government string) string {
	for _, suffix := range []string{"人民政府", "办事处"} {
		government = strings.TrimSuffix(government, suffix)
	}
	return government
}
