package dashboards

import (
	"gorm.io/gorm"

	"github.com/rexian/rexian/database"
)

// Migrations are the dashboards schema steps. They run after the tickets schema: the
// indexes they add are on tickets' tables.
func Migrations() []*database.Migration {
	return []*database.Migration{{
		ID: "20261126_70_dashboards_indexes",
		// The figures read tickets by registration time and the timeline by action and
		// time; neither had an index that serves a period.
		// On PostgreSQL the indexes carry the columns the figures read (INCLUDE), so that
		// a year's figures are index-only scans instead of a million heap visits.
		Migrate: func(tx *gorm.DB) error {
			qs := []string{
				`CREATE INDEX IF NOT EXISTS idx_dash_tickets_created ON tickets (created_at)`,
				`CREATE INDEX IF NOT EXISTS idx_dash_events_action_at ON events (action, at)`,
				`CREATE INDEX IF NOT EXISTS idx_dash_assignments_dispatched ON assignments (dispatched_at)`,
				`CREATE INDEX IF NOT EXISTS idx_dash_ivr_calls_dir_arrived ON ivr_calls (direction, arrived_at)`,
			}
			if database.DialectOf(tx) == database.Postgres {
				qs = []string{
					`CREATE INDEX IF NOT EXISTS idx_dash_tickets_created ON tickets (created_at) INCLUDE (status, channel, category_id,
						lead_department_id, district_id, open, overdue, due_at, completed_at)`,
					`CREATE INDEX IF NOT EXISTS idx_dash_events_action_at ON events (action, at) INCLUDE (ticket_id, department_id)`,
					`CREATE INDEX IF NOT EXISTS idx_dash_assignments_dispatched ON assignments (dispatched_at) INCLUDE (ticket_id,
						department_id, signed_at, sign_due_at, replied_at, due_at, return_reason)`,
					`CREATE INDEX IF NOT EXISTS idx_dash_ivr_calls_dir_arrived ON ivr_calls (direction, arrived_at) INCLUDE (outcome,
						in_target, wait_ms)`,
				}
			}
			for _, q := range qs {
				if err := tx.Exec(q).Error; err != nil {
					return err
				}
			}
			return nil
		},
		Rollback: func(tx *gorm.DB) error {
			for _, ix := range []string{"idx_dash_tickets_created", "idx_dash_events_action_at", "idx_dash_assignments_dispatched", "idx_dash_ivr_calls_dir_arrived"} {
				if err := tx.Exec(`DROP INDEX IF EXISTS ` + ix).Error; err != nil {
					return err
				}
			}
			return nil
		},
	}, {
		ID:       "20261126_71_dashboards_tables",
		Migrate:  func(tx *gorm.DB) error { return tx.Migrator().CreateTable(&cardV1{}, &supervisionV1{}, &answerV1{}) },
		Rollback: func(tx *gorm.DB) error { return tx.Migrator().DropTable(&cardV1{}, &supervisionV1{}, &answerV1{}) },
	}, {
		ID: "20261126_72_dashboards_day_rollups",
		// Daily roll-ups of the ticket and events figures, their watermark, and the index
		// that finds the tickets written since it.
		Migrate: func(tx *gorm.DB) error {
			if err := tx.Migrator().CreateTable(&dayTicketsV1{}, &dayEventsV1{}, &rollupMarkV1{}); err != nil {
				return err
			}
			return tx.Exec(`CREATE INDEX IF NOT EXISTS idx_dash_tickets_updated ON tickets (updated_at)`).Error
		},
		Rollback: func(tx *gorm.DB) error {
			if err := tx.Exec(`DROP INDEX IF EXISTS idx_dash_tickets_updated`).Error; err != nil {
				return err
			}
			return tx.Migrator().DropTable(&dayTicketsV1{}, &dayEventsV1{}, &rollupMarkV1{})
		},
	}, {
		ID: "20261127_73_dashboards_more_rollups",
		// Daily roll-ups of the surveys, calls, the three rates and the written channels'
		// answers; partial indexes of the assignments still waiting for a sign-for or a
		// reply (which the rates count live), of the tickets that do not count and of the
		// open ones; and a fresh start for the roll-ups, so that the next pass builds the
		// new tables for every day.
		Migrate: func(tx *gorm.DB) error {
			if err := tx.Migrator().CreateTable(&daySurveysV1{}, &dayCallsV1{}, &dayAssignmentsV1{}, &dayWrittenV1{}); err != nil {
				return err
			}
			pending := `CREATE INDEX IF NOT EXISTS idx_dash_assignments_pending ON assignments (dispatched_at)
				WHERE signed_at IS NULL OR replied_at IS NULL`
			if database.DialectOf(tx) == database.Postgres {
				pending = `CREATE INDEX IF NOT EXISTS idx_dash_assignments_pending ON assignments (dispatched_at)
					INCLUDE (ticket_id, department_id, signed_at, sign_due_at, replied_at, due_at, return_reason)
					WHERE signed_at IS NULL OR replied_at IS NULL`
			}
			for _, q := range []string{pending,
				`CREATE INDEX IF NOT EXISTS idx_dash_tickets_not_accepted ON tickets (id) WHERE status IN ('merged', 'refused')`,
				`CREATE INDEX IF NOT EXISTS idx_dash_tickets_open_ids ON tickets (id) WHERE open`} {
				if err := tx.Exec(q).Error; err != nil {
					return err
				}
			}
			return tx.Exec(`DELETE FROM dash_rollup_marks WHERE name = ?`, rollupMarkName).Error
		},
		Rollback: func(tx *gorm.DB) error {
			for _, ix := range []string{"idx_dash_assignments_pending", "idx_dash_tickets_not_accepted", "idx_dash_tickets_open_ids"} {
				if err := tx.Exec(`DROP INDEX IF EXISTS ` + ix).Error; err != nil {
					return err
				}
			}
			return tx.Migrator().DropTable(&daySurveysV1{}, &dayCallsV1{}, &dayAssignmentsV1{}, &dayWrittenV1{})
		},
	}, {
		ID: "20261127_75_dashboards_card_notices",
		// The notice of a card to its department (SMS) and the department's signing for it.
		Migrate:  migrateCardNotices,
		Rollback: rollbackCardNotices,
	}, {
		ID: "20261127_76_dashboards_overdue_list",
		// The overdue list reads the open overdue tickets, longest overdue first, a page
		// at a time: this index gives them in that order.
		Migrate: func(tx *gorm.DB) error {
			return tx.Exec(`CREATE INDEX IF NOT EXISTS idx_dash_tickets_overdue_list ON tickets (overdue_at, id) WHERE open AND overdue`).Error
		},
		Rollback: func(tx *gorm.DB) error { return tx.Exec(`DROP INDEX IF EXISTS idx_dash_tickets_overdue_list`).Error },
	}, {
		ID: "20261206_12_dashboards_calls_in_target_from_arrival",
		// The calls' roll-ups count the 15-second answers both from the queue (in_target,
		// recounted by ivr's 20261206_11) and from the arrival: every day is rolled up
		// again by the next pass.
		Migrate: func(tx *gorm.DB) error {
			type dayCalls struct {
				InTargetArrival int64 `gorm:"not null;default:0"`
			}
			// dayCallsV1, which 20261127_73 creates the table from, has the column since:
			// a fresh database has it already.
			if m := tx.Table("dash_day_calls").Migrator(); !m.HasColumn(&dayCalls{}, "InTargetArrival") {
				if err := m.AddColumn(&dayCalls{}, "InTargetArrival"); err != nil {
					return err
				}
			}
			return tx.Exec(`DELETE FROM dash_rollup_marks WHERE name = ?`, rollupMarkName).Error
		},
		Rollback: func(tx *gorm.DB) error { return tx.Migrator().DropColumn("dash_day_calls", "in_target_arrival") },
	}}
}
