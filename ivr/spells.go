package ivr

import (
	"context"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/database"
)

// Spell is a stretch of time an operator spent in one state (ready, ringing, talking,
// wrapping up, not ready with a reason). It is written when the state ends, so the
// figures (occupancy, average handle time, not-ready time by reason) are sums over rows
// and never depend on the live picture.
type Spell struct {
	ID        uint64     `gorm:"primaryKey" json:"id"`
	Operator  string     `gorm:"size:64;not null;index" json:"operator"`
	State     AgentState `gorm:"size:16;not null" json:"state"`
	Reason    string     `gorm:"size:64" json:"reason,omitempty"`
	CallID    uint64     `json:"call_id,omitempty"`
	StartedAt time.Time  `gorm:"not null;index" json:"started_at"`
	EndedAt   time.Time  `gorm:"not null" json:"ended_at"`
	MS        int64      `gorm:"column:ms;not null" json:"ms"`
}

// TableName keeps the operators' state log beside the call records.
func (Spell) TableName() string { return "ivr_agent_spells" }

func spellsMigration() *database.Migration {
	// Frozen snapshot of the table as first created.
	type ivrAgentSpell struct {
		ID        uint64 `gorm:"primaryKey"`
		Operator  string `gorm:"size:64;not null;index"`
		State     string `gorm:"size:16;not null"`
		Reason    string `gorm:"size:64"`
		CallID    uint64
		StartedAt time.Time `gorm:"not null;index"`
		EndedAt   time.Time `gorm:"not null"`
		MS        int64     `gorm:"column:ms;not null"`
	}
	return &database.Migration{
		ID: "20261207_20_ivr_agent_spells",
		Migrate: func(tx *gorm.DB) error {
			return tx.Table("ivr_agent_spells").AutoMigrate(&ivrAgentSpell{})
		},
		Rollback: func(tx *gorm.DB) error { return tx.Migrator().DropTable("ivr_agent_spells") },
	}
}

// spellLog writes the operators' ended states off the ACD's lock: add never blocks, a
// writer goroutine inserts in batches. A full buffer (the database stuck for minutes)
// drops spells with a warning rather than stalling the queue.
type spellLog struct {
	db  *gorm.DB
	in  chan Spell
	log *slog.Logger
}

func newSpellLog(db *gorm.DB, log *slog.Logger) *spellLog {
	return &spellLog{db: db, in: make(chan Spell, 4096), log: log}
}

func (l *spellLog) add(s Spell) {
	if l.db == nil {
		return
	}
	select {
	case l.in <- s:
	default:
		l.log.Warn("ivr: operator state not logged: the writer is behind", "operator", s.Operator, "state", s.State)
	}
}

// run writes spells until ctx ends, then what is still buffered.
func (l *spellLog) run(ctx context.Context) {
	if l.db == nil {
		return
	}
	for {
		select {
		case s := <-l.in:
			l.write(context.WithoutCancel(ctx), l.batch(s))
		case <-ctx.Done():
			for {
				select {
				case s := <-l.in:
					l.write(context.WithoutCancel(ctx), l.batch(s))
				default:
					return
				}
			}
		}
	}
}

func (l *spellLog) batch(first Spell) []Spell {
	out := []Spell{first}
	for len(out) < 200 {
		select {
		case s := <-l.in:
			out = append(out, s)
		default:
			return out
		}
	}
	return out
}

func (l *spellLog) write(ctx context.Context, spells []Spell) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := l.db.WithContext(ctx).Create(&spells).Error; err != nil {
		l.log.Error("ivr: operator states not logged", "spells", len(spells), "err", err)
	}
}
