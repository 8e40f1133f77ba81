package audit

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/rexian/rexian/api"
)

// Filter selects records; zero fields select all.
type Filter struct {
	Actor  string // exact: "admin:li"
	Action string // exact: "pii_viewed"
	Target string // exact: "ticket:2026120600012"; a value ending in "*" matches by prefix
	Text   string // in detail or reason
	From   time.Time
	To     time.Time // exclusive
}

// Find returns one page of the records f selects, newest first, and whether there are more.
func (l *Log) Find(ctx context.Context, f Filter, page api.Page) ([]Record, bool, error) {
	q := l.db.WithContext(ctx).Model(&Record{})
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if t, ok := strings.CutSuffix(f.Target, "*"); ok {
		q = q.Where("target LIKE ? ESCAPE '\\'", likeEscape(t)+"%")
	} else if f.Target != "" {
		q = q.Where("target = ?", f.Target)
	}
	if f.Text != "" {
		pat := "%" + likeEscape(f.Text) + "%"
		q = q.Where("(detail LIKE ? ESCAPE '\\' OR reason LIKE ? ESCAPE '\\')", pat, pat)
	}
	if !f.From.IsZero() {
		q = q.Where("at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("at < ?", f.To.UTC())
	}
	rs := []Record{}
	if err := q.Order("seq DESC").Offset(page.Offset()).Limit(page.PerPage + 1).Find(&rs).Error; err != nil {
		return nil, false, fmt.Errorf("audit: find records: %w", err)
	}
	more := len(rs) > page.PerPage
	if more {
		rs = rs[:page.PerPage]
	}
	return rs, more, nil
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
