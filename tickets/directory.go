package tickets

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rexian/rexian/api"
)

// directory is an in-memory copy of the department and category trees. They are small
// (hundreds of rows), read on every request and rarely written, so each instance keeps a
// copy and reloads it when it is older than dirTTL or after a local write.
type directory struct {
	loaded   time.Time
	depts    map[uint]*Department
	deptCode map[string]*Department
	cats     map[uint]*Category
	catCode  map[string]*Category
}

const dirTTL = 30 * time.Second

type dirCache struct {
	mu  sync.Mutex
	dir *directory
}

func (c *dirCache) invalidate() {
	c.mu.Lock()
	c.dir = nil
	c.mu.Unlock()
}

func (s *Store) directory(ctx context.Context) (*directory, error) {
	s.dirs.mu.Lock()
	defer s.dirs.mu.Unlock()
	if d := s.dirs.dir; d != nil && time.Since(d.loaded) < dirTTL {
		return d, nil
	}
	var depts []Department
	if err := s.db.WithContext(ctx).Find(&depts).Error; err != nil {
		return nil, fmt.Errorf("load departments: %w", err)
	}
	var cats []Category
	if err := s.db.WithContext(ctx).Find(&cats).Error; err != nil {
		return nil, fmt.Errorf("load categories: %w", err)
	}
	d := &directory{
		loaded:   time.Now(),
		depts:    make(map[uint]*Department, len(depts)),
		deptCode: make(map[string]*Department, len(depts)),
		cats:     make(map[uint]*Category, len(cats)),
		catCode:  make(map[string]*Category, len(cats)),
	}
	for i := range depts {
		d.depts[depts[i].ID] = &depts[i]
		d.deptCode[depts[i].Code] = &depts[i]
	}
	for i := range cats {
		d.cats[cats[i].ID] = &cats[i]
		d.catCode[cats[i].Code] = &cats[i]
	}
	s.dirs.dir = d
	return d, nil
}

func (d *directory) department(code string) (*Department, error) {
	dep, ok := d.deptCode[strings.TrimSpace(code)]
	if !ok {
		return nil, api.Errorf(api.ErrInvalid, "unknown_department", "unknown department %q", code)
	}
	if !dep.Active {
		return nil, api.Errorf(api.ErrInvalid, "inactive_department", "department %q (%s) is no longer active", code, dep.Name)
	}
	return dep, nil
}

func (d *directory) category(code string) (*Category, error) {
	c, ok := d.catCode[strings.TrimSpace(code)]
	if !ok {
		return nil, api.Errorf(api.ErrInvalid, "unknown_category", "unknown category %q", code)
	}
	if !c.Active {
		return nil, api.Errorf(api.ErrInvalid, "inactive_category", "category %q (%s) is no longer in use", code, c.Name)
	}
	return c, nil
}

// within reports whether department id is dept itself or one of its sub-units.
func (d *directory) within(id uint, dept *Department) bool {
	x, ok := d.depts[id]
	return ok && strings.HasPrefix(x.Path, dept.Path)
}

// subtree lists the ids of dept and all its sub-units.
func (d *directory) subtree(dept *Department) []uint {
	var ids []uint
	for id, x := range d.depts {
		if strings.HasPrefix(x.Path, dept.Path) {
			ids = append(ids, id)
		}
	}
	return ids
}

// hasSubunits reports whether dept has an active sub-unit to hand a ticket down to.
func (d *directory) hasSubunits(dept *Department) bool {
	if dept == nil {
		return false
	}
	for _, x := range d.depts {
		if x.ID != dept.ID && x.Active && strings.HasPrefix(x.Path, dept.Path) {
			return true
		}
	}
	return false
}

// categoryChain returns c and its ancestors, nearest first.
func (d *directory) categoryChain(c *Category) []*Category {
	chain := []*Category{c}
	for c.ParentID != nil && len(chain) < 16 {
		p, ok := d.cats[*c.ParentID]
		if !ok {
			break
		}
		chain = append(chain, p)
		c = p
	}
	return chain
}

// kindOf is the kind of the category's root (children may leave Kind empty).
func (d *directory) kindOf(c *Category) Kind {
	for _, x := range d.categoryChain(c) {
		if x.Kind != "" {
			return x.Kind
		}
	}
	return ""
}

// defaultDepartment is the nearest default department up the category chain.
func (d *directory) defaultDepartment(c *Category) *Department {
	for _, x := range d.categoryChain(c) {
		if x.DefaultDepartmentID != nil {
			if dep, ok := d.depts[*x.DefaultDepartmentID]; ok && dep.Active {
				return dep
			}
		}
	}
	return nil
}

func (d *directory) deptRef(id *uint) *DepartmentRef {
	if id == nil {
		return nil
	}
	dep, ok := d.depts[*id]
	if !ok {
		return &DepartmentRef{Code: fmt.Sprintf("#%d", *id)}
	}
	return &DepartmentRef{Code: dep.Code, Name: dep.Name}
}

// governmentFor finds the banner/district government that takes a ticket whose
// department is unclear (兜底), from the ticket's district or, failing that, its township.
func (d *directory) governmentFor(t *Ticket) *Department {
	for _, id := range []*uint{t.DistrictID, t.TownshipID} {
		if id == nil {
			continue
		}
		dep, ok := d.depts[*id]
		if !ok || !dep.Active {
			continue
		}
		// Walk up to the nearest government.
		for dep != nil {
			if dep.Government && dep.Level == LevelDistrict {
				return dep
			}
			if dep.ParentID == nil {
				break
			}
			dep = d.depts[*dep.ParentID]
		}
	}
	return nil
}

// refreshAfterWrite drops the cache after a local write to the trees.
func (s *Store) refreshAfterWrite() { s.dirs.invalidate() }
