package tickets

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
)

// The refusal reasons (不予受理理由) start as the configuration's list
// (tickets.refusal_reasons). Once an administrator saves a list (the admin page or PUT
// /api/v1/refusal-reasons), the saved list is the city's: every instance reads it from
// the database, so a change needs no restart. A code once used stays in the refused
// tickets and reports; removing it from the list only stops it being offered.

// refusalRow is one saved reason, in the order the list offers them.
type refusalRow struct {
	ID        uint64    `gorm:"primaryKey"`
	Position  int       `gorm:"not null"`
	Code      string    `gorm:"size:64;not null;uniqueIndex"`
	Name      string    `gorm:"size:200;not null"`
	UpdatedBy string    `gorm:"size:96"`
	UpdatedAt time.Time `gorm:"not null"`
}

func (refusalRow) TableName() string { return "ticket_refusal_reasons" }

// refusalRowV1 is the table as of migration 20261206_40; never edit it.
type refusalRowV1 struct {
	ID        uint64 `gorm:"primaryKey"`
	Position  int    `gorm:"not null"`
	Code      string `gorm:"size:64;not null;uniqueIndex"`
	Name      string `gorm:"size:200;not null"`
	UpdatedBy string `gorm:"size:96"`
	UpdatedAt time.Time
}

func (refusalRowV1) TableName() string { return "ticket_refusal_reasons" }

func migrateRefusals(tx *gorm.DB) error { return tx.Migrator().CreateTable(&refusalRowV1{}) }

func rollbackRefusals(tx *gorm.DB) error { return tx.Migrator().DropTable("ticket_refusal_reasons") }

// refusalCodeRE is the stable part of a reason, as the configuration requires it.
var refusalCodeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

const (
	maxRefusalReasons = 50
	maxRefusalName    = 200
)

// RefusalReasons lists the reasons a ticket may be refused, in the order offered: the
// saved list, or the configuration's while none was saved.
func (s *Store) RefusalReasons(ctx context.Context) ([]RefusalReason, error) {
	return s.refusalReasons(s.db.WithContext(ctx))
}

func (s *Store) refusalReasons(db *gorm.DB) ([]RefusalReason, error) {
	var rows []refusalRow
	if err := db.Order("position, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("tickets: list refusal reasons: %w", err)
	}
	if len(rows) == 0 {
		return s.opts.RefusalReasons, nil
	}
	out := make([]RefusalReason, 0, len(rows))
	for _, r := range rows {
		out = append(out, RefusalReason{Code: r.Code, Name: r.Name})
	}
	return out, nil
}

// SaveRefusalReasons replaces the list with reasons, in their order. The list may not be
// empty: a desk must always be able to tell a citizen why.
// The change is recorded in the security audit log with who made it and the codes saved.
func (s *Store) SaveRefusalReasons(ctx context.Context, p *auth.Principal, reasons []RefusalReason) ([]RefusalReason, error) {
	if len(reasons) == 0 {
		return nil, invalid("empty_refusal_reasons", "at least one refusal reason is required")
	}
	if len(reasons) > maxRefusalReasons {
		return nil, invalid("too_many_refusal_reasons", "at most %d refusal reasons", maxRefusalReasons)
	}
	now := s.opts.Now()
	seen := map[string]bool{}
	rows := make([]refusalRow, 0, len(reasons))
	for i, r := range reasons {
		code := strings.TrimSpace(r.Code)
		if !refusalCodeRE.MatchString(code) {
			return nil, invalid("invalid_refusal_code", "reason %d: the code %q must be lower-case letters, digits and _, starting with a letter (e.g. outside_remit)", i+1, r.Code)
		}
		if seen[code] {
			return nil, invalid("duplicate_refusal_code", "reason %d: the code %q is listed twice", i+1, code)
		}
		seen[code] = true
		name := strings.TrimSpace(r.Name)
		switch {
		case name == "":
			return nil, invalid("empty_refusal_name", "reason %d (%s) has no wording for the citizen", i+1, code)
		case !utf8.ValidString(name):
			return nil, invalid("invalid_refusal_name", "reason %d (%s) is not valid UTF-8 text", i+1, code)
		case utf8.RuneCountInString(name) > maxRefusalName:
			return nil, invalid("refusal_name_too_long", "reason %d (%s) is %d characters long; the limit is %d", i+1, code, utf8.RuneCountInString(name), maxRefusalName)
		}
		rows = append(rows, refusalRow{Position: i + 1, Code: code, Name: name, UpdatedBy: p.Actor(), UpdatedAt: now})
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("1 = 1").Delete(&refusalRow{}).Error; err != nil {
			return err
		}
		return tx.Create(&rows).Error
	})
	if err != nil {
		return nil, fmt.Errorf("tickets: save refusal reasons: %w", err)
	}
	if s.opts.Audit != nil {
		var b strings.Builder
		b.WriteString("save_refusal_reasons")
		for _, r := range rows {
			fmt.Fprintf(&b, " %s=%s", r.Code, r.Name)
		}
		if err := s.opts.Audit.Record(ctx, audit.Event{Action: audit.ActionConfig, Actor: p.Actor(), Target: "refusal_reasons",
			Detail: b.String()}); err != nil {
			return nil, fmt.Errorf("tickets: record the refusal reasons' change in the audit log: %w", err)
		}
	}
	return s.RefusalReasons(ctx)
}

// ParseRefusalReasons reads an administrator's text: one reason a line, "code = 理由"
// (as in tickets.refusal_reasons). Blank lines and lines starting with # are skipped.
func ParseRefusalReasons(text string) ([]RefusalReason, error) {
	var out []RefusalReason
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		code, name, ok := strings.Cut(line, "=")
		if !ok {
			return nil, invalid("invalid_refusal_reason", "line %d (%q) must be: code = wording (e.g. outside_remit = 不属于本市管辖范围)", i+1, line)
		}
		out = append(out, RefusalReason{Code: strings.TrimSpace(code), Name: strings.TrimSpace(name)})
	}
	return out, nil
}

// FormatRefusalReasons is the text ParseRefusalReasons reads back.
func FormatRefusalReasons(rs []RefusalReason) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.Code + " = " + r.Name + "\n")
	}
	return b.String()
}
