package tickets

import (
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/database"
)

// Migrations returns the ticket schema's versioned steps. Each step creates tables from
// snapshots frozen at the time it was written, so that later changes to the models never
// rewrite history: a new column is a new step.
func Migrations() []*database.Migration {
	return []*database.Migration{
		{ID: "20261126_10_tickets_init", Migrate: migrateInit},
		{ID: "20261127_40_tickets_text_search", Migrate: migrateTextSearch, Rollback: rollbackTextSearch},
		{ID: "20261127_41_tickets_open_due", Migrate: func(tx *gorm.DB) error {
			// The departments' inboxes read open tickets nearest deadline first (dueOrder)
			// and stop at a page: this index gives them in that order.
			return tx.Exec(`CREATE INDEX IF NOT EXISTS idx_tickets_open_due ON tickets ((` + dueAt + `), id DESC) WHERE open`).Error
		}, Rollback: func(tx *gorm.DB) error { return tx.Exec(`DROP INDEX IF EXISTS idx_tickets_open_due`).Error }},
		{ID: "20261127_42_tickets_short_words", Migrate: migrateShortWords, Rollback: rollbackShortWords},
		{ID: "20261206_40_ticket_refusal_reasons", Migrate: migrateRefusals, Rollback: rollbackRefusals},
		{ID: "20261206_63_tickets_closed_not_open", Migrate: func(tx *gorm.DB) error {
			// A ticket answered at registration (直接办结) was stored open: the model's
			// default:true tag made gorm leave the false out of the INSERT.
			return tx.Exec(`UPDATE tickets SET open = FALSE WHERE open = TRUE AND status IN (?, ?, ?)`,
				StatusCompleted, StatusRefused, StatusMerged).Error
		}},
		{ID: "20261206_80_tickets_personal_data", Migrate: migratePersonalData},
		{ID: "20261206_90_tickets_imports", Migrate: migrateImports, Rollback: func(tx *gorm.DB) error {
			return tx.Migrator().DropTable("ticket_imports")
		}},
		{ID: "20261207_41_tickets_sm3_links", Migrate: func(tx *gorm.DB) error {
			// SM3 links ("sm3:" and 64 hex digits, package hashchain) are longer than
			// SHA-256 ones. On PostgreSQL a wider varchar needs no rewrite; SQLite does not
			// enforce the length.
			if database.DialectOf(tx) != database.Postgres {
				return nil
			}
			for _, q := range []string{
				`ALTER TABLE tickets ALTER COLUMN event_hash TYPE varchar(80)`,
				`ALTER TABLE events ALTER COLUMN prev_hash TYPE varchar(80), ALTER COLUMN hash TYPE varchar(80)`,
			} {
				if err := tx.Exec(q).Error; err != nil {
					return fmt.Errorf("widen the timeline's link columns: %w", err)
				}
			}
			return nil
		}},
	}
}

// migrateImports creates ticket_imports: which record of which previous platform each
// imported ticket came from, unique per source, so that a re-run of an import skips
// what it already wrote.
func migrateImports(tx *gorm.DB) error {
	type TicketImport struct {
		ID         uint64 `gorm:"primaryKey"`
		Source     string `gorm:"size:64;not null;uniqueIndex:idx_ticket_imports_ref,priority:1"`
		Ref        string `gorm:"size:255;not null;uniqueIndex:idx_ticket_imports_ref,priority:2"`
		TicketID   uint64 `gorm:"not null;index"`
		ImportedAt time.Time
	}
	return tx.Migrator().CreateTable(&TicketImport{})
}

