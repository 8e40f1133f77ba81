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
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/tickets"
)

// MaterialItemView is an approval item with its required materials.
type MaterialItemView struct {
	Code       string   `json:"code"`
	Name       string   `json:"name"`
	Department string   `json:"department,omitempty"`
	Hall       string   `json:"hall,omitempty"`
	Materials  []string `json:"materials"`
	ItemElements
	Active    bool      `json:"active"`
	UpdatedBy string    `json:"updated_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ItemElements are an approval item's elements beside its name and materials (办事指南
// 要素); with them the desk answers a consultation without sending the citizen around.
type ItemElements struct {
	LegalBasis    string `json:"legal_basis"`   // 设定依据
	TimeLimit     string `json:"time_limit"`    // 办理时限
	Preconditions string `json:"preconditions"` // 申请条件
	Process       string `json:"process"`       // 办理流程
	FeeBasis      string `json:"fee_basis"`     // 收费依据
	FeeStandard   string `json:"fee_standard"`  // 收费标准
}

// MaxElementRunes bounds each of an item's text elements.
const MaxElementRunes = 4000

// check trims the elements and checks their lengths.
func (e ItemElements) check() (ItemElements, error) {
	var err error
	for _, f := range []struct {
		name string
		v    *string
		max  int
	}{
		{"legal_basis", &e.LegalBasis, MaxElementRunes}, {"time_limit", &e.TimeLimit, 255},
		{"preconditions", &e.Preconditions, MaxElementRunes}, {"process", &e.Process, MaxElementRunes},
		{"fee_basis", &e.FeeBasis, MaxElementRunes}, {"fee_standard", &e.FeeStandard, MaxElementRunes},
	} {
		if *f.v, err = field(f.name, *f.v, f.max, false); err != nil {
			return e, err
		}
	}
	return e, nil
}

func (e ItemElements) empty() bool { return e == ItemElements{} }

// MaterialItemInput is what saving an item takes.
type MaterialItemInput struct {
	Code       string   `json:"code"`
	Name       string   `json:"name"`
	Department string   `json:"department"`
	Hall       string   `json:"hall"`
	Materials  []string `json:"materials"`
	ItemElements
	Active *bool `json:"active"`
}

var itemCode = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_\-]{0,31}$`)

func (s *Service) itemView(m *MaterialItem) MaterialItemView {
	v := MaterialItemView{Code: m.Code, Name: m.Name, Department: m.Department, Hall: m.Hall, Active: m.Active,
		UpdatedBy: m.UpdatedBy, UpdatedAt: m.UpdatedAt.In(s.loc), ItemElements: ItemElements{LegalBasis: m.LegalBasis,
			TimeLimit: m.TimeLimit, Preconditions: m.Preconditions, Process: m.Process, FeeBasis: m.FeeBasis, FeeStandard: m.FeeStandard}}
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
	el, err := in.ItemElements.check()
	if err != nil {
		return MaterialItemView{}, err
	}
	b, _ := json.Marshal(mats)
	now := s.clock()
	row := MaterialItem{Code: code, Name: name, Department: dept, Hall: hall, Materials: string(b), Active: in.Active == nil || *in.Active,
		LegalBasis: el.LegalBasis, TimeLimit: el.TimeLimit, Preconditions: el.Preconditions, Process: el.Process,
		FeeBasis: el.FeeBasis, FeeStandard: el.FeeStandard, UpdatedBy: actor, CreatedAt: now, UpdatedAt: now}
	err = s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "code"}},
		DoUpdates: clause.AssignmentColumns([]string{"name", "department", "hall", "materials", "legal_basis", "time_limit",
			"preconditions", "process", "fee_basis", "fee_standard", "active", "updated_by", "updated_at"}),
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
// must bring for an item. Sent for a ticket, the ticket must be one p may see, and its
// timeline records the send (with the number masked), so that whoever opens the ticket
// next knows what the citizen was told.
func (s *Service) SendMaterialsNotice(ctx context.Context, p *auth.Principal, in MaterialsNoticeInput) (*Message, bool, error) {
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
	number := strings.TrimSpace(in.Ticket)
	if number != "" && s.tickets != nil {
		if _, err := s.tickets.Find(ctx, p, number); err != nil {
			return nil, false, err
		}
	}
	key := ""
	if k := strings.TrimSpace(in.IdempotencyKey); k != "" {
		key = "materials:" + k
	}
	msg, created, err := s.Enqueue(ctx, NewMessage{Kind: KindMaterialsNotice, To: in.Mobile, Template: TemplateMaterialsNotice,
		Variables: map[string]string{"item": item.Name, "materials": strings.Join(item.Materials, "、"), "department": item.Department,
			"hall": hall, "number": number},
		IdempotencyKey: key, TicketNumber: number, CreatedBy: p.Actor()})
	if err != nil || !created || number == "" || s.tickets == nil {
		return msg, created, err
	}
	// The message is queued whatever happens to the note: a failed note is logged, not
	// turned into an error that would have the operator send it twice.
	note := fmt.Sprintf("已发送“%s”材料清单短信至 %s。", item.Name, phone.Mask(msg.Recipient))
	if _, err := s.tickets.Act(ctx, p, number, tickets.ActNote, tickets.ActionRequest{Note: note}); err != nil {
		s.log.WarnContext(ctx, "note the materials notice on the ticket", "ticket", number, "message", msg.ID, "err", err)
	}
	return msg, created, nil
}

