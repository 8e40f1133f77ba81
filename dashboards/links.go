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
	base := periodValues(p, "from", "to")
	setGroup(base, g, key, "lead_department")
	// Extensions and returns are timeline events in the period, on any ticket, by the
	// department that asked or returned: the tickets with such an event.
	events := periodValues(p, "event_from", "event_to")
	setGroup(events, g, key, "event_department")
	st := make([]string, len(acceptedStatuses))
	for i, x := range acceptedStatuses {
		st[i] = string(x)
	}
	accepted := strings.Join(st, ",")
	return map[string]string{
		"extensions":        linkQuery(events, "event", string(tickets.ActApproveExtension)),
		"returns":           linkQuery(events, "event", string(tickets.ActReturn)),
		"accepted":          linkQuery(base, "status", accepted),
		"completed":         linkQuery(base, "status", string(tickets.StatusCompleted)),
		"completed_on_time": linkQuery(base, "status", string(tickets.StatusCompleted), "on_time", "true"),
		"overdue_now":       linkQuery(base, "status", accepted, "open", "true", "overdue", "true"),
	}
}

// periodValues are the period's bounds under the given parameter names.
func periodValues(p Period, from, to string) url.Values {
	q := url.Values{}
	q.Set(from, p.From.Format(time.RFC3339))
	q.Set(to, p.To.Format(time.RFC3339))
	return q
}

// setGroup adds the group's own filter; dept names the parameter that takes a
// department (the lists filter departments in different senses).
func setGroup(q url.Values, g Group, key, dept string) {
	switch g {
	case GroupDepartment:
		q.Set(dept, groupValue(key))
	case GroupDistrict:
		q.Set("district", groupValue(key))
	case GroupCategory:
		q.Set("category", key)
	case GroupChannel:
		q.Set("channel", groupValue(key))
	}
}

// linkQuery is the query string of base with the pairs kv set; base is not changed.
func linkQuery(base url.Values, kv ...string) string {
	q := url.Values{}
	for k, v := range base {
		q[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q.Encode()
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
	base := periodValues(p, "from", "to")
	base.Set("direction", "inbound")
	base.Set("ended", "true")
	return map[string]string{
		"offered":            linkQuery(base),
		"answered":           linkQuery(base, "outcome", answeredOutcome),
		"abandoned":          linkQuery(base, "outcome", "abandoned_menu,abandoned_queue"),
		"voicemails":         linkQuery(base, "outcome", "voicemail"),
		"busy":               linkQuery(base, "outcome", "busy"),
		"self_served":        linkQuery(base, "outcome", "status_lookup"),
		"callbacks":          linkQuery(base, "outcome", "callback"),
		"answered_in_target": linkQuery(base, "in_target", "true"),
	}
}

// surveyLinks are the GET /api/v1/callback/surveys query strings of a group's survey
// figures (see Figures.Surveys): surveys of completions in [from, to) that the figures
// count (counted=true: all but the skipped), the group's own key, exactly, and the
// figure's status or results.
func surveyLinks(p Period, g Group, key string) map[string]string {
	base := periodValues(p, "from", "to")
	base.Set("counted", "true")
	setGroup(base, g, key, "department")
	return map[string]string{
		"surveys_done":     linkQuery(base, "status", "done"),
		"surveys_answered": linkQuery(base, "result", "satisfied,fairly_satisfied,dissatisfied"),
		"satisfied":        linkQuery(base, "result", "satisfied,fairly_satisfied"),
	}
}
