package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/tickets"
)

// The administration pages (/console/admin/…) do what the admin API does, through the
// same service calls (auth.Service for users and tokens, tickets.Store for departments
// and categories, sms.Service for templates and the knowledge base), so that a form
// meets exactly the API's rules and messages. Each change is recorded with who made it
// and what it was, in the log and in the security audit log.

// adminRoutes mounts the pages on g, which lets only administrators through.
func (h *Handler) adminRoutes(g gin.IRoutes) {
	g.GET("", h.showAdmin)
	g.GET("/", h.showAdmin)
	g.GET("/users", h.showUsers)
	g.POST("/users", h.createUser)
	g.POST("/users/:id", h.updateUser)
	g.POST("/users/:id/two-factor", h.resetTwoFactor)
	g.GET("/tokens", h.showTokens)
	g.POST("/tokens", h.createToken)
	g.POST("/tokens/:id/revoke", h.revokeToken)
	g.GET("/departments", h.showDepartments)
	g.POST("/departments", h.saveDepartment)
	g.GET("/categories", h.showCategories)
	g.POST("/categories", h.saveCategory)
	g.GET("/templates", h.showTemplates)
	g.POST("/templates", h.saveTemplate)
	g.GET("/knowledge", h.showAdminKnowledge)
	g.POST("/knowledge", h.saveKnowledge)
	g.POST("/knowledge/:code/delete", h.deleteKnowledge)
	g.POST("/synonyms", h.saveSynonyms)
	g.GET("/settings", h.showSettings)
	g.POST("/refusal-reasons", h.saveRefusalReasons)
	g.POST("/prompts", h.savePrompts)
	g.GET("/privacy", h.showPrivacy)
	g.POST("/privacy", h.erasePersonalData)
	g.GET("/optouts", h.showOptOuts)
	g.POST("/optouts", h.addOptOut)
	g.POST("/optouts/remove", h.removeOptOut)
}

// adminPage is every administration page: which section, its rows and the form that
// failed, kept as typed.
type adminPage struct {
	base
	Section string
	Form    url.Values
	Dir     *directory
	// The section's rows.
	Users       []adminUser
	Tokens      []adminToken
	Departments []tickets.DepartmentView
	Categories  []adminCategory
	Templates   []sms.TemplateView
	Items       []sms.MaterialItemView
	Synonyms    string
	Refusals    string // the refusal reasons as the form edits them, one "code = 理由" a line
	Prompts     []adminPrompt
	Privacy     *privacyForm // the deletion request being confirmed or done
	OptOuts     *optOutList
	// Secret is a new token's secret, shown on this page only.
	Secret string
	// Scopes are what a new token can be given; a fresh form checks auth.DefaultScopes.
	Scopes []scopeOption
	Roles  []option
	Levels []option
	Kinds  []option
}

type adminUser struct {
	auth.User
	Department, DepartmentCode string
}

type adminToken struct {
	auth.Token
	Department string
}

// scopeOption is one scope's checkbox on the token form.
type scopeOption struct {
	auth.ScopeInfo
	Checked bool
}

// scopeOptions are the scope checkboxes: as posted when form was posted, else the defaults.
func scopeOptions(form url.Values) []scopeOption {
	checked := auth.DefaultScopes
	if form.Has("name") {
		checked = form["scope"]
	}
	out := make([]scopeOption, len(auth.AllScopes))
	for i, s := range auth.AllScopes {
		out[i] = scopeOption{ScopeInfo: s, Checked: slices.Contains(checked, s.Name)}
	}
	return out
}

// adminPrompt is one prompt's row on the settings page: its text as the form edits it.
type adminPrompt struct {
	ivr.PromptText
	Field string // the form field: "prompt." + name
	By    string // who reworded it, in words
}

type adminCategory struct {
	tickets.CategoryView
	Depth      int
	Department string
}

var (
	roleOptions = []option{{string(auth.RoleOperator), "话务员"}, {string(auth.RoleDepartment), "承办单位"},
		{string(auth.RoleSupervisor), "督办/领导"}, {string(auth.RoleAdmin), "系统管理员"}, {string(auth.RoleIntegrator), "接口调用"}}
	levelOptions = []option{{string(tickets.LevelCity), "市直部门"}, {string(tickets.LevelDistrict), "旗区"},
		{string(tickets.LevelTownship), "苏木乡镇街道"}, {string(tickets.LevelVillage), "嘎查村社区"}}
	kindOptions = []option{{string(tickets.KindConsultation), "咨询"}, {string(tickets.KindComplaint), "投诉"},
		{string(tickets.KindHelp), "求助"}, {string(tickets.KindSuggestion), "建议"}, {string(tickets.KindPraise), "表扬"},
		{string(tickets.KindReport), "举报"}, {string(tickets.KindConduct), "效能投诉"}}
)

