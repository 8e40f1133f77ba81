package sms

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
)

// Synonyms let the knowledge base find an item by the short names people use: a citizen
// asks about 社保, the item is called 社会保险参保证明. They are the city's data, edited by
// its administrator, not a list in the code.

// Synonym is one term and the words a search for it also looks for.
type Synonym struct {
	ID        uint64    `gorm:"primaryKey" json:"-"`
	Term      string    `gorm:"size:64;not null;uniqueIndex" json:"term"`
	Words     string    `gorm:"type:text;not null" json:"-"` // the words, one a line
	UpdatedBy string    `gorm:"size:96" json:"updated_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	// List is Words as a list, for the API.
	List []string `gorm:"-" json:"words"`
}

// TableName keeps the synonyms apart from other domains' tables.
func (Synonym) TableName() string { return "sms_synonyms" }

// synonymV1 is the table as of migration 20261206_50; never edit it.
type synonymV1 struct {
	ID        uint64 `gorm:"primaryKey"`
	Term      string `gorm:"size:64;not null;uniqueIndex"`
	Words     string `gorm:"type:text;not null"`
	UpdatedBy string `gorm:"size:96"`
	UpdatedAt time.Time
}

func (synonymV1) TableName() string { return "sms_synonyms" }

func migrateSynonyms(tx *gorm.DB) error { return tx.Migrator().CreateTable(&synonymV1{}) }

func rollbackSynonyms(tx *gorm.DB) error { return tx.Migrator().DropTable("sms_synonyms") }

// maxSynonyms bounds the list, and maxSynonymRunes each term and word.
const (
	maxSynonyms     = 2000
	maxSynonymRunes = 64
)

// Synonyms lists the terms in order.
func (s *Service) Synonyms(ctx context.Context) ([]Synonym, error) {
	var rows []Synonym
	if err := s.db.WithContext(ctx).Order("term").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("sms: list synonyms: %w", err)
	}
	for i := range rows {
		rows[i].List = strings.Split(rows[i].Words, "\n")
	}
	return rows, nil
}

// ParseSynonyms reads the administrator's text: one term a line, "社保 = 社会保险, 社会保障"
// (the words separated by commas, 、 or ，). Blank lines and lines starting with # are
// skipped.
func ParseSynonyms(text string) ([]Synonym, error) {
	var out []Synonym
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		term, rest, ok := strings.Cut(line, "=")
		if !ok {
			return nil, api.Errorf(api.ErrInvalid, "invalid_synonym", "line %d (%q) must be: term = word, word", i+1, line)
		}
		words := strings.FieldsFunc(rest, func(r rune) bool { return r == ',' || r == '，' || r == '、' })
		syn := Synonym{Term: strings.TrimSpace(term)}
		for _, w := range words {
			if w = strings.TrimSpace(w); w != "" {
				syn.List = append(syn.List, w)
			}
		}
		out = append(out, syn)
	}
	return out, nil
}

// FormatSynonyms is the text ParseSynonyms reads back.
func FormatSynonyms(syns []Synonym) string {
	var b strings.Builder
	for _, s := range syns {
		b.WriteString(s.Term + " = " + strings.Join(s.List, ", ") + "\n")
	}
	return b.String()
}

// SaveSynonyms replaces the whole list with syns (what the administrator's form holds).
func (s *Service) SaveSynonyms(ctx context.Context, actor string, syns []Synonym) error {
	if len(syns) > maxSynonyms {
		return api.Errorf(api.ErrInvalid, "too_many_synonyms", "at most %d terms", maxSynonyms)
	}
	seen := map[string]bool{}
	rows := make([]Synonym, 0, len(syns))
	for _, syn := range syns {
		term := strings.ToLower(strings.TrimSpace(syn.Term))
		if term == "" || utf8.RuneCountInString(term) > maxSynonymRunes {
			return api.Errorf(api.ErrInvalid, "invalid_synonym", "a term must have 1 to %d characters, not %q", maxSynonymRunes, syn.Term)
		}
		if seen[term] {
			return api.Errorf(api.ErrInvalid, "duplicate_synonym", "term %q is listed twice", syn.Term)
		}
		seen[term] = true
		var words []string
		for _, w := range syn.List {
			w = strings.ToLower(strings.TrimSpace(w))
			if w == "" || w == term || slices.Contains(words, w) {
				continue
			}
			if utf8.RuneCountInString(w) > maxSynonymRunes || strings.ContainsAny(w, "\n\r") {
				return api.Errorf(api.ErrInvalid, "invalid_synonym", "word %q of %q must have at most %d characters on one line", w, syn.Term, maxSynonymRunes)
			}
			words = append(words, w)
		}
		if len(words) == 0 {
			return api.Errorf(api.ErrInvalid, "empty_synonym", "term %q has no words", syn.Term)
		}
		rows = append(rows, Synonym{Term: term, Words: strings.Join(words, "\n"), UpdatedBy: actor, UpdatedAt: s.now()})
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("1 = 1").Delete(&Synonym{}).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		return tx.CreateInBatches(rows, 200).Error
	})
	if err != nil {
		return fmt.Errorf("sms: save synonyms: %w", err)
	}
	return nil
}

// SearchMaterialItems lists the active items that every word of q finds: a word finds an
// item when it, or one of its synonyms, occurs in the item's name, elements, materials,
// department, hall or code. Parts of words find it too (户口 finds 户口迁移).
func (s *Service) SearchMaterialItems(ctx context.Context, q string) ([]MaterialItemView, error) {
	items, err := s.MaterialItems(ctx)
	if err != nil {
		return nil, err
	}
	syns, err := s.Synonyms(ctx)
	if err != nil {
		return nil, err
	}
	alts := map[string][]string{}
	for _, syn := range syns {
		alts[syn.Term] = syn.List
	}
	var terms [][]string
	for _, w := range strings.Fields(strings.ToLower(q)) {
		terms = append(terms, append([]string{w}, alts[w]...))
	}
	var out []MaterialItemView
	for _, it := range items {
		if it.Active && itemMatches(it, terms) {
			out = append(out, it)
		}
	}
	return out, nil
}

// itemMatches reports whether each term (a word with its synonyms) occurs in one of the
// item's texts.
func itemMatches(it MaterialItemView, terms [][]string) bool {
	text := strings.ToLower(strings.Join(append([]string{it.Code, it.Name, it.Department, it.Hall, it.LegalBasis, it.TimeLimit,
		it.Preconditions, it.Process, it.FeeBasis, it.FeeStandard}, it.Materials...), "\n"))
	for _, alts := range terms {
		if !slices.ContainsFunc(alts, func(w string) bool { return strings.Contains(text, w) }) {
			return false
		}
	}
	return true
}

// demoSynonyms are the short names a demo city's citizens use.
var demoSynonyms = []Synonym{
	{Term: "社保", List: []string{"社会保险", "社会保障"}},
	{Term: "医保", List: []string{"医疗保险", "医疗保障"}},
	{Term: "公积金", List: []string{"住房公积金"}},
	{Term: "户口", List: []string{"户籍"}},
	{Term: "身份证", List: []string{"居民身份证"}},
	{Term: "营业执照", List: []string{"市场主体", "个体工商户"}},
}
