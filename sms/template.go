package sms

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
)

// Variables a template of each kind may use. A template that names anything else is
// refused when it is saved, so that no message fails at send time for a typo.
var kindVariables = map[Kind][]string{
	KindReceipt:           {"number", "title"},
	KindResult:            {"number", "title", "answer"},
	KindSurvey:            {"number", "title"},
	KindApplicationNotice: {"application", "name", "item", "department", "date", "documents", "hall", "window"},
	KindMaterialsNotice:   {"item", "materials", "department", "hall", "number"},
	KindFreeText:          {"name", "number", "date", "time", "place", "text"},
	KindReply:             {"number", "status", "department", "due"},
	// number is empty for a card that names no ticket (a red card for a month's yellows).
	KindCardNotice: {"department", "color", "reason", "number"},
}

// Names of the built-in templates the outbox itself uses.
const (
	TemplateReceipt           = "receipt"
	TemplateResult            = "result"
	TemplateSurvey            = "survey"
	TemplateApplicationNotice = "application_notice"
	TemplateMaterialsNotice   = "materials_notice"
	TemplateOptOut            = "opt_out_confirmation"
	TemplateQueryReply        = "query_reply"
	TemplateQueryNotFound     = "query_not_found"
	TemplateQueryInvalid      = "query_invalid"
	TemplateCardNotice        = "card_notice"
)

// builtinTemplate is a default template; an administrator's edit (a row) overrides it.
type builtinTemplate struct {
	Name, Description string
	Kind              Kind
	Body              string
}

// builtinTemplates are the defaults, without the signature (the outbox puts the
// configured one in front of every message).
var builtinTemplates = []builtinTemplate{
	{TemplateReceipt, "回执：受理后告知工单号", KindReceipt,
		"您的诉求已受理，工单号{number}。查询办理进度请回复“查询{number}”或拨打12345。"},
	{TemplateResult, "办结结果", KindResult,
		"您反映的问题（工单号{number}）已办结：{answer}。如有疑问请拨打12345。"},
	{TemplateSurvey, "满意度回访", KindSurvey,
		"您反映的问题（工单号{number}）已办结，请对办理结果评价：回复1满意 2基本满意 3不满意。"},
	{TemplateApplicationNotice, "网上预审通过，请现场确认", KindApplicationNotice,
		"您好，您申请的{item}已通过网上预审，请于{date}前携带{documents}原件到{hall}{window}号窗口现场确认。"},
	{TemplateMaterialsNotice, "一次性告知所需材料", KindMaterialsNotice,
		"您咨询的{item}需携带以下材料：{materials}。办理地点：{hall}。如有疑问请拨打12345。"},
	{TemplateOptOut, "退订确认", KindReply,
		"退订成功，您将不再收到满意度回访等短信；您办理业务的通知仍会发送。如需恢复请拨打12345。"},
	{TemplateQueryReply, "工单查询答复", KindReply,
		"工单{number}：{status}，承办单位：{department}，办理期限：{due}。详询12345。"},
	{TemplateQueryNotFound, "工单查询：未找到", KindReply,
		"未查到与本机号码对应的工单{number}，请核对工单号，或拨打12345查询。"},
	{TemplateQueryInvalid, "工单查询：号码有误", KindReply,
		"工单号{number}有误（位数或校验位不对），请核对后重新发送“查询工单号”，或拨打12345查询。"},
	// The reason names the ticket when there is one ("工单 2611260101 超期未办结").
	{TemplateCardNotice, "红黄牌通知承办单位", KindCardNotice,
		"{department}：您单位被亮{color}（{reason}），请登录工作台查看并签收。"},
}

func findBuiltin(name string) (builtinTemplate, bool) {
	for _, b := range builtinTemplates {
		if b.Name == name {
			return b, true
		}
	}
	return builtinTemplate{}, false
}

