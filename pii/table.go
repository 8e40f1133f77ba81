package pii

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/rexian/rexian/database"
)

// Table names a table's personal data, for the work done on every such table at once:
// sealing again with the current keys (Reseal) and finding a number through its blind
// index (Is).
type Table struct {
	Name string // the table
	Key  string // its primary key column
	// Sealed are the columns tagged `gorm:"pii"` in its model.
	Sealed []string
	// Index maps each blind-index column to the sealed column it indexes.
	Index map[string]string
}

// Is is the condition that finds rows whose column holds value exactly: through the
// blind index column under every index key, or the plain value for rows written before
// keys were configured and not yet sealed again. Without keys it is column IN (value).
func Is(db *gorm.DB, column, index, value string) clause.Expr {
	return IsAny(db, column, index, []string{value})
}

// IsAny is Is for several values at once: rows whose column holds any of values.
func IsAny(db *gorm.DB, column, index string, values []string) clause.Expr {
	keys := Keys(db)
	var idx []string
	for _, v := range values {
		idx = append(idx, keys.Indexes(v)...)
	}
	if len(idx) == 0 {
		return gorm.Expr("? IN ?", clause.Column{Name: column}, values)
	}
	return gorm.Expr("(? IN ? OR ? IN ?)", clause.Column{Name: index}, idx, clause.Column{Name: column}, values)
}

// ResealReport says what Reseal did on one table.
type ResealReport struct {
	Table    string
	Resealed int // rows sealed again with the current keys
	Changed  int // rows changed by someone else meanwhile, left for the next run
}

// Reseal seals every value of t that is plain (written before keys were configured) or
// sealed with an older key again with the current key, and recomputes its blind
// indexes with the current index key. It works in batches of short writes, each row
// changed only if it still holds what was read (so a value erased or changed meanwhile
// is never written back), and it looks only for rows that still need it: a second run
// finds nothing, a stopped run goes on where it stopped.
func Reseal(ctx context.Context, db *gorm.DB, t Table, batch int) (ResealReport, error) {
	rep := ResealReport{Table: t.Name}
	keys := Keys(db)
	if !keys.Enabled() {
		return rep, errors.New("reseal: no personal-data keys are configured (personal_data.keys_file or REXIAN_PERSONAL_DATA_KEYS)")
	}
	if batch < 1 {
		batch = 500
	}
	seal, index := keys.Current()
	sealedNow, indexedNow := EscapeLike(Prefix+seal+":")+"%", EscapeLike(index+":")+"%"
	var stale []string
	var args []any
	for _, c := range t.Sealed {
		stale = append(stale, fmt.Sprintf(`(%s <> '' AND %s NOT LIKE ? ESCAPE '\')`, quote(c), quote(c)))
		args = append(args, sealedNow)
	}
	cols := []string{quote(t.Key)}
	for _, c := range t.Sealed {
		cols = append(cols, quote(c))
	}
	for idx, src := range t.Index {
		stale = append(stale, fmt.Sprintf(`(%s <> '' AND %s NOT LIKE ? ESCAPE '\')`, quote(src), quote(idx)))
		args = append(args, indexedNow)
	}
	where := gorm.Expr("("+strings.Join(stale, " OR ")+")", args...)
	var last any
	for {
		q := db.WithContext(ctx).Table(t.Name).Select(strings.Join(cols, ", ")).Where(where).Order(t.Key).Limit(batch)
		if last != nil {
			q = q.Where(gorm.Expr("? > ?", clause.Column{Name: t.Key}, last))
		}
		var rows []map[string]any
		if err := q.Find(&rows).Error; err != nil {
			return rep, fmt.Errorf("reseal %s: read rows: %w", t.Name, err)
		}
		if len(rows) == 0 {
			return rep, nil
		}
		for _, row := range rows {
			last = row[t.Key]
			set := map[string]any{}
			same := db.WithContext(ctx).Table(t.Name).Where(gorm.Expr("? = ?", clause.Column{Name: t.Key}, row[t.Key]))
			plain := map[string]string{}
			for _, c := range t.Sealed {
				stored := text(row[c])
				p, err := keys.Open(stored)
				if err != nil {
					return rep, fmt.Errorf("reseal %s %s of %v: %w", t.Name, c, row[t.Key], err)
				}
				plain[c] = p
				if set[c], err = keys.Seal(p); err != nil {
					return rep, err
				}
				same = same.Where(gorm.Expr("? = ?", clause.Column{Name: c}, stored))
			}
			for idx, src := range t.Index {
				set[idx] = keys.Index(plain[src])
			}
			res := same.UpdateColumns(set)
			if res.Error != nil {
				return rep, fmt.Errorf("reseal %s %v: %w", t.Name, row[t.Key], res.Error)
			}
			if res.RowsAffected == 0 {
				rep.Changed++
			} else {
				rep.Resealed++
			}
		}
	}
}

// text is a column read into a map: a string, or bytes on some drivers.
func text(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	}
	return ""
}

// quote quotes a column name the same way on PostgreSQL and SQLite ("from" is a word of
// SQL).
func quote(c string) string { return `"` + c + `"` }

// EscapeLike escapes LIKE's wildcards in s, for a pattern with ESCAPE '\'.
func EscapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Migrate is the schema step that makes room for a table's personal data: each of
// widen becomes text on PostgreSQL (a sealed value is longer than the plain one; varchar
// to text needs no rewrite; SQLite does not enforce lengths), and each blind-index
// column is added, empty, with an index. Rows written before stay plain until `rexian
// keys rotate` seals them.
func Migrate(tx *gorm.DB, table string, widen []string, indexes ...string) error {
	var steps []string
	for _, idx := range indexes {
		steps = append(steps,
			fmt.Sprintf(`ALTER TABLE %s ADD COLUMN %s varchar(64) NOT NULL DEFAULT ''`, table, quote(idx)),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS idx_%s_%s ON %s (%s)`, table, idx, table, quote(idx)))
	}
	if database.DialectOf(tx) == database.Postgres && len(widen) > 0 {
		alter := make([]string, len(widen))
		for i, c := range widen {
			alter[i] = fmt.Sprintf("ALTER COLUMN %s TYPE text", quote(c))
		}
		steps = append(steps, fmt.Sprintf("ALTER TABLE %s %s", table, strings.Join(alter, ", ")))
	}
	for _, q := range steps {
		if err := tx.Exec(q).Error; err != nil {
			return fmt.Errorf("personal data columns of %s: %w", table, err)
		}
	}
	return nil
}

// Erase empties column (and its blind index, if index is not "") in the rows of table
// that hold value exactly and satisfy cond (more conditions, e.g. only finished rows),
// serving a citizen's deletion request. It returns how many rows it changed.
func Erase(ctx context.Context, db *gorm.DB, table, column, index, value string, cond ...any) (int64, error) {
	return EraseWith(ctx, db, table, column, index, value, nil, cond...)
}

// EraseWith is Erase that also empties the columns also of those rows: texts that may
// hold the citizen's name, say.
func EraseWith(ctx context.Context, db *gorm.DB, table, column, index, value string, also []string, cond ...any) (int64, error) {
	set := map[string]any{column: ""}
	for _, c := range also {
		set[c] = ""
	}
	if index != "" {
		set[index] = ""
	}
	q := db.WithContext(ctx).Table(table).Where(Is(db, column, index, value))
	if len(cond) > 0 {
		q = q.Where(cond[0], cond[1:]...)
	}
	res := q.UpdateColumns(set)
	if res.Error != nil {
		return 0, fmt.Errorf("erase %s.%s: %w", table, column, res.Error)
	}
	return res.RowsAffected, nil
}
