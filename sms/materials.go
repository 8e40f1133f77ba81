package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/rexian/rexian/api"
)

// MaterialItemView is an approval item with its required materials.
type MaterialItemView struct {
	Code       string    `json:"code"`
	Name       string    `json:"name"`
	Department string    `json:"department,omitempty"`
	Hall       string    `json:"hall,omitempty"`
	Materials  []string  `json:"materials"`
	Active     bool      `json:"active"`
	UpdatedBy  string    `json:"updated_by,omitempty"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// MaterialItemInput is what saving an item takes.
type MaterialItemInput struct {
	Code       string   `json:"code"`
	Name       string   `json:"name"`
	Department string   `json:"department"`
	Hall       string   `json:"hall"`
	Materials  []string `json:"materials"`
	Active     *bool    `json:"active"`
}

var itemCode = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$`)

func (s *Service) itemView(m *MaterialItem) MaterialItemView {
	v := MaterialItemView{Code: m.Code, Name: m.Name, Department: m.Department, Hall: m.Hall, Active: m.Active,
		UpdatedBy: m.UpdatedBy, UpdatedAt: m.UpdatedAt.In(s.loc)}
	_ = json.Unmarshal([]byte(m.Materials), &v.Materials)
	return v
}

// MaterialItems lists the approval items, active ones first.
func (s *Service) MaterialItems(ctx context.Context) ([]MaterialItemView, error) {
	var rows []MaterialItem
	if err := s.db.WithContext(ctx).Order("active DESC, code").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("sms: list material items: %w", err)
	}
	out := make([]MaterialItemView, len(rows))
	for i := range rows {
		out[i] = s.itemView(&rows[i])
	}
	return out, nil
}

// SaveMaterialItem creates or replaces the item with in.Code.
func (s *Service) SaveMaterialItem(ctx context.Context, actor string, in MaterialItemInput) (MaterialItemView, error) {
	code := strings.TrimSpace(in.Code)
	if !itemCode.MatchString(code) {
		return MaterialItemView{}, api.Errorf(api.ErrInvalid, "invalid_code", "code %q must be letters, digits, - and _ (up to 32)", in.Code)
	}
	name, err := field("name", in.Name, 128, true)
	if err != nil {
		return MaterialItemView{}, err
	}
	dept, err := field("department", in.Department, 128, false)
	if err != nil {
		return MaterialItemView{}, err
	}
	hall, err := field("hall", in.Hall, 255, false)
	if err != nil {
		return MaterialItemView{}, err
	}
	var mats []string
	for _, m := range in.Materials {
		if m = strings.TrimSpace(m); m != "" {
			if _, err := field("material", m, 64, true); err != nil {
				return MaterialItemView{}, err
			}
			mats = append(mats, m)
		}
	}
	if len(mats) == 0 {
		return MaterialItemView{}, api.Errorf(api.ErrInvalid, "empty_materials", "materials lists nothing to bring")
	}
	b, _ := json.Marshal(mats)
	now := s.clock()
	row := MaterialItem{Code: code, Name: name, Department: dept, Hall: hall, Materials: string(b), Active: in.Active == nil || *in.Active,
		UpdatedBy: actor, CreatedAt: now, UpdatedAt: now}
	err = s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "code"}},
		DoUpdates: clause.AssignmentColumns([]string{"name", "department", "hall", "materials", "active", "updated_by", "updated_at"}),
	}).Create(&row).Error
	if err != nil {
		return MaterialItemView{}, fmt.Errorf("sms: save material item %s: %w", code, err)
	}
	return s.materialItem(ctx, code)
}

func (s *Service) materialItem(ctx context.Context, code string) (MaterialItemView, error) {
	var row MaterialItem
	err := s.db.WithContext(ctx).Where("code = ?", code).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return MaterialItemView{}, api.Errorf(api.ErrNotFound, "item_not_found", "no approval item %q", code)
	}
	if err != nil {
		return MaterialItemView{}, fmt.Errorf("sms: material item %s: %w", code, err)
	}
	return s.itemView(&row), nil
}