// TemplateView is a template as the API shows it.
type TemplateView struct {
	Name        string     `json:"name"`
	Kind        Kind       `json:"kind"`
	Description string     `json:"description,omitempty"`
	Body        string     `json:"body"`
	Builtin     bool       `json:"builtin"`
	Edited      bool       `json:"edited"`
	Variables   []string   `json:"variables"` // the variables this kind allows
	UpdatedBy   string     `json:"updated_by,omitempty"`
	UpdatedAt   *time.Time `json:"updated_at,omitempty"`
}

// TemplateInput is what saving a template takes.
type TemplateInput struct {
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	Body string `json:"body"`
}

var (
	variablePattern = regexp.MustCompile(`\{([^{}]*)\}`)
	variableName    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	templateName    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// MaxTemplateRunes bounds a template body; the part limit bounds the rendered message.
const MaxTemplateRunes = 1000

// templateVariables lists the variables body names, in order of first use, or says what
// is malformed.
func templateVariables(body string) ([]string, error) {
	var names []string
	for _, m := range variablePattern.FindAllStringSubmatch(body, -1) {
		if !variableName.MatchString(m[1]) {
			return nil, api.Errorf(api.ErrInvalid, "invalid_variable", "{%s} is not a variable name (lower-case letters, digits and _)", m[1])
		}
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	rest := variablePattern.ReplaceAllString(body, "")
	if strings.ContainsAny(rest, "{}") {
		return nil, api.Errorf(api.ErrInvalid, "unbalanced_braces", "the template has a { or } that does not enclose a variable name")
	}
	return names, nil
}

// checkTemplate validates a body for kind: allowed variables only.
func checkTemplate(kind Kind, body string) error {
	if strings.TrimSpace(body) == "" {
		return api.Errorf(api.ErrInvalid, "empty_text", "template body is empty")
	}
	if !utf8.ValidString(body) {
		return api.Errorf(api.ErrInvalid, "invalid_text", "template body is not valid UTF-8 text")
	}
	if n := utf8.RuneCountInString(body); n > MaxTemplateRunes {
		return api.Errorf(api.ErrInvalid, "template_too_long", "template body is %d characters long; the limit is %d", n, MaxTemplateRunes)
	}
	names, err := templateVariables(body)
	if err != nil {
		return err
	}
	allowed := kindVariables[kind]
	for _, n := range names {
		if !slices.Contains(allowed, n) {
			return api.Errorf(api.ErrInvalid, "unknown_variable", "variable {%s} is not known for %s messages; known: {%s}",
				n, kind, strings.Join(allowed, "}, {"))
		}
	}
	return nil
}

// render fills body's variables from vars; a variable without a value is an error.
func render(body string, vars map[string]string) (string, error) {
	var missing []string
	out := variablePattern.ReplaceAllStringFunc(body, func(m string) string {
		name := m[1 : len(m)-1]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", api.Errorf(api.ErrInvalid, "missing_variable", "the template needs a value for {%s}", strings.Join(missing, "}, {"))
	}
	return out, nil
}

// Templates lists the built-in templates (as edited) and the added ones.
func (s *Service) Templates(ctx context.Context) ([]TemplateView, error) {
	var rows []Template
	if err := s.db.WithContext(ctx).Order("name").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("sms: list templates: %w", err)
	}
	byName := map[string]Template{}
	for _, r := range rows {
		byName[r.Name] = r
	}
	var out []TemplateView
	for _, b := range builtinTemplates {
		v := TemplateView{Name: b.Name, Kind: b.Kind, Description: b.Description, Body: b.Body, Builtin: true, Variables: kindVariables[b.Kind]}
		if r, ok := byName[b.Name]; ok {
			v.Body, v.Edited, v.UpdatedBy = r.Body, true, r.UpdatedBy
			at := r.UpdatedAt.In(s.loc)
			v.UpdatedAt = &at
			delete(byName, b.Name)
		}
		out = append(out, v)
	}
	for _, r := range rows {
		if _, ok := byName[r.Name]; !ok {
			continue
		}
		at := r.UpdatedAt.In(s.loc)
		out = append(out, TemplateView{Name: r.Name, Kind: r.Kind, Body: r.Body, Edited: true, Variables: kindVariables[r.Kind],
			UpdatedBy: r.UpdatedBy, UpdatedAt: &at})
	}
	return out, nil
}

// Template returns one template by name.
func (s *Service) Template(ctx context.Context, name string) (TemplateView, error) {
	all, err := s.Templates(ctx)
	if err != nil {
		return TemplateView{}, err
	}
	for _, t := range all {
		if t.Name == name {
			return t, nil
		}
	}
	return TemplateView{}, api.Errorf(api.ErrNotFound, "template_not_found", "no template %q", name)
}

// SaveTemplate creates or changes a template. A built-in template keeps its kind; an
// unknown variable is refused here, not when a message is sent.
func (s *Service) SaveTemplate(ctx context.Context, actor string, in TemplateInput) (TemplateView, error) {
	in.Name = strings.TrimSpace(in.Name)
	if !templateName.MatchString(in.Name) {
		return TemplateView{}, api.Errorf(api.ErrInvalid, "invalid_template_name", "template name %q must be lower-case letters, digits and _ (up to 64)", in.Name)
	}
	if b, ok := findBuiltin(in.Name); ok {
		if in.Kind != "" && in.Kind != b.Kind {
			return TemplateView{}, api.Errorf(api.ErrInvalid, "template_kind", "built-in template %s is for %s messages; its kind cannot change", in.Name, b.Kind)
		}
		in.Kind = b.Kind
	}
	if !in.Kind.Valid() {
		return TemplateView{}, api.Errorf(api.ErrInvalid, "unknown_kind", "unknown kind %q; one of %v", in.Kind, Kinds)
	}
	if err := checkTemplate(in.Kind, in.Body); err != nil {
		return TemplateView{}, err
	}
	row := Template{Name: in.Name, Kind: in.Kind, Body: strings.TrimSpace(in.Body), UpdatedBy: actor, UpdatedAt: s.now()}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var old Template
		err := tx.Where("name = ?", row.Name).Take(&old).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			return tx.Create(&row).Error
		case err != nil:
			return err
		case old.Kind != row.Kind:
			return api.Errorf(api.ErrConflict, "template_kind", "template %s is for %s messages; its kind cannot change", row.Name, old.Kind)
		}
		return tx.Model(&Template{}).Where("name = ?", row.Name).
			Updates(map[string]any{"body": row.Body, "updated_by": row.UpdatedBy, "updated_at": row.UpdatedAt}).Error
	})
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) {
			return TemplateView{}, err
		}
		return TemplateView{}, fmt.Errorf("sms: save template %s: %w", in.Name, err)
	}
	return s.Template(ctx, in.Name)
}

// DeleteTemplate removes an added template, or undoes the edit of a built-in one.
func (s *Service) DeleteTemplate(ctx context.Context, name string) error {
	res := s.db.WithContext(ctx).Where("name = ?", name).Delete(&Template{})
	if res.Error != nil {
		return fmt.Errorf("sms: delete template %s: %w", name, res.Error)
	}
	if res.RowsAffected == 0 {
		if _, ok := findBuiltin(name); ok {
			return nil // already the default
		}
		return api.Errorf(api.ErrNotFound, "template_not_found", "no template %q", name)
	}
	return nil
}

// templateBody returns the body and kind of the template called name.
func (s *Service) templateBody(ctx context.Context, name string) (string, Kind, error) {
	var row Template
	err := s.db.WithContext(ctx).Where("name = ?", name).Take(&row).Error
	switch {
	case err == nil:
		return row.Body, row.Kind, nil
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return "", "", fmt.Errorf("sms: load template %s: %w", name, err)
	}
	if b, ok := findBuiltin(name); ok {
		return b.Body, b.Kind, nil
	}
	return "", "", api.Errorf(api.ErrInvalid, "unknown_template", "no template %q", name)
}
