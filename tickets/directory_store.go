package tickets

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"gorm.io/gorm"

	"github.com/rexian/rexian/calendar"
)

var codeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$`)

// DepartmentInput creates or changes a department.
type DepartmentInput struct {
	Code       string `json:"code" yaml:"code"`
	Name       string `json:"name" yaml:"name"`
	Level      Level  `json:"level" yaml:"level"`
	Parent     string `json:"parent,omitempty" yaml:"parent"`
	Government bool   `json:"government,omitempty" yaml:"government"`
	Phone      string `json:"phone,omitempty" yaml:"phone"`
	Active     *bool  `json:"active,omitempty" yaml:"active"`
}

// DepartmentView is a department as the API shows it.
type DepartmentView struct {
	ID         uint   `json:"-"` // for the consoles, which know a user's department by id
	Code       string `json:"code"`
	Name       string `json:"name"`
	Level      Level  `json:"level"`
	Parent     string `json:"parent,omitempty"`
	Government bool   `json:"government"`
	Phone      string `json:"phone,omitempty"`
	Active     bool   `json:"active"`
}

// DepartmentByCode returns the id of the active department with code (auth uses it to
// bind department users).
func (s *Store) DepartmentByCode(ctx context.Context, code string) (uint, error) {
	dir, err := s.directory(ctx)
	if err != nil {
		return 0, err
	}
	d, err := dir.department(code)
	if err != nil {
		return 0, err
	}
	return d.ID, nil
}

// Departments lists the department tree, parents before children.
func (s *Store) Departments(ctx context.Context) ([]DepartmentView, error) {
	var ds []Department
	if err := s.db.WithContext(ctx).Order("path").Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("list departments: %w", err)
	}
	byID := map[uint]string{}
	for _, d := range ds {
		byID[d.ID] = d.Code
	}
	out := make([]DepartmentView, 0, len(ds))
	for _, d := range ds {
		v := DepartmentView{ID: d.ID, Code: d.Code, Name: d.Name, Level: d.Level, Government: d.Government, Phone: d.Phone, Active: d.Active}
		if d.ParentID != nil {
			v.Parent = byID[*d.ParentID]
		}
		out = append(out, v)
	}
	return out, nil
}

// SaveDepartment creates the department with in.Code, or updates it when it exists.
func (s *Store) SaveDepartment(ctx context.Context, in DepartmentInput) (*DepartmentView, error) {
	in.Code = strings.TrimSpace(in.Code)
	if !codeRE.MatchString(in.Code) {
		return nil, invalid("invalid_code", "department code %q must be 1-32 letters, digits, '-' or '_'", in.Code)
	}
	if in.Code == None {
		return nil, invalid("reserved_code", "department code %q is reserved: the ticket list's lead_department and district filters take it for \"not set\"", in.Code)
	}
	name, err := checkText("name", in.Name, 128, true)
	if err != nil {
		return nil, err
	}
	if in.Level.depth() == 0 {
		return nil, invalid("invalid_level", "level %q is not one of city, district, township, village", in.Level)
	}
	// The phone is dialled for transfers and three-way calls: digits with the usual
	// separators, at least three digits.
	in.Phone = strings.TrimSpace(in.Phone)
	if in.Phone != "" && (!deptPhoneRE.MatchString(in.Phone) || countDigits(in.Phone) < 3) {
		return nil, invalid("invalid_department_phone", "department phone %q must be a telephone number (digits, spaces, '-', '+', parentheses; e.g. 0477-8581234)", in.Phone)
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return s.saveDepartment(tx, in, name) })
	s.refreshAfterWrite()
	if err != nil {
		return nil, err
	}
	return &DepartmentView{Code: in.Code, Name: name, Level: in.Level, Parent: in.Parent, Government: in.Government, Phone: in.Phone,
		Active: in.Active == nil || *in.Active}, nil
}

func (s *Store) saveDepartment(tx *gorm.DB, in DepartmentInput, name string) error {
	var parent *Department
	if in.Parent != "" {
		parent = &Department{}
		if err := tx.Where("code = ?", in.Parent).Take(parent).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return invalid("unknown_parent", "parent department %q does not exist", in.Parent)
			}
			return fmt.Errorf("load parent %s: %w", in.Parent, err)
		}
		if in.Level.depth() < parent.Level.depth() {
			return invalid("invalid_level", "a %s cannot be a sub-unit of a %s (%s)", in.Level, parent.Level, parent.Code)
		}
	}
	var d Department
	err := tx.Where("code = ?", in.Code).Take(&d).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		d = Department{Code: in.Code, Path: "/"}
	case err != nil:
		return fmt.Errorf("load department %s: %w", in.Code, err)
	}
	d.Name, d.Level, d.Government, d.Phone = name, in.Level, in.Government, strings.TrimSpace(in.Phone)
	d.Active = in.Active == nil || *in.Active
	d.ParentID = nil
	if parent != nil {
		d.ParentID = &parent.ID
		if d.ID != 0 && strings.HasPrefix(parent.Path, fmt.Sprintf("%s%d/", d.Path, d.ID)) {
			return invalid("cycle", "department %s cannot be placed under its own sub-unit %s", d.Code, parent.Code)
		}
	}
	if err := tx.Save(&d).Error; err != nil {
		return fmt.Errorf("save department %s: %w", d.Code, err)
	}
	oldPath := d.Path
	newPath := fmt.Sprintf("/%d/", d.ID)
	if parent != nil {
		newPath = fmt.Sprintf("%s%d/", parent.Path, d.ID)
	}
	if oldPath != newPath {
		if err := tx.Model(&d).Update("path", newPath).Error; err != nil {
			return fmt.Errorf("set path of %s: %w", d.Code, err)
		}
		if oldPath != "/" {
			// Move the sub-units along.
			var subs []Department
			if err := tx.Where("path LIKE ? AND id <> ?", oldPath+"%", d.ID).Find(&subs).Error; err != nil {
				return err
			}
			for _, sub := range subs {
				if err := tx.Model(&sub).Update("path", newPath+strings.TrimPrefix(sub.Path, oldPath)).Error; err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// CategoryInput creates or changes a category.
type CategoryInput struct {
	Code                string `json:"code" yaml:"code"`
	Name                string `json:"name" yaml:"name"`
	Kind                Kind   `json:"kind,omitempty" yaml:"kind"`
	Parent              string `json:"parent,omitempty" yaml:"parent"`
	Department          string `json:"department,omitempty" yaml:"department"`
	SignLimit           string `json:"sign_limit,omitempty" yaml:"sign_limit"`
	HandleLimit         string `json:"handle_limit,omitempty" yaml:"handle_limit"`
	UrgentSignLimit     string `json:"urgent_sign_limit,omitempty" yaml:"urgent_sign_limit"`
	UrgentHandleLimit   string `json:"urgent_handle_limit,omitempty" yaml:"urgent_handle_limit"`
	CriticalSignLimit   string `json:"critical_sign_limit,omitempty" yaml:"critical_sign_limit"`
	CriticalHandleLimit string `json:"critical_handle_limit,omitempty" yaml:"critical_handle_limit"`
	Active              *bool  `json:"active,omitempty" yaml:"active"`
}

// CategoryView is a category as the API shows it.
type CategoryView struct {
	CategoryInput
	Active bool `json:"active"`
}

var kinds = []Kind{KindConsultation, KindComplaint, KindHelp, KindSuggestion, KindPraise, KindReport, KindConduct}

// Categories lists the category tree.
func (s *Store) Categories(ctx context.Context) ([]CategoryView, error) {
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, err
	}
	var cs []Category
	if err := s.db.WithContext(ctx).Order("id").Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("list categories: %w", err)
	}
	out := make([]CategoryView, 0, len(cs))
	for _, c := range cs {
		v := CategoryView{CategoryInput: CategoryInput{Code: c.Code, Name: c.Name, Kind: dir.kindOf(&c), SignLimit: c.SignLimit,
			HandleLimit: c.HandleLimit, UrgentSignLimit: c.UrgentSignLimit, UrgentHandleLimit: c.UrgentHandleLimit,
			CriticalSignLimit: c.CriticalSignLimit, CriticalHandleLimit: c.CriticalHandleLimit}, Active: c.Active}
		if c.ParentID != nil {
			if p, ok := dir.cats[*c.ParentID]; ok {
				v.Parent = p.Code
			}
		}
		if c.DefaultDepartmentID != nil {
			if d, ok := dir.depts[*c.DefaultDepartmentID]; ok {
				v.Department = d.Code
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// SaveCategory creates the category with in.Code, or updates it when it exists.
func (s *Store) SaveCategory(ctx context.Context, in CategoryInput) (*CategoryView, error) {
	in.Code = strings.TrimSpace(in.Code)
	if !codeRE.MatchString(in.Code) {
		return nil, invalid("invalid_code", "category code %q must be 1-32 letters, digits, '-' or '_'", in.Code)
	}
	name, err := checkText("name", in.Name, 128, true)
	if err != nil {
		return nil, err
	}
	for field, v := range map[string]string{"sign_limit": in.SignLimit, "handle_limit": in.HandleLimit,
		"urgent_sign_limit": in.UrgentSignLimit, "urgent_handle_limit": in.UrgentHandleLimit,
		"critical_sign_limit": in.CriticalSignLimit, "critical_handle_limit": in.CriticalHandleLimit} {
		if v == "" {
			continue
		}
		if _, err := calendar.ParseLimit(v); err != nil {
			return nil, invalid("invalid_limit", "%s: %v", field, err)
		}
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		c := Category{}
		err := tx.Where("code = ?", in.Code).Take(&c).Error
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return fmt.Errorf("load category %s: %w", in.Code, err)
		}
		c.Code, c.Name = in.Code, name
		c.ParentID, c.DefaultDepartmentID = nil, nil
		c.Kind = in.Kind
		if in.Parent != "" {
			var p Category
			if err := tx.Where("code = ?", in.Parent).Take(&p).Error; err != nil {
				if errors.Is(err, gorm.ErrRecordNotFound) {
					return invalid("unknown_parent", "parent category %q does not exist", in.Parent)
				}
				return err
			}
			if p.ID == c.ID {
				return invalid("cycle", "a category cannot be its own parent")
			}
			c.ParentID = &p.ID
			if c.Kind == "" {
				c.Kind = p.Kind
			}
		}
		valid := false
		for _, k := range kinds {
			valid = valid || c.Kind == k
		}
		if !valid {
			return invalid("invalid_kind", "kind %q is not one of %v", c.Kind, kinds)
		}
		if in.Department != "" {
			var d Department
			if err := tx.Where("code = ?", in.Department).Take(&d).Error; err != nil {
				if errors.Is(err, gorm.ErrRecordNotFound) {
					return invalid("unknown_department", "unknown department %q", in.Department)
				}
				return err
			}
			c.DefaultDepartmentID = &d.ID
		}
		c.SignLimit, c.HandleLimit = in.SignLimit, in.HandleLimit
		c.UrgentSignLimit, c.UrgentHandleLimit = in.UrgentSignLimit, in.UrgentHandleLimit
		c.CriticalSignLimit, c.CriticalHandleLimit = in.CriticalSignLimit, in.CriticalHandleLimit
		c.Active = in.Active == nil || *in.Active
		if err := tx.Save(&c).Error; err != nil {
			return fmt.Errorf("save category %s: %w", c.Code, err)
		}
		in.Kind = c.Kind
		return nil
	})
	s.refreshAfterWrite()
	if err != nil {
		return nil, err
	}
	return &CategoryView{CategoryInput: in, Active: in.Active == nil || *in.Active}, nil
}

var deptPhoneRE = regexp.MustCompile(`^[0-9+\-() ]{3,32}$`)

func countDigits(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}