// adminFlashes are the texts of the ok= codes these pages redirect with.
var adminFlashes = map[string]string{
	"user_created": "用户已创建。", "user_saved": "用户已保存。",
	"two_factor_reset": "已重置该用户的双因素认证，其登录已全部结束；下次登录时须重新绑定验证器。", "token_revoked": "令牌已吊销。",
	"department_saved": "单位已保存。", "category_saved": "类别已保存。", "template_saved": "短信模板已保存。",
	"item_saved": "事项已保存。", "item_deleted": "事项已删除。", "synonyms_saved": "同义词已保存。",
	"refusals_saved":  "不予受理理由已保存。",
	"opt_out_added":   "该号码已列入退订名单：不再收到回访短信和工作人员发送的短信（受理回执和办件通知照常发送），已排队未发的此类短信不再发送。",
	"opt_out_removed": "该号码已移出退订名单，今后会收到回访短信。",
	"prompts_saved":   "语音提示文本已保存。来电者要等音频重新生成并安装后才能听到新文本：请在服务器上用与服务相同的配置运行 rexian prompts，再把生成的文件复制到每台 Asterisk 的声音目录（见 deploy/asterisk/README.md）。",
	"prompts_same":    "语音提示文本没有改动。",
}

func init() {
	for k, v := range adminFlashes {
		flashes[k] = v
	}
}

// adminBase is the layout of an administration page.
func (h *Handler) adminBase(c *gin.Context, title string) base {
	b := h.base(c, title)
	b.Nav = "admin"
	return b
}

// audit records an administrator's change: who, what, and on which record, in the log
// and, as kind, in the security audit log. The auth service records user and token
// changes in the audit log itself, so those come here with kind "".
func (h *Handler) audit(c *gin.Context, kind, action, target string, attrs ...any) {
	ctx, p := c.Request.Context(), auth.Current(c)
	h.log.InfoContext(ctx, "admin change", append([]any{"by", p.Actor(), "action", action, "target", target}, attrs...)...)
	if kind == "" {
		return
	}
	detail := []string{action}
	for i := 0; i+1 < len(attrs); i += 2 {
		detail = append(detail, fmt.Sprintf("%v=%v", attrs[i], attrs[i+1]))
	}
	if err := h.opts.Audit.Record(ctx, audit.Event{Action: kind, Target: target, Detail: strings.Join(detail, " "),
		Actor: p.Actor(), IP: c.ClientIP()}); err != nil {
		h.log.ErrorContext(ctx, "record an admin change in the audit log", "action", action, "target", target, "err", err)
	}
}

func (h *Handler) showAdmin(c *gin.Context) {
	h.render(c, http.StatusOK, "admin", adminPage{base: h.adminBase(c, "系统管理"), Section: "home"})
}

// renderAdmin fills the section's rows and renders it with status; a failure to read
// them is the error page.
func (h *Handler) renderAdmin(c *gin.Context, status int, b base, section string, form url.Values) {
	ctx := c.Request.Context()
	page := adminPage{base: b, Section: section, Form: form, Roles: roleOptions, Levels: levelOptions, Kinds: kindOptions}
	if page.Form == nil {
		page.Form = url.Values{}
	}
	var err error
	if page.Dir, err = h.directory(ctx); err != nil {
		h.fail(c, b, err)
		return
	}
	switch section {
	case "users":
		err = h.fillUsers(ctx, &page)
	case "tokens":
		page.Scopes = scopeOptions(page.Form)
		err = h.fillTokens(ctx, &page)
	case "departments":
		page.Departments, err = h.opts.Tickets.Departments(ctx)
	case "categories":
		err = h.fillCategories(ctx, &page)
	case "templates":
		if h.opts.SMS == nil {
			err = h.smsOff()
			break
		}
		page.Templates, err = h.opts.SMS.Templates(ctx)
	case "knowledge":
		if h.opts.SMS == nil {
			err = h.smsOff()
			break
		}
		if page.Items, err = h.opts.SMS.MaterialItems(ctx); err == nil {
			var syn []sms.Synonym
			syn, err = h.opts.SMS.Synonyms(ctx)
			page.Synonyms = sms.FormatSynonyms(syn)
			if form != nil && form.Has("synonyms") {
				page.Synonyms = form.Get("synonyms")
			}
		}
	case "optouts":
		err = h.fillOptOuts(c, &page)
	case "settings":
		if page.Prompts, err = h.adminPrompts(ctx, page.Dir, form); err != nil {
			break
		}
		var rs []tickets.RefusalReason
		rs, err = h.opts.Tickets.RefusalReasons(ctx)
		page.Refusals = tickets.FormatRefusalReasons(rs)
		if form != nil && form.Has("refusal_reasons") {
			page.Refusals = form.Get("refusal_reasons")
		}
	}
	if err != nil {
		h.fail(c, b, err)
		return
	}
	h.render(c, status, "admin", page)
}

