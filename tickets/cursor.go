package tickets

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// EventCursor is a worker's position in the event log, for the workers that derive work
// from it (SMS receipts and results, satisfaction surveys): they read the events after
// the cursor, act on them idempotently, and move the cursor on. The cursor lives in the
// worker's own table (columns name, value, updated_at), so each package keeps its state.
type EventCursor struct {
	Table string // e.g. sms_cursors
	Name  string // the cursor's row in Table
	// Lookback is where a new cursor starts: events older than this are never read, so
	// that turning a worker on does not act on the whole history.
	Lookback time.Duration
	// Lag keeps the cursor behind events younger than this: an event id is taken before
	// its transaction commits, so a later id can be visible before an earlier one, and the
	// worker must read that stretch again.
	Lag time.Duration
}

// Load returns the cursor, creating it on the first pass.
func (c EventCursor) Load(ctx context.Context, db *gorm.DB, now time.Time) (uint64, error) {
	var vals []uint64
	if err := db.WithContext(ctx).Table(c.Table).Where("name = ?", c.Name).Limit(1).Pluck("value", &vals).Error; err != nil {
		return 0, fmt.Errorf("event cursor %s: %w", c.Name, err)
	}
	if len(vals) == 1 {
		return vals[0], nil
	}
	var start uint64
	if err := db.WithContext(ctx).Model(&Event{}).Select("COALESCE(MAX(id), 0)").
		Where("at < ?", now.Add(-c.Lookback)).Scan(&start).Error; err != nil {
		return 0, fmt.Errorf("event cursor %s: first position: %w", c.Name, err)
	}
	row := map[string]any{"name": c.Name, "value": start, "updated_at": now}
	if err := db.WithContext(ctx).Table(c.Table).Clauses(clause.OnConflict{DoNothing: true}).Create(row).Error; err != nil {
		return 0, fmt.Errorf("event cursor %s: create: %w", c.Name, err)
	}
	// Another instance may have created it first: theirs stands.
	if err := db.WithContext(ctx).Table(c.Table).Where("name = ?", c.Name).Limit(1).Pluck("value", &vals).Error; err != nil || len(vals) != 1 {
		return 0, fmt.Errorf("event cursor %s: read back: %v", c.Name, err)
	}
	return vals[0], nil
}

// Advance moves the cursor past the n events just handled (event(i) gives the id and
// time of the i-th, in id order), up to the last one older than Lag, and returns the new
// position. It never moves a cursor backwards.
func (c EventCursor) Advance(ctx context.Context, db *gorm.DB, cur uint64, now time.Time, n int, event func(i int) (uint64, time.Time)) (uint64, error) {
	next := cur
	for i := 0; i < n; i++ {
		id, at := event(i)
		if at.After(now.Add(-c.Lag)) {
			break
		}
		next = id
	}
	if next > cur {
		err := db.WithContext(ctx).Exec("UPDATE "+c.Table+" SET value = ?, updated_at = ? WHERE name = ? AND value < ?",
			next, now, c.Name, next).Error
		if err != nil {
			return cur, fmt.Errorf("event cursor %s: advance: %w", c.Name, err)
		}
	}
	return next, nil
}
