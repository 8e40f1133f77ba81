package dashboards

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// Actor carries out workflow actions on tickets: the tickets store, behind an interface
// so that urging is tested without the rest of the workflow.
type Actor interface {
	Act(ctx context.Context, p *auth.Principal, number string, action tickets.Action, req tickets.ActionRequest) (*tickets.View, error)
}

// Options configure a Service. Zero values take the defaults noted.
type Options struct {
	// Location is the city's zone: periods begin at its midnights. Default Asia/Shanghai.
	Location *time.Location
	// Now is the clock; default time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Surveys reports survey figures; nil reads the callback table when it exists.
	Surveys SurveyCounter
	// Cards are the card rules; nil is DefaultCardRules.
	Cards *CardRules
	// Tickets urges late tickets; nil refuses urging.
	Tickets Actor
	// Texter queues the SMS that tell departments of their cards; nil: NotifyCards fails.
	Texter Texter
	// Read, when set, is where the figures, lists and bulletins are read: a standby of db
	// (database_read_url), so that a supervisor's year does not load the primary. Writes
	// (cards, supervisions, answers, the roll-up passes) always go to db.
	Read *gorm.DB
}

// Service computes the figures and keeps cards, on-site supervisions and published
// answers.
type Service struct {
	db    *gorm.DB
	read  *gorm.DB // the figures' queries: Options.Read, or db
	opts  Options
	rules CardRules
	// liveOnly counts every figure live, ignoring the daily roll-ups (for comparison).
	liveOnly bool
}

// NewService returns the dashboards over db, which holds the tickets schema and this
// package's migrations.
func NewService(db *gorm.DB, opts Options) *Service {
	if opts.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			loc = time.FixedZone("CST", 8*3600)
		}
		opts.Location = loc
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	read := db
	if opts.Read != nil {
		read = opts.Read
	}
	if opts.Surveys == nil {
		opts.Surveys = &surveyTable{db: read}
	}
	rules := DefaultCardRules()
	if opts.Cards != nil {
		rules = *opts.Cards
	}
	if rules.Lookback <= 0 {
		rules.Lookback = DefaultCardRules().Lookback
	}
	return &Service{db: db, read: read, opts: opts, rules: rules}
}

// Location is the city's zone.
func (s *Service) Location() *time.Location { return s.opts.Location }

func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// directory is a snapshot of the departments and categories, which are small: groups are
// named and rolled up in Go rather than by joins on every figure query.
type directory struct {
	depts    map[uint]*tickets.Department
	deptCode map[string]*tickets.Department
	cats     map[uint]*tickets.Category
}

func (s *Service) directory(ctx context.Context) (*directory, error) {
	var ds []*tickets.Department
	if err := s.read.WithContext(ctx).Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("dashboards: load departments: %w", err)
	}
	var cs []*tickets.Category
	if err := s.read.WithContext(ctx).Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("dashboards: load categories: %w", err)
	}
	d := &directory{depts: map[uint]*tickets.Department{}, deptCode: map[string]*tickets.Department{}, cats: map[uint]*tickets.Category{}}
	for _, x := range ds {
		d.depts[x.ID] = x
		d.deptCode[x.Code] = x
	}
	for _, c := range cs {
		d.cats[c.ID] = c
	}
	return d, nil
}

// rootCategory is the top of c's tree: category figures are by top-level category, so
// that each group's ticket filter (category=<code>, which takes the children) lists
// exactly the tickets counted.
func (d *directory) rootCategory(id uint) *tickets.Category {
	c := d.cats[id]
	for i := 0; c != nil && c.ParentID != nil && i < 16; i++ {
		p, ok := d.cats[*c.ParentID]
		if !ok {
			break
		}
		c = p
	}
	return c
}

// district is the banner/district government d belongs to (itself included), or nil for
// a city department.
func (d *directory) district(id uint) *tickets.Department {
	x := d.depts[id]
	for i := 0; x != nil && i < 16; i++ {
		if x.Level == tickets.LevelDistrict && x.Government {
			return x
		}
		if x.ParentID == nil {
			return nil
		}
		x = d.depts[*x.ParentID]
	}
	return nil
}

// within reports whether department id is dept or one of its sub-units.
func (d *directory) within(id uint, dept *tickets.Department) bool {
	x, ok := d.depts[id]
	return ok && (x.ID == dept.ID || strings.HasPrefix(x.Path, dept.Path))
}

// visibleDepartment is the department whose figures p may see: nil for everything
// (supervisors, admins), p's own for a department user; others are refused.
func (d *directory) visibleDepartment(p *auth.Principal) (*tickets.Department, error) {
	switch {
	case p == nil:
		return nil, api.Errorf(api.ErrUnauthorized, "unauthorized", "log in first")
	case p.Is(auth.RoleSupervisor):
		return nil, nil
	case p.Role == auth.RoleDepartment:
		own, ok := d.depts[p.DepartmentID]
		if !ok {
			return nil, api.Errorf(api.ErrForbidden, "no_department", "your account is not bound to a department")
		}
		return own, nil
	}
	return nil, api.Errorf(api.ErrForbidden, "forbidden", "a %s may not see the dashboards", p.Role)
}