// DemoMaterialItems are sample approval items for the demo city.
func DemoMaterialItems() []MaterialItemInput {
	return []MaterialItemInput{
		{Code: "JYXK", Name: "食品经营许可", Department: "市市场监督管理局", Hall: "市政务服务大厅二楼",
			Materials: []string{"营业执照", "法定代表人身份证", "经营场所使用证明", "食品安全管理制度"},
			ItemElements: ItemElements{
				LegalBasis:    "《中华人民共和国食品安全法》第三十五条；《食品经营许可和备案管理办法》",
				TimeLimit:     "法定时限 20 个工作日，承诺时限 10 个工作日（不含现场核查整改时间）",
				Preconditions: "已取得营业执照等合法主体资格；有与经营的食品品种、数量相适应的经营场所和设施；有专职或者兼职的食品安全管理人员和保证食品安全的规章制度；经营场所与有毒、有害场所以及其他污染源保持规定的距离。",
				Process:       "申请（网上或窗口提交材料）→ 受理（材料齐全即时受理，不齐全一次性告知）→ 审查（材料审查，必要时现场核查）→ 决定（准予许可的发放食品经营许可证）→ 送达（窗口领取或邮寄）",
				FeeBasis:      "《食品经营许可和备案管理办法》规定，颁发食品经营许可证不得收取任何费用",
				FeeStandard:   "不收费",
			}},
		{Code: "HJQY", Name: "户口迁移", Department: "市公安局", Hall: "市政务服务大厅一楼",
			Materials: []string{"居民户口簿", "居民身份证", "准迁证明"},
			ItemElements: ItemElements{
				LegalBasis:    "《中华人民共和国户口登记条例》第十条；本省户口迁移管理规定",
				TimeLimit:     "材料齐全的当场办结；需调查核实的 5 个工作日内办结",
				Preconditions: "符合迁入地落户条件（合法稳定住所、就业、投靠亲属等），并已取得迁入地公安机关出具的准予迁入证明；跨省迁移可在迁入地“一站式”办理。",
				Process:       "申请人持材料到迁入地户籍窗口申请 → 民警审核材料、核实身份 → 系统内办理迁出迁入 → 签发新户口簿或加页 → 申请人领取并同步申领新身份证",
				FeeBasis:      "《财政部 国家发展改革委关于公安部门收取户口簿工本费的通知》",
				FeeStandard:   "户口迁移不收费；补发或换发户口簿每本工本费 8 元（首次签发免费）",
			}},
		{Code: "SBZM", Name: "社会保险参保证明", Department: "市人力资源和社会保障局", Hall: "市政务服务大厅三楼",
			Materials: []string{"居民身份证"},
			ItemElements: ItemElements{
				LegalBasis:    "《中华人民共和国社会保险法》第七十四条；《社会保险个人权益记录管理办法》第十四条",
				TimeLimit:     "即时办结",
				Preconditions: "本人在本市参加过社会保险；代办的须持委托书及代办人身份证。",
				Process:       "本人持身份证到窗口或自助终端申请（也可在“人社网上办事大厅”自行打印）→ 核验身份 → 打印加盖业务专用章的参保证明",
				FeeBasis:      "《社会保险个人权益记录管理办法》规定，查询、打印本人权益记录不收取费用",
				FeeStandard:   "不收费",
			}},
		{Code: "BDCDJ", Name: "不动产转移登记", Department: "市自然资源局", Hall: "市不动产登记中心",
			Materials: []string{"不动产权证书", "买卖双方身份证", "购房合同", "完税凭证"},
			ItemElements: ItemElements{
				LegalBasis:    "《中华人民共和国民法典》第二百零九条；《不动产登记暂行条例》第三条、第十四条；《不动产登记暂行条例实施细则》",
				TimeLimit:     "法定时限 30 个工作日，承诺时限 5 个工作日（存量房买卖“一窗受理”的 1 个工作日）",
				Preconditions: "不动产已办理首次登记且权属清楚、无查封；买卖双方已签订买卖合同并缴清相关税费；共有不动产的，须全体共有人同意。",
				Process:       "买卖双方共同申请（“一窗受理”同时办理缴税）→ 受理并查验材料 → 审核（必要时实地查看）→ 登簿 → 缴纳登记费 → 发放不动产权证书",
				FeeBasis:      "《国家发展改革委 财政部关于不动产登记收费标准等有关问题的通知》（发改价格规〔2016〕2559号）",
				FeeStandard:   "住宅每件 80 元，非住宅每件 550 元；证书工本费第一本免收，每增加一本加收 10 元",
			}},
	}
}

// LoadDemoMaterials adds the demo items that are missing; existing ones are left as an
// administrator changed them, except that an item saved before the items had their
// other elements gets the demo's elements.
func (s *Service) LoadDemoMaterials(ctx context.Context) error {
	for _, in := range DemoMaterialItems() {
		if v, err := s.materialItem(ctx, in.Code); err == nil {
			if !v.ItemElements.empty() {
				continue
			}
			active := v.Active
			in = MaterialItemInput{Code: v.Code, Name: v.Name, Department: v.Department, Hall: v.Hall, Materials: v.Materials,
				ItemElements: in.ItemElements, Active: &active}
		} else if !errors.Is(err, api.ErrNotFound) {
			return err
		}
		if _, err := s.SaveMaterialItem(ctx, "system:demo", in); err != nil {
			return err
		}
	}
	// The demo's synonyms, unless the city has its own.
	if syns, err := s.Synonyms(ctx); err != nil || len(syns) > 0 {
		return err
	}
	return s.SaveSynonyms(ctx, "system:demo", demoSynonyms)
}
