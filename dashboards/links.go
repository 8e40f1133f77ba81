package dashboards

import (
	"net/url"
	"strings"
	"time"

	"github.com/rexian/rexian/tickets"
)

// ticketLinks are the GET /api/v1/tickets query strings of a group's figures. Each asks
// for what the figure counts and nothing else: registration time in [from, to), the
// counted statuses, and the group's own column, exactly (see Figures.Tickets).
func ticketLinks(p Period, g Group, key string) map[string]string {
	base := url.Values{}
	base.Set("from", p.From.Format(time.RFC3339))
	base.Set("to", p.To.Format(time.RFC3339))
	switch g {
	case GroupDepartment:
		base.Set("lead_department", groupValue(key))
	case GroupDistrict:
		base.Set("district", groupValue(key))
	case GroupCategory:
		base.Set("category", key)
	case GroupChannel:
		base.Set("channel", key)
	}
	with := func(kv ...string) string {
		q := url.Values{}
		for a, b := range base {
			q[a] = b
		}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q.Encode()
	}
	st := make([]string, len(acceptedStatuses))
	for i, x := range acceptedStatuses {
		st[i] = string(x)
	}
	accepted := strings.Join(st, ",")
	// Extensions and returns are timeline events in the period, on any ticket, by the
	// department that asked or returned: the tickets with such an event.
	ev := url.Values{}
	ev.Set("event_from", p.From.Format(time.RFC3339))
	ev.Set("event_to", p.To.Format(time.RFC3339))
	switch g {
	case GroupDepartment:
		ev.Set("event_department", groupValue(key))
	case GroupDistrict:
		ev.Set("district", groupValue(key))
	case GroupCategory:
		ev.Set("category", key)
	case GroupChannel:
		ev.Set("channel", key)
	}
	event := func(a tickets.Action) string {
		q := url.Values{}
		for k, v := range ev {
			q[k] = v
		}
		q.Set("event", string(a))
		return q.Encode()
	}
	return map[string]string{
		"extensions":        event(tickets.ActApproveExtension),
		"returns":           event(tickets.ActReturn),
		"accepted":          with("status", accepted),
		"completed":         with("status", string(tickets.StatusCompleted)),
		"completed_on_time": with("status", string(tickets.StatusCompleted), "on_time", "true"),
		"overdue_now":       with("status", accepted, "open", "true", "overdue", "true"),
	}
}

// groupValue is the tickets filter value of a department or district group: the "none"
// group (no lead department, no district) asks for tickets without one.
func groupValue(key string) string {
	if key == noKey {
		return tickets.None
	}
	return key
}

// callLinks are the GET /api/v1/ivr/calls query strings of the call figures (see
// CallFigures.Links): inbound calls that arrived in [from, to) and have an outcome, and
// of those the figure's outcomes, or the ones answered within the target.
func callLinks(p Period) map[string]string {
	with := func(kv ...string) string {
		q := url.Values{}
		q.Set("from", p.From.Format(time.RFC3339))
		q.Set("to", p.To.Format(time.RFC3339))
		q.Set("direction", "inbound")
		q.Set("ended", "true")
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q.Encode()
	}
	return map[string]string{
		"offered":            with(),
		"answered":           with("outcome", answeredOutcome),
		"abandoned":          with("outcome", "abandoned_menu,abandoned_queue"),
		"voicemails":         with("outcome", "voicemail"),
		"busy":               with("outcome", "busy"),
		"self_served":        with("outcome", "status_lookup"),
		"callbacks":          with("outcome", "callback"),
		"answered_in_target": with("in_target", "true"),
	}
}

// surveyLinks are the GET /api/v1/callback/surveys query strings of a group's survey
// figures (see Figures.Surveys): surveys of completions in [from, to) that the figures
// count (counted=true: all but the skipped), the group's own key, exactly, and the
// figure's status or results.
func surveyLinks(p Period, g Group, key string) map[string]string {
	with := func(kv ...string) string {
		q := url.Values{}
		q.Set("from", p.From.Format(time.RFC3339))
		q.Set("to", p.To.Format(time.RFC3339))
		q.Set("counted", "true")
		switch g {
		case GroupDepartment:
			q.Set("department", groupValue(key))
		case GroupDistrict:
			q.Set("district", groupValue(key))
		case GroupCategory:
			q.Set("category", key)
		case GroupChannel:
			q.Set("channel", groupValue(key))
		}
		for i := 0; i+1 < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q.Encode()
	}
	return map[string]string{
		"surveys_done":     with("status", "done"),
		"surveys_answered": with("result", "satisfied,fairly_satisfied,dissatisfied"),
		"satisfied":        with("result", "satisfied,fairly_satisfied"),
	}
}
