package auth

import (
	"net/http"
	"slices"
	"strings"

	"github.com/rexian/rexian/api"
)

// Scopes narrow what an API token may do within its role: a machine gets the least it
// needs (等保 "最小权限"), and what a leaked token can reach is written on it. A person's
// session is not scoped; their role decides.
const (
	// ScopeAll is every scope: what tokens made before scopes existed were given, so
	// that integrations running then kept working. Replace such tokens with scoped ones.
	ScopeAll = "*"

	ScopeTicketsRead   = "tickets:read"      // tickets, their timelines and the directory
	ScopeTicketsCreate = "tickets:create"    // register tickets
	ScopeTicketsWrite  = "tickets:write"     // workflow actions and attachments on tickets
	ScopeFilesRead     = "files:read"        // download attachments and call recordings
	ScopePersonal      = "personal:read"     // citizens' phone, name and e-mail unmasked; search by phone
	ScopeNotices       = "notices:send"      // application-confirmation notices
	ScopeOpen311       = "open311"           // post Open311 service requests with the token as api_key
	ScopeSMSRead       = "sms:read"          // the SMS outbox, inbox and templates
	ScopeSMSSend       = "sms:send"          // send SMS and materials notices
	ScopeCallsRead     = "calls:read"        // call records, the live panel and its events
	ScopeCallsWrite    = "calls:write"       // operator queue membership and transfers
	ScopeFiguresRead   = "figures:read"      // dashboards, rates, surveys and their figures
	ScopeFiguresWrite  = "supervision:write" // urge, supervise, acknowledge cards, answer surveys
	ScopeAdmin         = "admin"             // users, tokens, the directory, templates, the audit log
)

// ScopeInfo describes a scope for the console and the documentation.
type ScopeInfo struct {
	Name  string
	Label string // what it allows, in Chinese, for the console
}

// AllScopes lists every scope a token can be given, in the order the console offers them.
var AllScopes = []ScopeInfo{
	{ScopeTicketsCreate, "登记工单"},
	{ScopeTicketsRead, "查看工单和机构目录"},
	{ScopeTicketsWrite, "办理工单（流转操作、上传附件）"},
	{ScopeFilesRead, "下载附件和通话录音"},
	{ScopePersonal, "查看未脱敏的群众电话、姓名、邮箱，按电话查询"},
	{ScopeNotices, "发送网上申请确认通知"},
	{ScopeOpen311, "以 Open311 提交诉求"},
	{ScopeSMSRead, "查看短信"},
	{ScopeSMSSend, "发送短信"},
	{ScopeCallsRead, "查看通话记录和实时话务"},
	{ScopeCallsWrite, "话务员签入签出、转接"},
	{ScopeFiguresRead, "查看统计、回访和督办数据"},
	{ScopeFiguresWrite, "督办、催办、回访结果录入"},
	{ScopeAdmin, "系统管理（用户、令牌、机构目录、模板、审计日志）"},
	{ScopeAll, "全部权限（旧令牌的默认值，不建议新建）"},
}

// DefaultScopes are what a new token gets when its maker names none: what the usual
// integrations (an online-approval system, an Open311 client) need, with citizens'
// personal data masked.
var DefaultScopes = []string{ScopeNotices, ScopeOpen311, ScopeTicketsCreate, ScopeTicketsRead} // sorted, as stored

