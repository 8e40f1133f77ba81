package web

import (
	"html/template"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/callback"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/tickets"
)

// The words the pages use for the workflow's codes.
var (
	statusNames = map[tickets.Status]string{
		tickets.StatusRegistered: "待派单", tickets.StatusDispatched: "待签收", tickets.StatusHandling: "办理中",
		tickets.StatusReplied: "待审核", tickets.StatusReturned: "退单待审定", tickets.StatusCompleted: "已办结",
		tickets.StatusRefused: "不予受理", tickets.StatusMerged: "重复件",
	}
	channelNames = map[tickets.Channel]string{
		tickets.ChannelPhone: "电话", tickets.ChannelVoicemail: "语音留言", tickets.ChannelMailbox: "市长信箱",
		tickets.ChannelQQ: "QQ", tickets.ChannelWeb: "网上诉求", tickets.ChannelOpen311: "Open311",
		tickets.ChannelSMS: "短信", tickets.ChannelWalkIn: "来访",
	}
	actionNames = map[tickets.Action]string{
		tickets.ActRegister: "受理", tickets.ActDispatch: "派单", tickets.ActSign: "签收", tickets.ActRedispatch: "下派",
		tickets.ActReply: "回复", tickets.ActReturn: "退单", tickets.ActAcceptReturn: "同意退单", tickets.ActRejectReturn: "驳回退单",
		tickets.ActApprove: "审核通过", tickets.ActSendBack: "退回重办", tickets.ActRequestExtension: "申请延期",
		tickets.ActApproveExtension: "批准延期", tickets.ActRefuseExtension: "不批准延期", tickets.ActUrge: "督办",
		tickets.ActAnswer: "直接办结", tickets.ActReopen: "重新打开", tickets.ActMerge: "合并重复件", tickets.ActRefuse: "不予受理",
		tickets.ActOverdue: "超期", tickets.ActAttach: "上传附件", tickets.ActNote: "备注",
		tickets.ActImportedRegister: "受理（历史导入）", tickets.ActImportedDispatch: "派单（历史导入）",
		tickets.ActImportedReply: "回复（历史导入）", tickets.ActImportedComplete: "办结（历史导入）",
	}
	assignmentNames = map[tickets.AssignmentStatus]string{
		tickets.AssignDispatched: "待签收", tickets.AssignSigned: "办理中", tickets.AssignReplied: "已回复",
		tickets.AssignReturned: "已退单", tickets.AssignClosed: "已结束", tickets.AssignDelegated: "已下派",
	}
	agentStates = map[ivr.AgentState]string{ivr.AgentReady: "就绪", ivr.AgentPaused: "示忙", ivr.AgentOffered: "振铃",
		ivr.AgentBusy: "通话中", ivr.AgentWrapUp: "话后整理"}
	urgencyNames = map[tickets.Urgency]string{tickets.UrgencyNormal: "一般", tickets.UrgencyUrgent: "紧急", tickets.UrgencyCritical: "特急"}
)

func (h *Handler) funcs() template.FuncMap {
	return template.FuncMap{
		"datetime": func(v any) string {
			t := timeOf(v)
			if t.IsZero() {
				return ""
			}
			return t.In(h.opts.Location).Format("2006-01-02 15:04")
		},
		"rfc3339": func(v any) string {
			t := timeOf(v)
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.RFC3339)
		},
		"status":     func(s tickets.Status) string { return nameOr(statusNames[s], string(s)) },
		"channel":    func(c tickets.Channel) string { return nameOr(channelNames[c], string(c)) },
		"action":     func(a tickets.Action) string { return nameOr(actionNames[a], string(a)) },
		"assignment": func(a tickets.AssignmentStatus) string { return nameOr(assignmentNames[a], string(a)) },
		"urgency":    func(u tickets.Urgency) string { return nameOr(urgencyNames[u], string(u)) },
		"ms":         func(ms int64) string { return duration(time.Duration(ms) * time.Millisecond) },
		"kb":         func(n int64) string { return strconv.FormatInt((n+1023)/1024, 10) + " KB" },
		"agentState": agentLabel,
		"timezone": func() string {
			// "Local" means nothing to a browser; it then shows its own zone.
			if n := h.opts.Location.String(); n != "Local" {
				return n
			}
			return ""
		},
		"inc":             func(n int) int { return n + 1 },
		"phoneLabel":      phoneLabel,
		"browserPhone":    isBrowserPhone,
		"softphoneKeys":   func() []string { return []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"} },
		"place":           place,
		"manualReason":    manualReason,
		"cardRule":        cardRule,
		"callOutcome":     callOutcome,
		"outcome":         outcomeName,
		"roleName":        func(r auth.Role) string { return optionLabel(roleOptions, string(r)) },
		"levelName":       func(l tickets.Level) string { return optionLabel(levelOptions, string(l)) },
		"kindName":        func(k tickets.Kind) string { return optionLabel(kindOptions, string(k)) },
		"indent":          func(depth int) string { return strings.Repeat("　", depth) },
		"direction":       func(d string) string { return nameOr(directionNames[d], d) },
		"surveyStatus":    func(s callback.Status) string { return nameOr(surveyStatuses[s], string(s)) },
		"surveyResult":    func(r callback.Result) string { return nameOr(surveyResults[r], string(r)) },
		"surveyChannel":   func(c callback.Channel) string { return nameOr(surveyChannels[c], string(c)) },
		"callbackResults": func() any { return callbackResults },
		"statuses": func() map[string]string {
			out := map[string]string{}
			for k, v := range statusNames {
				out[string(k)] = v
			}
			return out
		},
		// can reports whether the viewer may take action on the ticket now: the workflow's
		// own answer (View.Actions), so that no page offers what the store would refuse.
		"can": func(v *tickets.View, a tickets.Action) bool { return v != nil && slices.Contains(v.Actions, a) },
		// picker hands the department picker its id, field name, chosen code and the
		// text of its empty choice.
		"picker": func(d *directory, id, name, selected, empty string) map[string]any {
			return map[string]any{"Dir": d, "ID": id, "Name": name, "Selected": selected, "Empty": empty}
		},
		// listOf hands the shared ticket list its rows and where their links go.
		"listOf": func(base string, items []tickets.Summary) map[string]any {
			return map[string]any{"Base": base, "Items": items}
		},
	}
}

// optionLabel is the label of value among opts, or value itself.
func optionLabel(opts []option, value string) string {
	for _, o := range opts {
		if o.Value == value {
			return o.Label
		}
	}
	return value
}

func nameOr(name, code string) string {
	if name == "" {
		return code
	}
	return name
}

func timeOf(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return x
	case *time.Time:
		if x != nil {
			return *x
		}
	}
	return time.Time{}
}

func itoa(n int) string { return strconv.Itoa(n) }

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// statusOf is the HTTP status of a failed form post.
func statusOf(err error) int { return api.Status(err) }

// agentLabel is an operator's state as the room says it: a not-ready operator shows the
// reason (小休, 培训 …), since that is what a supervisor wants to know.
func agentLabel(a ivr.Agent) string {
	if a.State == ivr.AgentPaused && a.Reason != "" {
		return pauseReasonName(a.Reason)
	}
	return nameOr(agentStates[a.State], string(a.State))
}

// pauseReasonName names a not-ready reason; the controller's own are explained.
func pauseReasonName(r string) string {
	switch r {
	case ivr.PauseNoAnswer:
		return "未接听（系统示忙）"
	case ivr.PauseUnreachable:
		return "分机不可达（系统示忙）"
	case "":
		return "示忙"
	}
	return r
}
