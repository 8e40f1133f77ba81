package ivr

import (
	"context"
	"strconv"
	"strings"

	"github.com/rexian/rexian/tickets"
)

// status is the ticket-progress lookup: the caller keys a ticket number and #. back
// reports that the caller asked to return to the menu.
func (c *call) status(ctx context.Context) (back bool, err error) {
	cfg := c.ctrl.cfg.Status
	for try := 0; try < cfg.Tries; try++ {
		if err := c.play(ctx, true, c.sound("status-ask")); err != nil {
			return false, err
		}
		raw, err := c.collect(ctx, cfg.MaxDigits, cfg.DigitWait)
		if err != nil {
			return false, err
		}
		if raw == "" {
			continue
		}
		// The check digit catches a mistyped or swapped digit before any lookup.
		if strings.HasSuffix(raw, "+") || !tickets.CheckNumber(raw) {
			c.log.Info("ivr: status lookup with a wrong number", "keyed", strings.TrimSuffix(raw, "+"))
			if err := c.play(ctx, true, c.sound("status-wrong")); err != nil {
				return false, err
			}
			continue
		}
		return c.speakStatus(ctx, raw)
	}
	return false, c.play(ctx, false, c.sound("goodbye"))
}

// speakStatus says a ticket's status, department and due date, and offers to repeat.
func (c *call) speakStatus(ctx context.Context, number string) (back bool, err error) {
	v, err := c.ctrl.findTicket(ctx, number)
	if err != nil {
		c.log.Warn("ivr: status lookup failed", "ticket", number, "err", err)
		return false, c.play(ctx, false, c.sound("error-try-later"))
	}
	if v == nil {
		if err := c.play(ctx, true, c.sound("status-not-found")); err != nil {
			return false, err
		}
		return true, nil
	}
	media := c.statusMedia(v)
	for {
		if err := c.play(ctx, true, media...); err != nil {
			return false, err
		}
		if err := c.play(ctx, true, c.sound("status-repeat")); err != nil {
			return false, err
		}
		k, err := c.waitDigit(ctx, c.ctrl.cfg.Status.DigitWait)
		if err != nil {
			return false, err
		}
		switch k {
		case '1':
			continue
		case '0':
			return true, nil
		default:
			return false, c.play(ctx, false, c.sound("goodbye"))
		}
	}
}

// statusMedia is what the caller hears: prompts for the fixed words, digits: and
// number: for the values (Asterisk reads them in the channel's language).
func (c *call) statusMedia(v *tickets.View) []string {
	m := []string{c.sound("status-number"), "digits:" + v.Number, c.sound("status-" + string(v.Status))}
	if v.LeadDepartment != nil && v.LeadDepartment.Code != "" {
		// Department names are rendered by `rexian prompts --departments` as dept-<code>.
		m = append(m, c.sound("status-department"), c.sound("dept-"+strings.ToLower(v.LeadDepartment.Code)))
	}
	if v.DueAt != nil && v.CompletedAt == nil && v.Status != tickets.StatusRefused && v.Status != tickets.StatusMerged {
		due := v.DueAt.In(c.ctrl.loc)
		m = append(m, c.sound("status-due"),
			"number:"+strconv.Itoa(int(due.Month())), c.sound("status-month"),
			"number:"+strconv.Itoa(due.Day()), c.sound("status-day"))
	}
	return m
}