// adminFailed shows the section again with err's message and the form as typed.
func (h *Handler) adminFailed(c *gin.Context, title, section string, err error) {
	b := h.adminBase(c, title)
	b.Error = message(err)
	h.renderAdmin(c, statusOf(err), b, section, c.Request.PostForm)
}

func (h *Handler) fillUsers(ctx context.Context, page *adminPage) error {
	users, _, err := h.opts.Auth.ListUsers(ctx, auth.UserFilter{Page: api.Page{Page: 1, PerPage: 1000}})
	if err != nil {
		return err
	}
	for _, u := range users {
		au := adminUser{User: u}
		if u.DepartmentID != nil {
			au.DepartmentCode = page.Dir.codeOf(*u.DepartmentID)
			au.Department = page.Dir.NameOf(au.DepartmentCode)
		}
		page.Users = append(page.Users, au)
	}
	return nil
}

func (h *Handler) fillTokens(ctx context.Context, page *adminPage) error {
	tokens, err := h.opts.Auth.ListTokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		at := adminToken{Token: t}
		if t.DepartmentID != nil {
			at.Department = page.Dir.NameOf(page.Dir.codeOf(*t.DepartmentID))
		}
		page.Tokens = append(page.Tokens, at)
	}
	return nil
}

// fillCategories lists the category tree depth first, each under its parent.
func (h *Handler) fillCategories(ctx context.Context, page *adminPage) error {
	cats, err := h.opts.Tickets.Categories(ctx)
	if err != nil {
		return err
	}
	children := map[string][]tickets.CategoryView{}
	for _, c := range cats {
		children[c.Parent] = append(children[c.Parent], c)
	}
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, c := range children[parent] {
			page.Categories = append(page.Categories, adminCategory{CategoryView: c, Depth: depth, Department: page.Dir.NameOf(c.Department)})
			if depth < 16 {
				walk(c.Code, depth+1)
			}
		}
	}
	walk("", 0)
	return nil
}

func (h *Handler) showUsers(c *gin.Context) {
	h.renderAdmin(c, http.StatusOK, h.adminBase(c, "用户管理"), "users", nil)
}

func (h *Handler) createUser(c *gin.Context) {
	form := c.Request.PostForm
	u, err := h.opts.Auth.CreateUser(c.Request.Context(), auth.NewUser{Username: form.Get("username"), DisplayName: form.Get("display_name"),
		Role: auth.Role(form.Get("role")), DepartmentCode: strings.TrimSpace(form.Get("department")), Password: form.Get("password")})
	if err != nil {
		h.adminFailed(c, "用户管理", "users", err)
		return
	}
	h.audit(c, "", "create_user", u.Username, "role", u.Role, "department", form.Get("department"))
	redirect(c, "/console/admin/users", "user_created")
}

// updateUser saves one user's row: name, role, unit, disabled, and a new password when
// one is typed.
func (h *Handler) updateUser(c *gin.Context) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 32)
	if err != nil || id == 0 {
		h.fail(c, h.adminBase(c, "用户管理"), api.Errorf(api.ErrNotFound, "user_not_found", "没有该用户。"))
		return
	}
	form := c.Request.PostForm
	name, role, dept := form.Get("display_name"), auth.Role(form.Get("role")), strings.TrimSpace(form.Get("department"))
	disabled := form.Get("disabled") == "1"
	up := auth.UserUpdate{DisplayName: &name, Role: &role, Disabled: &disabled}
	if role == auth.RoleDepartment {
		up.DepartmentCode = &dept
	}
	changed := []string{"display_name", "role", "disabled"}
	if pw := form.Get("password"); pw != "" {
		up.Password = &pw
		changed = append(changed, "password")
	}
	u, err := h.opts.Auth.UpdateUser(c.Request.Context(), uint(id), up)
	if err != nil {
		form.Set("user", c.Param("id"))
		h.adminFailed(c, "用户管理", "users", err)
		return
	}
	h.audit(c, "", "update_user", u.Username, "fields", strings.Join(changed, ","), "role", u.Role, "disabled", u.Disabled, "department", dept)
	redirect(c, "/console/admin/users", "user_saved")
}

