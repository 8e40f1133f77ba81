package tickets

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"

	"gopkg.in/yaml.v3"
)

//go:embed demo-city.yaml
var demoCity []byte

// DemoUser is a demo account from the demo city file; cmd/rexian creates them through auth.
type DemoUser struct {
	Username    string `yaml:"username"`
	DisplayName string `yaml:"display_name"`
	Role        string `yaml:"role"`
	Department  string `yaml:"department"`
	Password    string `yaml:"password"`
}

// City is a city's directory: departments, categories, refusal reasons, users.
type City struct {
	Departments    []cityDepartment `yaml:"departments"`
	Categories     []cityCategory   `yaml:"categories"`
	RefusalReasons []RefusalReason  `yaml:"refusal_reasons"`
	Users          []DemoUser       `yaml:"users"`
}

type cityDepartment struct {
	DepartmentInput `yaml:",inline"`
	Children        []cityDepartment `yaml:"children"`
}

type cityCategory struct {
	CategoryInput `yaml:",inline"`
	Children      []cityCategory `yaml:"children"`
}

// ParseCity reads a city file in the demo city's format.
func ParseCity(b []byte) (*City, error) {
	var c City
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("city file: %w", err)
	}
	return &c, nil
}

// DemoCity returns the embedded demo city (Ordos).
func DemoCity() *City {
	c, err := ParseCity(demoCity)
	if err != nil {
		panic(err) // embedded at build time; TestDemoCity keeps it parseable
	}
	return c
}

// LoadCity creates or updates the city's departments and categories. Running it twice
// changes nothing the second time.
func (s *Store) LoadCity(ctx context.Context, c *City) error {
	var depts func(parent string, ds []cityDepartment) error
	depts = func(parent string, ds []cityDepartment) error {
		for _, d := range ds {
			d.Parent = parent
			if _, err := s.SaveDepartment(ctx, d.DepartmentInput); err != nil {
				return fmt.Errorf("department %s: %w", d.Code, err)
			}
			if err := depts(d.Code, d.Children); err != nil {
				return err
			}
		}
		return nil
	}
	if err := depts("", c.Departments); err != nil {
		return err
	}
	var cats func(parent string, cs []cityCategory) error
	cats = func(parent string, cs []cityCategory) error {
		for _, x := range cs {
			x.Parent = parent
			if _, err := s.SaveCategory(ctx, x.CategoryInput); err != nil {
				return fmt.Errorf("category %s: %w", x.Code, err)
			}
			if err := cats(x.Code, x.Children); err != nil {
				return err
			}
		}
		return nil
	}
	return cats("", c.Categories)
}
