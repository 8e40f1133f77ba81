package config

import "time"

// Dashboards configures the supervisors' red and yellow cards (红黄牌).
type Dashboards struct {
	// YellowOnOverdue issues a yellow card to the lead department each time a ticket
	// goes overdue.
	YellowOnOverdue bool `yaml:"yellow_on_overdue"`
	// RedOnDoubleOverdue issues a red card for an open ticket late by more than its own
	// time limit again.
	RedOnDoubleOverdue bool `yaml:"red_on_double_overdue"`
	// RedAfterYellows is how many yellow cards in a month make a red one; 0 turns it off.
	RedAfterYellows int `yaml:"red_after_yellows"`
	// CardInterval is how often the card worker looks for new causes.
	CardInterval time.Duration `yaml:"card_interval"`
	// CardLookback is how far back it looks; a worker stopped for longer misses older causes.
	CardLookback time.Duration `yaml:"card_lookback"`
}

// DefaultDashboards are the usual card rules.
func DefaultDashboards() Dashboards {
	return Dashboards{YellowOnOverdue: true, RedOnDoubleOverdue: true, RedAfterYellows: 3,
		CardInterval: time.Minute, CardLookback: 92 * 24 * time.Hour}
}

func (d Dashboards) validate(bad func(path, format string, args ...any)) {
	if d.RedAfterYellows < 0 {
		bad("dashboards.red_after_yellows", "must be 0 (off) or more, not %d", d.RedAfterYellows)
	}
	if d.CardInterval < time.Second {
		bad("dashboards.card_interval", "must be at least 1s, not %s", d.CardInterval)
	}
	if d.CardLookback < time.Minute {
		bad("dashboards.card_lookback", "must be at least 1m, not %s", d.CardLookback)
	}
}
