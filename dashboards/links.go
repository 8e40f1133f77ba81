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
	return map[string]string{
		"accepted":    with("status", accepted),
		"completed":   with("status", string(tickets.StatusCompleted)),
		"overdue_now": with("status", accepted, "open", "true", "overdue", "true"),
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
