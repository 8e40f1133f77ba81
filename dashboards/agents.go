package dashboards

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// AgentFigures are the operators' time in the period, from the state log the telephone
// controller writes (ivr_agent_spells), each stretch counted in the period it began:
//   - Occupancy (占用率): talking and wrapping up over the time available for calls
//     (ready, ringing, talking, wrapping up); not-ready time is left out, as contact
//     centres count it.
//   - Handled: conversations; AvgHandleSeconds (平均处理时长): talk plus wrap-up per
//     conversation.
//   - NotReady: not-ready time by the reason the operator gave (小休, 培训, 会议, 就餐, or
//     the controller's own: no_answer, unreachable).
//
// Available is false while the state log does not exist (telephony never migrated).
type AgentFigures struct {
	Available        bool         `json:"available"`
	Occupancy        *float64     `json:"occupancy"`
	Handled          int64        `json:"handled"`
	AvgHandleSeconds *float64     `json:"avg_handle_seconds"`
	TalkSeconds      float64      `json:"talk_seconds"`
	WrapUpSeconds    float64      `json:"wrap_up_seconds"`
	IdleSeconds      float64      `json:"idle_seconds"` // ready or ringing
	NotReadySeconds  float64      `json:"not_ready_seconds"`
	NotReady         []ReasonTime `json:"not_ready"`
}

// ReasonTime is the not-ready time given one reason.
type ReasonTime struct {
	Reason  string  `json:"reason"`
	Seconds float64 `json:"seconds"`
}

// agentFigures sums the operators' state log of [from, to).
func (s *Service) agentFigures(ctx context.Context, from, to time.Time) (AgentFigures, error) {
	var f AgentFigures
	db := s.read.WithContext(ctx)
	if !db.Migrator().HasTable("ivr_agent_spells") {
		return f, nil
	}
	f.Available = true
	var rows []struct {
		State  string
		Reason string
		N      int64
		MS     int64
	}
	err := db.Raw(`SELECT state, COALESCE(reason, '') AS reason, COUNT(*) AS n, COALESCE(SUM(ms), 0) AS ms
		FROM ivr_agent_spells WHERE started_at >= ? AND started_at < ? GROUP BY state, reason`, from, to).Scan(&rows).Error
	if err != nil {
		return f, fmt.Errorf("dashboards: operator figures: %w", err)
	}
	byReason := map[string]float64{}
	for _, r := range rows {
		secs := float64(r.MS) / 1000
		switch r.State {
		case "busy":
			f.Handled += r.N
			f.TalkSeconds += secs
		case "wrap_up":
			f.WrapUpSeconds += secs
		case "ready", "offered":
			f.IdleSeconds += secs
		case "paused":
			f.NotReadySeconds += secs
			byReason[r.Reason] += secs
		}
	}
	for reason, secs := range byReason {
		f.NotReady = append(f.NotReady, ReasonTime{Reason: reason, Seconds: secs})
	}
	sort.Slice(f.NotReady, func(i, j int) bool {
		if f.NotReady[i].Seconds != f.NotReady[j].Seconds {
			return f.NotReady[i].Seconds > f.NotReady[j].Seconds
		}
		return f.NotReady[i].Reason < f.NotReady[j].Reason
	})
	if avail := f.TalkSeconds + f.WrapUpSeconds + f.IdleSeconds; avail > 0 {
		occ := (f.TalkSeconds + f.WrapUpSeconds) / avail
		f.Occupancy = &occ
	}
	if f.Handled > 0 {
		aht := (f.TalkSeconds + f.WrapUpSeconds) / float64(f.Handled)
		f.AvgHandleSeconds = &aht
	}
	return f, nil
}