// DeleteMaterialItem removes an item.
func (s *Service) DeleteMaterialItem(ctx context.Context, code string) error {
	res := s.db.WithContext(ctx).Where("code = ?", code).Delete(&MaterialItem{})
	if res.Error != nil {
		return fmt.Errorf("sms: delete material item %s: %w", code, res.Error)
	}
	if res.RowsAffected == 0 {
		return api.Errorf(api.ErrNotFound, "item_not_found", "no approval item %q", code)
	}
	return nil
}

// MaterialsNoticeInput asks for the one-time materials notice of an item.
type MaterialsNoticeInput struct {
	Item           string `json:"item"` // the item's code
	Mobile         string `json:"mobile"`
	Ticket         string `json:"ticket,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// SendMaterialsNotice queues the one-time notice (一次性告知) of everything an applicant
// must bring for an item.
func (s *Service) SendMaterialsNotice(ctx context.Context, actor string, in MaterialsNoticeInput) (*Message, bool, error) {
	if strings.TrimSpace(in.Item) == "" {
		return nil, false, api.Errorf(api.ErrInvalid, "empty_item", "item (the approval item's code) is required")
	}
	item, err := s.materialItem(ctx, strings.TrimSpace(in.Item))
	if errors.Is(err, api.ErrNotFound) {
		return nil, false, api.Errorf(api.ErrInvalid, "unknown_item", "no approval item %q; see GET /sms/material-items", in.Item)
	}
	if err != nil {
		return nil, false, err
	}
	if !item.Active {
		return nil, false, api.Errorf(api.ErrInvalid, "inactive_item", "approval item %s (%s) is no longer offered", item.Code, item.Name)
	}
	hall := item.Hall
	if hall == "" {
		hall = "市政务服务大厅"
	}
	key := ""
	if k := strings.TrimSpace(in.IdempotencyKey); k != "" {
		key = "materials:" + k
	}
	return s.Enqueue(ctx, NewMessage{Kind: KindMaterialsNotice, To: in.Mobile, Template: TemplateMaterialsNotice,
		Variables: map[string]string{"item": item.Name, "materials": strings.Join(item.Materials, "、"), "department": item.Department,
			"hall": hall, "number": strings.TrimSpace(in.Ticket)},
		IdempotencyKey: key, TicketNumber: strings.TrimSpace(in.Ticket), CreatedBy: actor})
}

// DemoMaterialItems are sample approval items for the demo city.
func DemoMaterialItems() []MaterialItemInput {
	return []MaterialItemInput{
		{Code: "JYXK", Name: "食品经营许可", Department: "市市场监督管理局", Hall: "市政务服务大厅二楼",
			Materials: []string{"营业执照", "法定代表人身份证", "经营场所使用证明", "食品安全管理制度"}},
		{Code: "HJQY", Name: "户口迁移", Department: "市公安局", Hall: "市政务服务大厅一楼",
			Materials: []string{"居民户口簿", "居民身份证", "准迁证明"}},
		{Code: "SBZM", Name: "社会保险参保证明", Department: "市人力资源和社会保障局", Hall: "市政务服务大厅三楼",
			Materials: []string{"居民身份证"}},
		{Code: "BDCDJ", Name: "不动产转移登记", Department: "市自然资源局", Hall: "市不动产登记中心",
			Materials: []string{"不动产权证书", "买卖双方身份证", "购房合同", "完税凭证"}},
	}
}

// LoadDemoMaterials adds the demo items that are missing; existing ones are left as an
// administrator changed them.
func (s *Service) LoadDemoMaterials(ctx context.Context) error {
	for _, in := range DemoMaterialItems() {
		if _, err := s.materialItem(ctx, in.Code); err == nil {
			continue
		} else if !errors.Is(err, api.ErrNotFound) {
			return err
		}
		if _, err := s.SaveMaterialItem(ctx, "system:demo", in); err != nil {
			return err
		}
	}
	return nil
}
