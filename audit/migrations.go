package audit

import (
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/database"
)

// Migrations are the audit log's schema steps, in order, each from a snapshot of the
// struct as it was when the step was written.
func Migrations() []*database.Migration {
	return []*database.Migration{
		{
			ID: "20261206_30_audit_records",
			Migrate: func(tx *gorm.DB) error {
				if err := tx.Migrator().CreateTable(&recordV1{}, &headV1{}); err != nil {
					return err
				}
				return tx.Create(&headV1{ID: 1}).Error
			},
			Rollback: func(tx *gorm.DB) error { return tx.Migrator().DropTable("audit_records", "audit_head") },
		},
		{ID: "20261207_40_audit_sm3_links", Migrate: migrateSM3Links},
	}
}

// migrateSM3Links widens the link columns for SM3 links ("sm3:" and 64 hex digits). On
// PostgreSQL a wider varchar needs no rewrite; SQLite does not enforce the length.
func migrateSM3Links(tx *gorm.DB) error {
	if database.DialectOf(tx) != database.Postgres {
		return nil
	}
	for _, q := range []string{
		`ALTER TABLE audit_records ALTER COLUMN prev_hash TYPE varchar(80), ALTER COLUMN hash TYPE varchar(80)`,
		`ALTER TABLE audit_head ALTER COLUMN hash TYPE varchar(80), ALTER COLUMN anchor_hash TYPE varchar(80)`,
	} {
		if err := tx.Exec(q).Error; err != nil {
			return fmt.Errorf("widen the audit chain's link columns: %w", err)
		}
	}
	return nil
}

// Snapshots for 20261206_30. Never edit them.

type recordV1 struct {
	Seq      int64     `gorm:"primaryKey;autoIncrement:false"`
	At       time.Time `gorm:"not null;index:audit_records_at_idx"`
	Actor    string    `gorm:"size:128;not null;index:audit_records_actor_idx"`
	Action   string    `gorm:"size:48;not null;index:audit_records_action_idx"`
	Target   string    `gorm:"size:128;not null;default:'';index:audit_records_target_idx"`
	Detail   string    `gorm:"type:text;not null;default:''"`
	Reason   string    `gorm:"size:255;not null;default:''"`
	IP       string    `gorm:"column:ip;size:64;not null;default:''"`
	PrevHash string    `gorm:"size:64;not null"`
	Hash     string    `gorm:"size:64;not null"`
}

func (recordV1) TableName() string { return "audit_records" }

type headV1 struct {
	ID         int    `gorm:"primaryKey;autoIncrement:false"`
	Seq        int64  `gorm:"not null;default:0"`
	Hash       string `gorm:"size:64;not null;default:''"`
	AnchorSeq  int64  `gorm:"not null;default:0"`
	AnchorHash string `gorm:"size:64;not null;default:''"`
}

func (headV1) TableName() string { return "audit_head" }