// resetTwoFactor removes another user's second factor, for someone who lost both the phone
// and the recovery codes. The auth service refuses an administrator's own.
func (h *Handler) resetTwoFactor(c *gin.Context) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 32)
	if err != nil || id == 0 {
		h.fail(c, h.adminBase(c, "用户管理"), api.Errorf(api.ErrNotFound, "user_not_found", "没有该用户。"))
		return
	}
	if _, err := h.opts.Auth.ResetTwoFactor(c.Request.Context(), auth.Current(c), uint(id)); err != nil {
		if errors.Is(err, api.ErrForbidden) {
			err = api.Errorf(api.ErrForbidden, "reset_own_two_factor", "不能重置自己的双因素认证，请另一位系统管理员操作。")
		}
		h.adminFailed(c, "用户管理", "users", err)
		return
	}
	redirect(c, "/console/admin/users", "two_factor_reset")
}

func (h *Handler) showTokens(c *gin.Context) {
	h.renderAdmin(c, http.StatusOK, h.adminBase(c, "接口令牌"), "tokens", nil)
}

// createToken shows the new token's secret on the answer page itself: it is kept only
// as a hash, so no later page can show it again.
func (h *Handler) createToken(c *gin.Context) {
	form := c.Request.PostForm
	scopes := form["scope"]
	if len(scopes) == 0 {
		// An empty list would mean the defaults to the API; on the page it means the
		// administrator unticked everything, which is a mistake to point out.
		h.adminFailed(c, "接口令牌", "tokens", api.Errorf(api.ErrInvalid, "invalid_scope", "请至少选择一项权限范围。"))
		return
	}
	secret, t, err := h.opts.Auth.CreateToken(c.Request.Context(), form.Get("name"), auth.Role(form.Get("role")),
		strings.TrimSpace(form.Get("department")), scopes)
	if err != nil {
		h.adminFailed(c, "接口令牌", "tokens", err)
		return
	}
	h.audit(c, "", "create_token", t.Name, "id", t.ID, "role", t.Role, "scopes", t.Scopes)
	b := h.adminBase(c, "接口令牌")
	b.Flash = "令牌已创建。请立即复制保存，离开本页后无法再次查看。"
	ctx := c.Request.Context()
	page := adminPage{base: b, Section: "tokens", Form: url.Values{}, Roles: roleOptions, Secret: secret, Scopes: scopeOptions(url.Values{})}
	var derr error
	if page.Dir, derr = h.directory(ctx); derr == nil {
		derr = h.fillTokens(ctx, &page)
	}
	if derr != nil {
		h.fail(c, b, derr)
		return
	}
	h.render(c, http.StatusCreated, "admin", page)
}

func (h *Handler) revokeToken(c *gin.Context) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 32)
	if err == nil && id > 0 {
		err = h.opts.Auth.RevokeToken(c.Request.Context(), uint(id))
	} else {
		err = api.Errorf(api.ErrNotFound, "token_not_found", "没有该令牌。")
	}
	if err != nil {
		h.adminFailed(c, "接口令牌", "tokens", err)
		return
	}
	h.audit(c, "", "revoke_token", c.Param("id"))
	redirect(c, "/console/admin/tokens", "token_revoked")
}

func (h *Handler) showDepartments(c *gin.Context) {
	h.renderAdmin(c, http.StatusOK, h.adminBase(c, "单位管理"), "departments", nil)
}

func (h *Handler) saveDepartment(c *gin.Context) {
	form := c.Request.PostForm
	active := form.Get("active") == "1"
	in := tickets.DepartmentInput{Code: strings.TrimSpace(form.Get("code")), Name: form.Get("name"), Level: tickets.Level(form.Get("level")),
		Parent: strings.TrimSpace(form.Get("parent")), Government: form.Get("government") == "1", Phone: form.Get("phone"), Active: &active}
	v, err := h.opts.Tickets.SaveDepartment(c.Request.Context(), in)
	if err != nil {
		h.adminFailed(c, "单位管理", "departments", err)
		return
	}
	h.audit(c, audit.ActionDirectory, "save_department", "department:"+v.Code, "name", v.Name, "parent", v.Parent, "active", v.Active)
	redirect(c, "/console/admin/departments", "department_saved")
}

