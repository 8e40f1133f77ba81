package web

import (
	"context"
	"time"

	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/intake"
)

// option is one choice in a select.
type option struct {
	Code, Name string
}

// districtChoice is a banner/district with its townships and streets.
type districtChoice struct {
	option
	Townships []option
}

// categoryGroup is a top-level category with the choices under it.
type categoryGroup struct {
	Name    string
	Options []option
}

// directoryView is what the form's selects offer.
type directoryView struct {
	loaded     time.Time
	Districts  []districtChoice
	Categories []categoryGroup
}

// directoryTTL is how long the form's choices are reused. They change rarely; a stale
// copy is also what the form falls back to while the database is unreachable, so that a
// citizen still sees the form and gets an honest error on submitting.
const directoryTTL = time.Minute

func (h *Handler) directory(ctx context.Context) (*directoryView, error) {
	h.dirMu.Lock()
	defer h.dirMu.Unlock()
	if h.dir != nil && time.Since(h.dir.loaded) < directoryTTL {
		return h.dir, nil
	}
	d, err := loadDirectory(ctx, h.opts.Store)
	if err != nil {
		if h.dir != nil {
			h.log.WarnContext(ctx, "form choices not refreshed; using the last copy", "err", err)
			return h.dir, nil
		}
		return nil, err
	}
	h.dir = d
	return d, nil
}

func loadDirectory(ctx context.Context, s *tickets.Store) (*directoryView, error) {
	depts, err := s.Departments(ctx)
	if err != nil {
		return nil, err
	}
	cats, err := s.Categories(ctx)
	if err != nil {
		return nil, err
	}
	d := &directoryView{loaded: time.Now()}
	index := map[string]int{}
	for _, x := range depts {
		if x.Active && x.Level == tickets.LevelDistrict && x.Government && x.Parent == "" {
			index[x.Code] = len(d.Districts)
			d.Districts = append(d.Districts, districtChoice{option: option{x.Code, intake.PlaceName(x.Name)}})
		}
	}
	for _, x := range depts {
		if i, ok := index[x.Parent]; ok && x.Active && x.Level == tickets.LevelTownship {
			d.Districts[i].Townships = append(d.Districts[i].Townships, option{x.Code, intake.PlaceName(x.Name)})
		}
	}
	groups := map[string]int{}
	children := map[string]bool{}
	for _, c := range cats {
		if c.Parent == "" && c.Active {
			groups[c.Code] = len(d.Categories)
			d.Categories = append(d.Categories, categoryGroup{Name: c.Name})
		}
		if c.Parent != "" {
			children[c.Parent] = true
		}
	}
	for _, c := range cats {
		if i, ok := groups[c.Parent]; ok && c.Active {
			d.Categories[i].Options = append(d.Categories[i].Options, option{c.Code, c.Name})
		}
	}
	// A top-level category without children is itself the choice.
	for _, c := range cats {
		if i, ok := groups[c.Code]; ok && !children[c.Code] {
			d.Categories[i].Options = append(d.Categories[i].Options, option{c.Code, c.Name})
		}
	}
	return d, nil
}