func migrateInit(tx *gorm.DB) error {
	type Department struct {
		ID         uint   `gorm:"primaryKey"`
		Code       string `gorm:"size:32;uniqueIndex;not null"`
		Name       string `gorm:"size:128;not null"`
		Level      string `gorm:"size:16;not null"`
		ParentID   *uint  `gorm:"index"`
		Path       string `gorm:"size:255;index;not null"`
		Government bool   `gorm:"not null;default:false"`
		Phone      string `gorm:"size:32"`
		Active     bool   `gorm:"not null;default:true"`
		CreatedAt  time.Time
		UpdatedAt  time.Time
	}
	type Category struct {
		ID                  uint   `gorm:"primaryKey"`
		Code                string `gorm:"size:32;uniqueIndex;not null"`
		Name                string `gorm:"size:128;not null"`
		Kind                string `gorm:"size:16;not null"`
		ParentID            *uint  `gorm:"index"`
		DefaultDepartmentID *uint
		SignLimit           string `gorm:"size:16"`
		HandleLimit         string `gorm:"size:16"`
		UrgentSignLimit     string `gorm:"size:16"`
		UrgentHandleLimit   string `gorm:"size:16"`
		CriticalSignLimit   string `gorm:"size:16"`
		CriticalHandleLimit string `gorm:"size:16"`
		Active              bool   `gorm:"not null;default:true"`
		CreatedAt           time.Time
		UpdatedAt           time.Time
	}
	type Ticket struct {
		ID               uint64 `gorm:"primaryKey"`
		Number           string `gorm:"size:20;uniqueIndex;not null"`
		Channel          string `gorm:"size:16;not null;index"`
		Status           string `gorm:"size:16;not null;index"`
		Version          int    `gorm:"not null;default:1"`
		CitizenName      string `gorm:"size:64"`
		CitizenPhone     string `gorm:"size:32;index"`
		PhoneKind        string `gorm:"size:16"`
		CitizenEmail     string `gorm:"size:254"`
		Anonymous        bool   `gorm:"not null;default:false"`
		WantsReply       bool   `gorm:"not null;default:true"`
		Title            string `gorm:"size:200;not null"`
		Content          string `gorm:"type:text;not null"`
		CategoryID       uint   `gorm:"not null;index"`
		Urgency          string `gorm:"size:16;not null"`
		DistrictID       *uint  `gorm:"index"`
		TownshipID       *uint
		Address          string `gorm:"size:255"`
		Latitude         *float64
		Longitude        *float64
		ExternalRef      string `gorm:"size:255;index"`
		Recording        string `gorm:"size:255"`
		LeadDepartmentID *uint  `gorm:"index:idx_tickets_lead_open,priority:1"`
		Open             bool   `gorm:"not null;default:true;index:idx_tickets_lead_open,priority:2;index:idx_tickets_open_created,priority:1"`
		SignDueAt        *time.Time
		DueAt            *time.Time `gorm:"index"`
		Overdue          bool       `gorm:"not null;default:false;index"`
		OverdueAt        *time.Time
		RegisteredBy     string `gorm:"size:96;not null"`
		RegisteredAt     time.Time
		DispatchedAt     *time.Time
		CompletedAt      *time.Time `gorm:"index"`
		Answer           string     `gorm:"type:text"`
		RefusalReason    string     `gorm:"size:64"`
		MergedIntoID     *uint64
		ReopenCount      int       `gorm:"not null;default:0"`
		UrgeCount        int       `gorm:"not null;default:0"`
		ReturnCount      int       `gorm:"not null;default:0"`
		EventSeq         int       `gorm:"not null;default:0"`
		EventHash        string    `gorm:"size:64;not null;default:''"`
		CreatedAt        time.Time `gorm:"index;index:idx_tickets_lead_open,priority:3,sort:desc;index:idx_tickets_open_created,priority:2,sort:desc"`
		UpdatedAt        time.Time
	}
	type Assignment struct {
		ID               uint64 `gorm:"primaryKey"`
		TicketID         uint64 `gorm:"not null;index;index:idx_assignments_dept_ticket,priority:2"`
		DepartmentID     uint   `gorm:"not null;index:idx_assignments_dept_ticket,priority:1"`
		Lead             bool   `gorm:"not null;default:false"`
		Status           string `gorm:"size:16;not null"`
		ParentID         *uint64
		DispatchedAt     time.Time
		SignDueAt        time.Time
		DueAt            *time.Time
		HandleLimit      string `gorm:"size:16"`
		SignedAt         *time.Time
		RepliedAt        *time.Time
		Reply            string `gorm:"type:text"`
		ReturnReason     string `gorm:"type:text"`
		ExtensionPending bool   `gorm:"not null;default:false"`
		ExtensionUntil   *time.Time
		ExtensionNote    string `gorm:"type:text"`
		CreatedAt        time.Time
		UpdatedAt        time.Time
	}
	type Event struct {
		ID           uint64    `gorm:"primaryKey"`
		TicketID     uint64    `gorm:"not null;uniqueIndex:idx_events_ticket_seq,priority:1"`
		Seq          int       `gorm:"not null;uniqueIndex:idx_events_ticket_seq,priority:2"`
		At           time.Time `gorm:"not null"`
		Actor        string    `gorm:"size:96;not null"`
		Action       string    `gorm:"size:32;not null"`
		FromStatus   string    `gorm:"size:16"`
		ToStatus     string    `gorm:"size:16"`
		DepartmentID *uint
		Note         string `gorm:"type:text"`
		Data         string `gorm:"type:text"`
		PrevHash     string `gorm:"size:64;not null"`
		Hash         string `gorm:"size:64;not null"`
	}
	type Attachment struct {
		ID          uint64 `gorm:"primaryKey"`
		TicketID    uint64 `gorm:"not null;index"`
		EventSeq    int
		FileName    string `gorm:"size:255;not null"`
		ContentType string `gorm:"size:128;not null"`
		Size        int64  `gorm:"not null"`
		SHA256      string `gorm:"size:64;not null"`
		StoredName  string `gorm:"size:128;not null"`
		UploadedBy  string `gorm:"size:96;not null"`
		CreatedAt   time.Time
	}
	type Counter struct {
		Name  string `gorm:"primaryKey;size:32"`
		Value int64  `gorm:"not null"`
	}
	return tx.Migrator().CreateTable(&Department{}, &Category{}, &Ticket{}, &Assignment{}, &Event{}, &Attachment{}, &Counter{})
}

