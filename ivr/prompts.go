package ivr

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/ivr/prompt"
)

// The prompt texts start as the configuration's (ivr.prompts, and the texts of the
// prompts the dialplan plays while rexian is down). An administrator may reword them (the
// admin page or PUT /api/v1/ivr/prompts): the saved text replaces the configured one for
// every instance. Asterisk plays audio files, not texts, so a new wording is heard only
// once `rexian prompts` has rendered it and the files are on every Asterisk node; the
// rendering reads the saved texts from the database.

// promptRow is one reworded prompt; a prompt without a row has its configured text.
type promptRow struct {
	Name      string    `gorm:"primaryKey;size:64"`
	Text      string    `gorm:"type:text;not null"`
	UpdatedBy string    `gorm:"size:96"`
	UpdatedAt time.Time `gorm:"not null"`
}

func (promptRow) TableName() string { return "ivr_prompt_texts" }

// MaxPromptText bounds a prompt's text: a prompt longer than this keeps a caller
// listening for more than a minute.
const MaxPromptText = 300

// PromptText is one prompt as an administrator edits it.
type PromptText struct {
	Name string `json:"name"`
	Text string `json:"text"`
	// Configured is the configuration's text; Text differs from it when Saved.
	Configured string     `json:"configured"`
	Saved      bool       `json:"saved"`
	UpdatedBy  string     `json:"updated_by,omitempty"`
	UpdatedAt  *time.Time `json:"updated_at,omitempty"`
}

// Prompts keeps the city's prompt texts.
type Prompts struct {
	db         *gorm.DB
	configured map[string]string
	audit      *audit.Log
	now        func() time.Time
}

// NewPrompts returns the prompt texts over db: configured are ivr.prompts (the dialplan's
// own prompts are added); a nil audit log records nothing.
func NewPrompts(db *gorm.DB, configured map[string]string, log *audit.Log) (*Prompts, error) {
	all, err := prompt.Merge(configured, prompt.DialplanTexts())
	if err != nil {
		return nil, fmt.Errorf("ivr.prompts: %w", err)
	}
	return &Prompts{db: db, configured: all, audit: log, now: time.Now}, nil
}

// Texts are the texts to render, by prompt name: the saved ones over the configured.
func (p *Prompts) Texts(ctx context.Context) (map[string]string, error) {
	list, err := p.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(list))
	for _, t := range list {
		out[t.Name] = t.Text
	}
	return out, nil
}

// List returns every prompt a city may reword, by name.
func (p *Prompts) List(ctx context.Context) ([]PromptText, error) {
	var rows []promptRow
	if err := p.db.WithContext(ctx).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("ivr: read the saved prompt texts: %w", err)
	}
	saved := make(map[string]promptRow, len(rows))
	for _, r := range rows {
		saved[r.Name] = r
	}
	out := make([]PromptText, 0, len(p.configured))
	for _, name := range slices.Sorted(maps.Keys(p.configured)) {
		t := PromptText{Name: name, Text: p.configured[name], Configured: p.configured[name]}
		if r, ok := saved[name]; ok {
			at := r.UpdatedAt
			t.Text, t.Saved, t.UpdatedBy, t.UpdatedAt = r.Text, true, r.UpdatedBy, &at
		}
		out = append(out, t)
	}
	return out, nil
}

// Save rewords the prompts named in texts; prompts not named keep their text. A text
// equal to the configured one drops the rewording. Every text is checked before any is
// saved, and the change is recorded in the security audit log with who made it and the
// new texts. It returns the whole list and the names whose text changed.
func (p *Prompts) Save(ctx context.Context, who *auth.Principal, texts map[string]string) ([]PromptText, []string, error) {
	if len(texts) == 0 {
		return nil, nil, api.Errorf(api.ErrInvalid, "no_prompt_texts", "name at least one prompt and its text")
	}
	current, err := p.Texts(ctx)
	if err != nil {
		return nil, nil, err
	}
	clean := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(texts)) {
		text, err := checkPromptText(name, texts[name], p.configured)
		if err != nil {
			return nil, nil, err
		}
		if current[name] != text {
			clean[name] = text
		}
	}
	changed := slices.Sorted(maps.Keys(clean))
	if len(changed) == 0 {
		list, err := p.List(ctx)
		return list, nil, err
	}
	now := p.now().UTC()
	err = p.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, name := range changed {
			if err := tx.Where("name = ?", name).Delete(&promptRow{}).Error; err != nil {
				return err
			}
			if clean[name] == p.configured[name] {
				continue
			}
			if err := tx.Create(&promptRow{Name: name, Text: clean[name], UpdatedBy: who.Actor(), UpdatedAt: now}).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("ivr: save prompt texts: %w", err)
	}
	if p.audit != nil {
		var b strings.Builder
		b.WriteString("save_prompt_texts")
		for _, name := range changed {
			fmt.Fprintf(&b, " %s=%s", name, clean[name])
		}
		if err := p.audit.Record(ctx, audit.Event{Action: audit.ActionConfig, Actor: who.Actor(), Target: "prompt_texts",
			Detail: b.String()}); err != nil {
			return nil, nil, fmt.Errorf("ivr: record the prompt texts' change in the audit log: %w", err)
		}
	}
	list, err := p.List(ctx)
	return list, changed, err
}

// checkPromptText returns a prompt's text as it is kept (spaces trimmed), or why it
// cannot be spoken as written.
func checkPromptText(name, text string, configured map[string]string) (string, error) {
	if _, ok := configured[name]; !ok {
		return "", api.Errorf(api.ErrInvalid, "unknown_prompt", "%q is not a prompt of this hotline (the configured names are under ivr.prompts)", name)
	}
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return "", api.Errorf(api.ErrInvalid, "empty_prompt_text", "the prompt %s has no text: a caller would hear silence", name)
	case !utf8.ValidString(text):
		return "", api.Errorf(api.ErrInvalid, "invalid_prompt_text", "the prompt %s is not valid UTF-8 text", name)
	case utf8.RuneCountInString(text) > MaxPromptText:
		return "", api.Errorf(api.ErrInvalid, "prompt_text_too_long", "the prompt %s is %d characters long; the limit is %d",
			name, utf8.RuneCountInString(text), MaxPromptText)
	case strings.IndexFunc(text, unicode.IsControl) >= 0:
		return "", api.Errorf(api.ErrInvalid, "invalid_prompt_text", "the prompt %s must be one line of text, without tabs or control characters", name)
	}
	return text, nil
}

func migratePrompts(tx *gorm.DB) error {
	// Frozen snapshot of the table as of migration 20261207_50: never edit it.
	type ivrPromptText struct {
		Name      string    `gorm:"primaryKey;size:64"`
		Text      string    `gorm:"type:text;not null"`
		UpdatedBy string    `gorm:"size:96"`
		UpdatedAt time.Time `gorm:"not null"`
	}
	return tx.Table("ivr_prompt_texts").Migrator().CreateTable(&ivrPromptText{})
}

func rollbackPrompts(tx *gorm.DB) error { return tx.Migrator().DropTable("ivr_prompt_texts") }