func (h *Handler) showCategories(c *gin.Context) {
	h.renderAdmin(c, http.StatusOK, h.adminBase(c, "类别与时限"), "categories", nil)
}

func (h *Handler) saveCategory(c *gin.Context) {
	form := c.Request.PostForm
	active := form.Get("active") == "1"
	in := tickets.CategoryInput{Code: strings.TrimSpace(form.Get("code")), Name: form.Get("name"), Kind: tickets.Kind(form.Get("kind")),
		Parent: strings.TrimSpace(form.Get("parent")), Department: strings.TrimSpace(form.Get("department")),
		SignLimit: strings.TrimSpace(form.Get("sign_limit")), HandleLimit: strings.TrimSpace(form.Get("handle_limit")),
		UrgentSignLimit: strings.TrimSpace(form.Get("urgent_sign_limit")), UrgentHandleLimit: strings.TrimSpace(form.Get("urgent_handle_limit")),
		CriticalSignLimit: strings.TrimSpace(form.Get("critical_sign_limit")), CriticalHandleLimit: strings.TrimSpace(form.Get("critical_handle_limit")),
		Active: &active}
	v, err := h.opts.Tickets.SaveCategory(c.Request.Context(), in)
	if err != nil {
		h.adminFailed(c, "类别与时限", "categories", err)
		return
	}
	h.audit(c, audit.ActionDirectory, "save_category", "category:"+v.Code, "name", v.Name, "parent", v.Parent, "department", v.Department, "handle_limit", v.HandleLimit, "active", v.Active)
	redirect(c, "/console/admin/categories", "category_saved")
}

func (h *Handler) showSettings(c *gin.Context) {
	h.renderAdmin(c, http.StatusOK, h.adminBase(c, "不予受理理由与语音提示"), "settings", nil)
}

func (h *Handler) smsOff() error {
	return api.Errorf(api.ErrUnavailable, "sms_off", "短信服务未启用。")
}

func (h *Handler) showTemplates(c *gin.Context) {
	h.renderAdmin(c, http.StatusOK, h.adminBase(c, "短信模板"), "templates", nil)
}

func (h *Handler) saveTemplate(c *gin.Context) {
	if h.opts.SMS == nil {
		h.fail(c, h.adminBase(c, "短信模板"), h.smsOff())
		return
	}
	form := c.Request.PostForm
	t, err := h.opts.SMS.SaveTemplate(c.Request.Context(), auth.Current(c).Actor(),
		sms.TemplateInput{Name: form.Get("name"), Kind: sms.Kind(form.Get("kind")), Body: form.Get("body")})
	if err != nil {
		h.adminFailed(c, "短信模板", "templates", err)
		return
	}
	h.audit(c, audit.ActionConfig, "save_sms_template", "sms_template:"+t.Name, "kind", t.Kind)
	redirect(c, "/console/admin/templates", "template_saved")
}

func (h *Handler) showAdminKnowledge(c *gin.Context) {
	h.renderAdmin(c, http.StatusOK, h.adminBase(c, "知识库管理"), "knowledge", nil)
}

// saveKnowledge creates or replaces an approval item: its materials one a line.
func (h *Handler) saveKnowledge(c *gin.Context) {
	if h.opts.SMS == nil {
		h.fail(c, h.adminBase(c, "知识库管理"), h.smsOff())
		return
	}
	form := c.Request.PostForm
	var materials []string
	for _, m := range strings.Split(form.Get("materials"), "\n") {
		if m = strings.TrimSpace(m); m != "" {
			materials = append(materials, m)
		}
	}
	active := form.Get("active") == "1"
	v, err := h.opts.SMS.SaveMaterialItem(c.Request.Context(), auth.Current(c).Actor(), sms.MaterialItemInput{
		Code: form.Get("code"), Name: form.Get("name"), Department: form.Get("department"), Hall: form.Get("hall"), Materials: materials,
		ItemElements: sms.ItemElements{LegalBasis: form.Get("legal_basis"), TimeLimit: form.Get("time_limit"),
			Preconditions: form.Get("preconditions"), Process: form.Get("process"), FeeBasis: form.Get("fee_basis"),
			FeeStandard: form.Get("fee_standard")},
		Active: &active})
	if err != nil {
		h.adminFailed(c, "知识库管理", "knowledge", err)
		return
	}
	h.audit(c, audit.ActionConfig, "save_material_item", "material_item:"+v.Code, "name", v.Name, "active", v.Active)
	redirect(c, "/console/admin/knowledge", "item_saved")
}

