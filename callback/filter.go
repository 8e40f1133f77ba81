package callback

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/tickets"
)

// groupFilter narrows q to f's department, district, category and channel, which name
// codes; the survey keeps ids, so the codes are looked up in the tickets' directory
// tables (the ones the list joins for the codes it shows).
func (s *Service) groupFilter(ctx context.Context, q *gorm.DB, f Filter) (*gorm.DB, error) {
	if v := strings.TrimSpace(f.Department); v != "" {
		if v == tickets.None {
			q = q.Where("s.department_id IS NULL")
		} else {
			d, err := s.departmentByCode(ctx, v)
			if err != nil {
				return nil, err
			}
			if d == nil {
				return nil, api.Errorf(api.ErrInvalid, "unknown_department", "unknown department %q; a department code, or %q for surveys without one", v, tickets.None)
			}
			q = q.Where("s.department_id = ?", d.ID)
		}
	}
	if v := strings.TrimSpace(f.District); v != "" {
		if v == tickets.None {
			q = q.Where("s.district_id IS NULL")
		} else {
			d, err := s.departmentByCode(ctx, v)
			if err != nil {
				return nil, err
			}
			if d == nil {
				return nil, api.Errorf(api.ErrInvalid, "unknown_district", "unknown district %q; a banner/district government's code, or %q for surveys without one", v, tickets.None)
			}
			if d.Level != tickets.LevelDistrict || !d.Government {
				return nil, api.Errorf(api.ErrInvalid, "invalid_district", "district %q (%s) is not a banner/district government", v, d.Name)
			}
			q = q.Where("s.district_id = ?", d.ID)
		}
	}
	if v := strings.TrimSpace(f.Category); v != "" {
		ids, err := s.categoryTree(ctx, v)
		if err != nil {
			return nil, err
		}
		q = q.Where("s.category_id IN ?", ids)
	}
	if v := strings.TrimSpace(f.Channel); v != "" {
		if v == tickets.None {
			q = q.Where("s.ticket_channel = ''")
		} else {
			if !tickets.Channel(v).Valid() {
				return nil, api.Errorf(api.ErrInvalid, "unknown_channel", "unknown channel %q; a ticket channel (phone, voicemail, mailbox, qq, web, open311, sms, walk_in), or %q", v, tickets.None)
			}
			q = q.Where("s.ticket_channel = ?", v)
		}
	}
	return q, nil
}

// departmentByCode is the department with code, inactive ones too (they still led the
// tickets they had); nil when there is none.
func (s *Service) departmentByCode(ctx context.Context, code string) (*tickets.Department, error) {
	var ds []tickets.Department
	if err := s.db.WithContext(ctx).Where("code = ?", code).Limit(1).Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("callback: find department %s: %w", code, err)
	}
	if len(ds) == 0 {
		return nil, nil
	}
	return &ds[0], nil
}

// categoryTree lists the ids of the category with code and of all its descendants.
func (s *Service) categoryTree(ctx context.Context, code string) ([]uint, error) {
	var cs []tickets.Category
	if err := s.db.WithContext(ctx).Select("id", "code", "parent_id").Find(&cs).Error; err != nil {
		return nil, fmt.Errorf("callback: load categories: %w", err)
	}
	children := map[uint][]uint{}
	var root *tickets.Category
	for i, c := range cs {
		if c.Code == code {
			root = &cs[i]
		}
		if c.ParentID != nil {
			children[*c.ParentID] = append(children[*c.ParentID], c.ID)
		}
	}
	if root == nil {
		return nil, api.Errorf(api.ErrInvalid, "unknown_category", "unknown category %q", code)
	}
	ids := []uint{root.ID}
	seen := map[uint]bool{root.ID: true}
	for i := 0; i < len(ids); i++ {
		for _, c := range children[ids[i]] {
			if !seen[c] {
				seen[c] = true
				ids = append(ids, c)
			}
		}
	}
	return ids, nil
}
