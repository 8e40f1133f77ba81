package database

import (
	"context"
	"fmt"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// Migration is one versioned schema step. IDs sort by date and say what they do
// ("20261126_01_tickets"); a step once released is never edited, only followed by another.
type Migration = gormigrate.Migration

// Migrate applies, in order, every migration not yet recorded in the schema_migrations
// table. Each step runs in its own transaction where the database allows it.
func Migrate(ctx context.Context, db *gorm.DB, steps []*Migration) error {
	if len(steps) == 0 {
		return nil
	}
	opts := *gormigrate.DefaultOptions
	opts.TableName = "schema_migrations"
	opts.UseTransaction = true
	m := gormigrate.New(db.WithContext(ctx), &opts, steps)
	if err := m.Migrate(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