func (h *Handler) deleteKnowledge(c *gin.Context) {
	if h.opts.SMS == nil {
		h.fail(c, h.adminBase(c, "知识库管理"), h.smsOff())
		return
	}
	if err := h.opts.SMS.DeleteMaterialItem(c.Request.Context(), c.Param("code")); err != nil {
		h.adminFailed(c, "知识库管理", "knowledge", err)
		return
	}
	h.audit(c, audit.ActionConfig, "delete_material_item", "material_item:"+c.Param("code"))
	redirect(c, "/console/admin/knowledge", "item_deleted")
}

// saveSynonyms replaces the knowledge base's synonyms with the form's text.
func (h *Handler) saveSynonyms(c *gin.Context) {
	if h.opts.SMS == nil {
		h.fail(c, h.adminBase(c, "知识库管理"), h.smsOff())
		return
	}
	syns, err := sms.ParseSynonyms(c.Request.PostForm.Get("synonyms"))
	if err == nil {
		err = h.opts.SMS.SaveSynonyms(c.Request.Context(), auth.Current(c).Actor(), syns)
	}
	if err != nil {
		h.adminFailed(c, "知识库管理", "knowledge", err)
		return
	}
	h.audit(c, audit.ActionConfig, "save_synonyms", "synonyms", "terms", len(syns))
	redirect(c, "/console/admin/knowledge", "synonyms_saved")
}

// saveRefusalReasons replaces the refusal reasons with the form's text. The store
// records the change in the audit log, as it does for the API.
func (h *Handler) saveRefusalReasons(c *gin.Context) {
	rs, err := tickets.ParseRefusalReasons(c.Request.PostForm.Get("refusal_reasons"))
	if err == nil {
		rs, err = h.opts.Tickets.SaveRefusalReasons(c.Request.Context(), auth.Current(c), rs)
	}
	if err != nil {
		h.adminFailed(c, "不予受理理由与语音提示", "settings", err)
		return
	}
	h.audit(c, "", "save_refusal_reasons", "refusal_reasons", "reasons", len(rs))
	redirect(c, "/console/admin/settings", "refusals_saved")
}

// adminPrompts are the prompt rows of the settings page, with what form holds when it
// failed. Without the prompt texts (an instance built without them) the section is empty.
func (h *Handler) adminPrompts(ctx context.Context, dir *directory, form url.Values) ([]adminPrompt, error) {
	if h.opts.IVR.Prompts == nil {
		return nil, nil
	}
	list, err := h.opts.IVR.Prompts.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]adminPrompt, len(list))
	var actors []*string
	for i, p := range list {
		out[i] = adminPrompt{PromptText: p, Field: "prompt." + p.Name, By: p.UpdatedBy}
		if form != nil && form.Has(out[i].Field) {
			out[i].Text = form.Get(out[i].Field)
		}
		if p.Saved {
			actors = append(actors, &out[i].By)
		}
	}
	if err := h.nameAll(ctx, actors, dir); err != nil {
		h.log.WarnContext(ctx, "name the prompts' editors", "err", err)
	}
	return out, nil
}

// savePrompts rewords the prompts whose text the form changed, through the same service
// call and checks as PUT /api/v1/ivr/prompts, which records the change in the audit log.
// The page then says what must follow before callers hear it.
func (h *Handler) savePrompts(c *gin.Context) {
	if h.opts.IVR.Prompts == nil {
		h.adminFailed(c, "不予受理理由与语音提示", "settings", api.Errorf(api.ErrUnavailable, "prompts_off", "语音提示文本在本实例上不可用。"))
		return
	}
	texts := map[string]string{}
	for k, v := range c.Request.PostForm {
		if name, ok := strings.CutPrefix(k, "prompt."); ok && len(v) > 0 {
			texts[name] = v[0]
		}
	}
	_, changed, err := h.opts.IVR.Prompts.Save(c.Request.Context(), auth.Current(c), texts)
	if err != nil {
		h.adminFailed(c, "不予受理理由与语音提示", "settings", err)
		return
	}
	if len(changed) == 0 {
		redirect(c, "/console/admin/settings#prompts", "prompts_same")
		return
	}
	h.audit(c, "", "save_prompt_texts", "prompt_texts", "prompts", strings.Join(changed, ","))
	redirect(c, "/console/admin/settings", "prompts_saved")
}