// checkScopes normalises a token's scopes (sorted, without repeats) and refuses unknown
// ones, naming them. No scopes gives DefaultScopes.
func checkScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return slices.Clone(DefaultScopes), nil
	}
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.ContainsFunc(AllScopes, func(i ScopeInfo) bool { return i.Name == s }) {
			names := make([]string, len(AllScopes))
			for i, info := range AllScopes {
				names[i] = info.Name
			}
			return nil, api.Errorf(api.ErrInvalid, "invalid_scope", "unknown scope %q; scopes are %s", s, strings.Join(names, ", "))
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return slices.Clone(DefaultScopes), nil
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// SeesPersonal reports whether p is shown citizens' phone numbers, names and e-mail
// unmasked: a person at the central desk (anyone but a department's user), or a token
// given scope personal:read.
func (p *Principal) SeesPersonal() bool {
	return p != nil && p.Role != RoleDepartment && p.HasScope(ScopePersonal)
}

// HasScope reports whether p may use scope s: always for a person's session, and for a
// token that was given s (or every scope).
func (p *Principal) HasScope(s string) bool {
	if p == nil {
		return false
	}
	if p.TokenID == 0 {
		return true
	}
	return slices.Contains(p.Scopes, s) || slices.Contains(p.Scopes, ScopeAll)
}

// routeScope is one rule of the route table: a method ("" for any) and a route (as gin
// names it, with :params) or, ending in "/", a prefix of routes.
type routeScope struct {
	method, route, scope string
}

// routeScopes says which scope each API route needs from a token; the first rule that
// matches wins, and a route that none matches needs ScopeAdmin, so that a new surface is
// closed to tokens until somebody decides otherwise. The OpenAPI document gives each
// operation's scope as x-scope, and a test holds the two together.
var routeScopes = []routeScope{
	{"", "/api/v1/openapi.json", ""},
	{"", "/api/v1/auth/", ""},
	{http.MethodPost, "/api/v1/tickets", ScopeTicketsCreate},
	{http.MethodGet, "/api/v1/tickets/:number/attachments/:id", ScopeFilesRead},
	{http.MethodGet, "/api/v1/tickets", ScopeTicketsRead},
	{http.MethodGet, "/api/v1/tickets/", ScopeTicketsRead},
	{http.MethodPost, "/api/v1/tickets/", ScopeTicketsWrite},
	{http.MethodGet, "/api/v1/departments", ScopeTicketsRead},
	{http.MethodGet, "/api/v1/categories", ScopeTicketsRead},
	{http.MethodGet, "/api/v1/refusal-reasons", ScopeTicketsRead},
	{"", "/api/v1/notices/", ScopeNotices},
	{"", "/api/v1/ivr/prompts", ScopeAdmin}, // configuration, like the directory
	{http.MethodGet, "/api/v1/ivr/calls/:id/recording", ScopeFilesRead},
	{http.MethodGet, "/api/v1/ivr/", ScopeCallsRead},
	{http.MethodPost, "/api/v1/ivr/", ScopeCallsWrite},
	{http.MethodPost, "/api/v1/sms/messages", ScopeSMSSend},
	{http.MethodPost, "/api/v1/sms/materials-notices", ScopeSMSSend},
	{http.MethodPost, "/api/v1/sms/measure", ScopeSMSRead},
	{http.MethodGet, "/api/v1/sms/", ScopeSMSRead},
	{http.MethodGet, "/api/v1/dashboards/", ScopeFiguresRead},
	{http.MethodGet, "/api/v1/callback/", ScopeFiguresRead},
	{http.MethodPost, "/api/v1/dashboards/", ScopeFiguresWrite},
	{http.MethodPost, "/api/v1/cards/", ScopeFiguresWrite},
	{http.MethodPost, "/api/v1/callback/", ScopeFiguresWrite},
}

// RouteScope is the scope a token needs for method on route (gin's full path, with
// :params): "" for none, ScopeAdmin for any API route the table does not name. A route
// outside the API needs none here: its own handler checks who may use it.
func RouteScope(method, route string) string {
	if !strings.HasPrefix(route, "/api/v1/") {
		return ""
	}
	for _, r := range routeScopes {
		if r.method != "" && r.method != method {
			continue
		}
		if r.route == route || (strings.HasSuffix(r.route, "/") && strings.HasPrefix(route, r.route)) {
			return r.scope
		}
	}
	return ScopeAdmin
}

// errScope is the refusal of a token without the scope a route needs.
func errScope(scope string) error {
	return api.Errorf(api.ErrForbidden, "insufficient_scope",
		"this token lacks scope %s; an administrator can issue a token that has it", scope)
}