// textSearchIndexes are the trigram indexes of the ticket search's words, one a column so
// that the search's condition (title LIKE … OR content LIKE … OR address LIKE …) stays the
// same on every database and PostgreSQL combines the three in a bitmap.
var textSearchIndexes = []struct{ name, column string }{
	{"idx_tickets_title_trgm", "title"},
	{"idx_tickets_content_trgm", "content"},
	{"idx_tickets_address_trgm", "address"},
}

// migrateTextSearch gives PostgreSQL the indexes that find a word of three or more
// characters (东胜区, 供暖费) in a ticket's title, content or address without reading every
// ticket: GIN indexes of trigrams, from the pg_trgm extension. The extension is created in
// the schema public, once a database, whatever schema the tables are in (tests use one a
// test), unless it is already there in some schema; it is trusted since PostgreSQL 13, so
// a user who may create schemas in the database may create it. Where it cannot be
// created the step logs a warning and leaves the indexes out: the search stays right,
// only slower. SQLite has nothing of the kind and gets nothing.
func migrateTextSearch(tx *gorm.DB) error {
	if database.DialectOf(tx) != database.Postgres {
		return nil
	}
	schema, err := ensureTrigrams(tx)
	if err != nil || schema == "" {
		return err
	}
	for _, ix := range textSearchIndexes {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON tickets USING gin (%s "%s".gin_trgm_ops)`, ix.name, ix.column, schema)
		if err := tx.Exec(q).Error; err != nil {
			return err
		}
	}
	return nil
}

func rollbackTextSearch(tx *gorm.DB) error {
	for _, ix := range textSearchIndexes {
		if err := tx.Exec("DROP INDEX IF EXISTS " + ix.name).Error; err != nil {
			return err
		}
	}
	return nil
}

// migrateShortWords gives PostgreSQL an index that finds a word of one or two characters
// (暖气, 噪音, 水), which has no trigram: a GIN index of each ticket's characters and
// pairs of neighbouring characters (ticket_grams) over its title, content and address.
// A word of two characters is one such pair, so the index lists exactly the tickets
// that hold it, and an absent word is answered without reading a ticket. It is plain
// SQL and PL/pgSQL, so it needs no extension, and it does not depend on the database's
// character type as pg_trgm does. Over a million tickets of seventy-odd characters it is
// about 220 MB and takes about four minutes to build on two cores (README.md says so
// for those who migrate a large database).
//
// ticket_grams must be IMMUTABLE to be indexed; string_to_array with a NULL separator
// splits text into its characters. GIN drops the duplicate entries itself. A loop in
// PL/pgSQL is five to eight times faster here than the same in SQL with
// generate_series, which matters when the index is built over every ticket; still, at
// tens of microseconds a call it costs the planner a thousand times a plain operator
// (COST 1000), so that it would rather look the words up in the index than compute
// them ticket by ticket.
func migrateShortWords(tx *gorm.DB) error {
	if database.DialectOf(tx) != database.Postgres {
		return nil
	}
	fn := `CREATE OR REPLACE FUNCTION ticket_grams(s text) RETURNS text[]
		LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $$
		DECLARE
			c text[] := string_to_array(s, NULL);
			r text[] := c;
		BEGIN
			FOR i IN 1 .. cardinality(c) - 1 LOOP
				r := r || (c[i] || c[i + 1]);
			END LOOP;
			RETURN r;
		END $$`
	if err := tx.Exec(fn).Error; err != nil {
		return err
	}
	return tx.Exec(`CREATE INDEX IF NOT EXISTS idx_tickets_grams ON tickets USING gin (` + gramsOf + `)`).Error
}

func rollbackShortWords(tx *gorm.DB) error {
	if database.DialectOf(tx) != database.Postgres {
		return nil
	}
	if err := tx.Exec("DROP INDEX IF EXISTS idx_tickets_grams").Error; err != nil {
		return err
	}
	return tx.Exec("DROP FUNCTION IF EXISTS ticket_grams(text)").Error
}

// gramsOf is the expression idx_tickets_grams indexes; a search must write it the same
// for PostgreSQL to use the index. The space keeps the end of one field and the start of
// the next from making a pair no field holds.
const gramsOf = `ticket_grams(title || ' ' || content || ' ' || coalesce(address, ''))`

// ensureTrigrams creates pg_trgm in public unless it is in the database, and returns the
// schema it is in, or "" if it is not and cannot be created. It runs inside the
// migration's transaction, so a failure is undone to a savepoint rather than aborting
// the transaction. Two processes migrating at once (tests of two packages, in one
// database) may both try: the second then fails on the catalogue's unique index, and
// finds the extension there.
func ensureTrigrams(tx *gorm.DB) (string, error) {
	installed := func() (string, error) {
		var schemas []string
		err := tx.Raw("SELECT s.nspname FROM pg_extension e JOIN pg_namespace s ON s.oid = e.extnamespace WHERE e.extname = 'pg_trgm'").Scan(&schemas).Error
		if err != nil || len(schemas) == 0 {
			return "", err
		}
		return schemas[0], nil
	}
	if schema, err := installed(); schema != "" || err != nil {
		return schema, err
	}
	if err := tx.SavePoint("pg_trgm").Error; err != nil {
		return "", err
	}
	err := tx.Exec("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public").Error
	if err == nil {
		return "public", nil
	}
	if err := tx.RollbackTo("pg_trgm").Error; err != nil {
		return "", err
	}
	// Another process may have created it at the same moment: the error is then a
	// duplicate key, which gorm may have translated, so look rather than read the error.
	if schema, err := installed(); schema != "" || err != nil {
		return schema, err
	}
	// The step is recorded as done all the same: README.md says how to add the extension
	// and the indexes by hand later.
	tx.Logger.Warn(tx.Statement.Context, "tickets: cannot create the pg_trgm extension, so searching tickets for words "+
		"reads every ticket; see README.md, PostgreSQL, for the statements a superuser runs to add it", err)
	return "", nil
}

// migratePersonalData makes room for sealed personal data (a sealed value is longer than
// the plain one: see package pii) and adds the phone number's blind index.
func migratePersonalData(tx *gorm.DB) error {
	steps := []string{
		`ALTER TABLE tickets ADD COLUMN citizen_phone_idx varchar(64) NOT NULL DEFAULT ''`,
		`CREATE INDEX IF NOT EXISTS idx_tickets_citizen_phone_idx ON tickets (citizen_phone_idx)`,
	}
	if database.DialectOf(tx) == database.Postgres {
		// varchar to text needs no rewrite of the table or its indexes.
		steps = append(steps, `ALTER TABLE tickets ALTER COLUMN citizen_name TYPE text, ALTER COLUMN citizen_phone TYPE text, ALTER COLUMN citizen_email TYPE text`)
	}
	for _, q := range steps {
		if err := tx.Exec(q).Error; err != nil {
			return fmt.Errorf("personal data columns: %w", err)
		}
	}
	return nil
}
