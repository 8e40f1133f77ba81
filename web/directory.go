package web

import (
	"context"
	"fmt"

	"github.com/rexian/rexian/tickets"
)

// directory is the department and category trees as the forms need them.
type directory struct {
	Groups    []categoryGroup
	Districts []district
	// Departments are the active departments in tree order, for the dispatch choice.
	Departments []tickets.DepartmentView
	// Levels are the same departments grouped by level (市直部门, 旗区, 苏木乡镇街道,
	// 嘎查村社区): the optgroups of every department picker.
	Levels   []deptLevel
	names    map[string]string // department code → name
	parent   map[string]string // department code → parent code
	defaults map[string]string // category code → default department code (inherited)
	codes    map[uint]string   // department id → code
}

// categoryGroup is a top-level category (a kind of request) with its leaves.
type categoryGroup struct {
	Name    string
	Options []categoryOption
}

// categoryOption is a category with its default handling department: the dispatch
// suggestion the registration form shows.
type categoryOption struct {
	Code, Name           string
	Department, DeptName string
}

// deptLevel is one optgroup of the department picker.
type deptLevel struct {
	Name        string
	Departments []tickets.DepartmentView
}

// levelNames are the picker's groups, in the order of the service hierarchy.
var levelNames = []struct {
	level tickets.Level
	name  string
}{{tickets.LevelCity, "市直部门"}, {tickets.LevelDistrict, "旗区"}, {tickets.LevelTownship, "苏木乡镇街道"}, {tickets.LevelVillage, "嘎查村社区"}}

type district struct {
	Code, Name string
	Townships  []tickets.DepartmentView
}

// directory reads both trees; the store caches them, so this is cheap per request.
func (h *Handler) directory(ctx context.Context) (*directory, error) {
	depts, err := h.opts.Tickets.Departments(ctx)
	if err != nil {
		return nil, fmt.Errorf("web: departments: %w", err)
	}
	cats, err := h.opts.Tickets.Categories(ctx)
	if err != nil {
		return nil, fmt.Errorf("web: categories: %w", err)
	}
	d := &directory{names: map[string]string{}, parent: map[string]string{}, defaults: map[string]string{}, codes: map[uint]string{}}
	idx := map[string]int{}
	for _, x := range depts {
		d.names[x.Code], d.parent[x.Code], d.codes[x.ID] = x.Name, x.Parent, x.Code
		if !x.Active {
			continue
		}
		d.Departments = append(d.Departments, x)
		switch {
		case x.Level == tickets.LevelDistrict && x.Government && x.Parent == "":
			idx[x.Code] = len(d.Districts)
			d.Districts = append(d.Districts, district{Code: x.Code, Name: x.Name})
		case x.Level == tickets.LevelTownship && x.Government:
			if i, ok := idx[x.Parent]; ok {
				d.Districts[i].Townships = append(d.Districts[i].Townships, x)
			}
		}
	}
	for _, l := range levelNames {
		g := deptLevel{Name: l.name}
		for _, x := range d.Departments {
			if x.Level == l.level {
				g.Departments = append(g.Departments, x)
			}
		}
		if len(g.Departments) > 0 {
			d.Levels = append(d.Levels, g)
		}
	}
	byCode := map[string]tickets.CategoryView{}
	for _, c := range cats {
		byCode[c.Code] = c
	}
	var deflt func(code string, depth int) string
	deflt = func(code string, depth int) string {
		c, ok := byCode[code]
		if !ok || depth > 16 {
			return ""
		}
		if c.Department != "" {
			return c.Department
		}
		return deflt(c.Parent, depth+1)
	}
	groups := map[string]int{}
	for _, c := range cats {
		if !c.Active {
			continue
		}
		d.defaults[c.Code] = deflt(c.Code, 0)
		if c.Parent == "" {
			groups[c.Code] = len(d.Groups)
			d.Groups = append(d.Groups, categoryGroup{Name: c.Name})
		}
	}
	for _, c := range cats {
		if !c.Active {
			continue
		}
		top := c.Code
		for i := 0; i < 16 && byCode[top].Parent != ""; i++ {
			top = byCode[top].Parent
		}
		g, ok := groups[top]
		if !ok {
			continue
		}
		dep := d.defaults[c.Code]
		d.Groups[g].Options = append(d.Groups[g].Options, categoryOption{Code: c.Code, Name: c.Name, Department: dep, DeptName: d.names[dep]})
	}
	return d, nil
}

// codeOf is the code of the department with id, or "" when unknown.
func (d *directory) codeOf(id uint) string { return d.codes[id] }

// name is a department's name, or its code when unknown.
func (d *directory) name(code string) string {
	if n, ok := d.names[code]; ok {
		return n
	}
	return code
}

// NameOf is name for the templates, but "" for no code.
func (d *directory) NameOf(code string) string {
	if code == "" {
		return ""
	}
	return d.name(code)
}

// within reports whether code is own or one of its sub-units.
func (d *directory) within(code, own string) bool {
	for i := 0; i < 16 && code != ""; i++ {
		if code == own {
			return true
		}
		code = d.parent[code]
	}
	return false
}

// subunits are the active departments below own, for a re-dispatch.
func (d *directory) subunits(own string) []tickets.DepartmentView {
	var out []tickets.DepartmentView
	for _, x := range d.Departments {
		if x.Code != own && d.within(x.Code, own) {
			out = append(out, x)
		}
	}
	return out
}
