package dashboards

import (
	"net/url"
	"strings"
	"time"

	"github.com/rexian/rexian/tickets"
)

// ticketLinks are the GET /api/v1/tickets query strings of a group's figures.
func ticketLinks(p Period, g Group, key string) map[string]string {
	base := url.Values{}
	base.Set("from", p.From.Format(time.RFC3339))
	base.Set("to", p.To.Format(time.RFC3339))
	switch {
	case key == noKey:
		return nil // the tickets API cannot ask for "no department"
	case g == GroupDepartment || g == GroupDistrict:
		base.Set("department", key)
	case g == GroupCategory:
		base.Set("category", key)
	case g == GroupChannel:
		base.Set("channel", key)
	}
	with := func(k, v string) string {
		q := url.Values{}
		for a, b := range base {
			q[a] = b
		}
		q.Set(k, v)
		return q.Encode()
	}
	st := make([]string, len(acceptedStatuses))
	for i, x := range acceptedStatuses {
		st[i] = string(x)
	}
	return map[string]string{
		"accepted":    with("status", strings.Join(st, ",")),
		"completed":   with("status", string(tickets.StatusCompleted)),
		"overdue_now": with("overdue", "true") + "&open=true",
	}
}
