package web

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/tickets"
)

// The ticket lists take the filters of GET /api/v1/tickets, so that every link the
// dashboards give (a figure's tickets) opens as a console list. The rules are the API's
// (tickets/http.go), with one difference kept from the search form: a bare date in "to"
// includes that day, as people type "1 to 31 January"; an RFC 3339 time is exact and,
// as in the API, excluded.

// filterParams are the query parameters a ticket list carries over from page to page,
// besides q and page.
var filterParams = []string{"status", "department", "lead_department", "district", "category", "channel",
	"overdue", "open", "on_time", "phone", "from", "to", "event", "event_from", "event_to", "event_department"}

// parseFilter reads the API's ticket filters from c into f.
func parseFilter(c *gin.Context, loc *time.Location, f *tickets.Filter) error {
	if s := strings.TrimSpace(c.Query("status")); s != "" {
		for _, x := range strings.Split(s, ",") {
			st := tickets.Status(strings.TrimSpace(x))
			if !st.Valid() {
				return api.Errorf(api.ErrInvalid, "unknown_status", "没有“%s”这种工单状态。", x)
			}
			f.Status = append(f.Status, st)
		}
	}
	f.Department = strings.TrimSpace(c.Query("department"))
	f.LeadDepartment = strings.TrimSpace(c.Query("lead_department"))
	f.District = strings.TrimSpace(c.Query("district"))
	f.Category = strings.TrimSpace(c.Query("category"))
	f.Phone = strings.TrimSpace(c.Query("phone"))
	f.EventDepartment = strings.TrimSpace(c.Query("event_department"))
	if s := strings.TrimSpace(c.Query("event")); s != "" {
		f.Event = tickets.Action(s)
		if actionNames[f.Event] == "" {
			return api.Errorf(api.ErrInvalid, "unknown_event", "没有“%s”这种办理记录。", s)
		}
	}
	if s := strings.TrimSpace(c.Query("channel")); s != "" {
		f.Channel = tickets.Channel(s)
		if !f.Channel.Valid() {
			return api.Errorf(api.ErrInvalid, "invalid_channel", "没有“%s”这种受理渠道。", s)
		}
	}
	for _, b := range []struct {
		name, label string
		dst         **bool
	}{{"overdue", "是否超期", &f.Overdue}, {"open", "是否未办结", &f.Open}, {"on_time", "是否按期办结", &f.OnTime}} {
		s := strings.TrimSpace(c.Query(b.name))
		if s == "" {
			continue
		}
		v, err := strconv.ParseBool(s)
		if err != nil {
			return api.Errorf(api.ErrInvalid, "invalid_"+b.name, "%s（%s）须为 true 或 false，而不是“%s”。", b.label, b.name, s)
		}
		*b.dst = &v
	}
	for _, d := range []struct {
		name, label string
		days        int
		dst         **time.Time
	}{{"from", "起始日期", 0, &f.From}, {"to", "截止日期", 1, &f.To},
		{"event_from", "办理记录起始日期", 0, &f.EventFrom}, {"event_to", "办理记录截止日期", 1, &f.EventTo}} {
		s := strings.TrimSpace(c.Query(d.name))
		if s == "" {
			continue
		}
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			*d.dst = &t
			continue
		}
		day, err := time.ParseInLocation("2006-01-02", s, loc)
		if err != nil {
			return api.Errorf(api.ErrInvalid, "invalid_"+d.name, "%s须为日期（如 2026-01-31），而不是“%s”。", d.label, s)
		}
		day = day.AddDate(0, 0, d.days)
		*d.dst = &day
	}
	return nil
}

// filterQuery is the query string of f's filters beyond the search box, for the next
// page and the hidden fields of the search form.
func filterQuery(c *gin.Context) url.Values {
	q := url.Values{}
	for _, k := range filterParams {
		if v := strings.TrimSpace(c.Query(k)); v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// describeFilter says in words which filters f applies beyond the text, the status
// choice and the dates the form shows, so that a list opened from a figure says what it
// lists.
func (h *Handler) describeFilter(ctx context.Context, f tickets.Filter) ([]string, error) {
	var out []string
	if len(f.Status) > 1 {
		names := make([]string, len(f.Status))
		for i, s := range f.Status {
			names[i] = nameOr(statusNames[s], string(s))
		}
		out = append(out, "状态："+strings.Join(names, "、"))
	}
	if f.Department != "" || f.LeadDepartment != "" || f.District != "" || f.EventDepartment != "" {
		dir, err := h.directory(ctx)
		if err != nil {
			return nil, err
		}
		dept := func(code, none string) string {
			if code == tickets.None {
				return none
			}
			return dir.name(code)
		}
		if f.LeadDepartment != "" {
			out = append(out, "主办单位："+dept(f.LeadDepartment, "未派单（无主办单位）"))
		}
		if f.Department != "" {
			out = append(out, "承办单位（含下级）："+dir.name(f.Department))
		}
		if f.District != "" {
			out = append(out, "所在旗区："+dept(f.District, "未指定"))
		}
		if f.EventDepartment != "" {
			out = append(out, "申请或退单的单位："+dept(f.EventDepartment, "未指定"))
		}
	}
	if f.Category != "" {
		cats, err := h.opts.Tickets.Categories(ctx)
		if err != nil {
			return nil, err
		}
		name := f.Category
		for _, c := range cats {
			if c.Code == f.Category {
				name = c.Name
			}
		}
		out = append(out, "类别："+name+"（含子类）")
	}
	if f.Channel != "" {
		out = append(out, "渠道："+nameOr(channelNames[f.Channel], string(f.Channel)))
	}
	yesNo := func(b *bool, yes, no string) string {
		if *b {
			return yes
		}
		return no
	}
	if f.Open != nil {
		out = append(out, yesNo(f.Open, "仅未办结", "仅已办结或终结"))
	}
	if f.Overdue != nil {
		out = append(out, yesNo(f.Overdue, "仅当前超期", "仅未超期"))
	}
	if f.OnTime != nil {
		out = append(out, yesNo(f.OnTime, "仅按期办结", "仅超期办结"))
	}
	if f.Phone != "" {
		out = append(out, "来电号码："+f.Phone)
	}
	if f.From != nil || f.To != nil {
		out = append(out, "受理时间："+h.span(f.From, f.To))
	}
	if f.Event != "" {
		what := "有“" + actionNames[f.Event] + "”记录"
		if f.EventFrom != nil || f.EventTo != nil {
			what += "，时间：" + h.span(f.EventFrom, f.EventTo)
		}
		out = append(out, what)
	}
	return out, nil
}

// span says a filter's [from, to) in words.
func (h *Handler) span(from, to *time.Time) string {
	at := func(t *time.Time) string { return t.In(h.opts.Location).Format("2006-01-02 15:04") }
	switch {
	case from != nil && to != nil:
		return at(from) + " 至 " + at(to) + "（不含）"
	case from != nil:
		return at(from) + " 起"
	}
	return at(to) + " 前"
}

// dateOf is a filter time as the search form's date field shows it: the day of from, the
// last day before to.
func dateOf(t *time.Time, end bool, loc *time.Location) string {
	if t == nil {
		return ""
	}
	x := t.In(loc)
	if end {
		x = x.Add(-time.Nanosecond)
	}
	return x.Format("2006-01-02")
}
