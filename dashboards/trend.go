package dashboards

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// TrendPoint is one bucket of a trend: the tickets registered in it that count, and of
// them those completed now, as in Figures.
type TrendPoint struct {
	From      time.Time         `json:"from"`
	To        time.Time         `json:"to"`
	Accepted  int64             `json:"accepted"`
	Completed int64             `json:"completed"`
	Tickets   map[string]string `json:"tickets,omitempty"`
}

// Trend computes the accepted and completed figures of each bucket, buckets being
// consecutive half-open periods that begin and end at the city's midnights (days or
// months). It reads the whole range once: the roll-ups by day, and the days counted live
// bucket by bucket, so a quarter's trend costs about what one figure set does.
func (s *Service) Trend(ctx context.Context, who *auth.Principal, buckets []Period) ([]TrendPoint, error) {
	if !who.Is(auth.RoleSupervisor) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "only supervisors see the figures")
	}
	if len(buckets) == 0 {
		return nil, nil
	}
	out := make([]TrendPoint, len(buckets))
	for i, b := range buckets {
		if !b.To.After(b.From) || (i > 0 && !b.From.Equal(buckets[i-1].To)) {
			return nil, api.Errorf(api.ErrInvalid, "invalid_buckets", "trend buckets must be consecutive and not empty")
		}
		out[i] = TrendPoint{From: b.From.In(s.opts.Location), To: b.To.In(s.opts.Location), Tickets: ticketLinks(b, GroupNone, "")}
	}
	from, to := buckets[0].From.UTC(), buckets[len(buckets)-1].To.UTC()
	pl, err := s.plan(ctx, from, to)
	if err != nil {
		return nil, err
	}
	at := func(t time.Time) int {
		i := sort.Search(len(buckets), func(i int) bool { return buckets[i].To.After(t) })
		if i < len(buckets) && !t.Before(buckets[i].From) {
			return i
		}
		return -1
	}
	if len(pl.tickets.rolled) > 0 {
		var rows []struct {
			Day                 string
			Accepted, Completed int64
		}
		w, args := rangesWhere(pl.tickets.rolled)
		err := s.read.WithContext(ctx).Raw(`SELECT day, CAST(SUM(accepted) AS BIGINT) AS accepted, CAST(SUM(completed) AS BIGINT) AS completed
			FROM dash_day_tickets WHERE dim = ? AND `+w+` GROUP BY day`, append([]any{dimOf(GroupNone)}, args...)...).Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("dashboards: trend: %w", err)
		}
		for _, r := range rows {
			if i := at(s.dayStart(r.Day)); i >= 0 {
				out[i].Accepted += r.Accepted
				out[i].Completed += r.Completed
			}
		}
	}
	// The live spans, cut at the buckets' edges: usually today and a day or two.
	for _, sp := range pl.tickets.live {
		for i, b := range buckets {
			a, z := maxTime(sp.from, b.From.UTC()), minTime(sp.to, b.To.UTC())
			if !z.After(a) {
				continue
			}
			var r struct{ Accepted, Completed int64 }
			err := s.read.WithContext(ctx).Raw(`SELECT COUNT(*) AS accepted, COALESCE(SUM(CASE WHEN t.status = ? THEN 1 ELSE 0 END), 0) AS completed
				FROM tickets t WHERE t.created_at >= ? AND t.created_at < ? AND t.status IN ?`,
				tickets.StatusCompleted, a.UTC(), z.UTC(), acceptedStatuses).Scan(&r).Error
			if err != nil {
				return nil, fmt.Errorf("dashboards: trend: %w", err)
			}
			out[i].Accepted += r.Accepted
			out[i].Completed += r.Completed
		}
	}
	return out, nil
}
