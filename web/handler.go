package web

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/callback"
	"github.com/rexian/rexian/dashboards"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/softphone"
	"github.com/rexian/rexian/tickets"
)

// Options configure the consoles. Auth and Tickets are required.
type Options struct {
	Auth *auth.Service
	// Audit is the security audit log: logins, unmasked views and admin changes are
	// recorded into it (nil records nothing, for tests that build the consoles alone).
	Audit   *audit.Log
	Tickets *tickets.Store
	// ReadTickets and ReadDB, when set, are where the exports read their rows (a standby,
	// database_read_url); nil reads through Tickets and IVR.DB.
	ReadTickets *tickets.Store
	ReadDB      *gorm.DB
	// ReadCallback, when set, is where the surveys export reads; nil reads through Callback.
	ReadCallback *callback.Service
	SMS          *sms.Service // nil: the knowledge base cannot send the materials list
	// Callback is the satisfaction surveys; nil: the desk has no manual callback list.
	Callback *callback.Service
	// Cards is the dashboards service whose red and yellow cards the portal and the
	// supervisor page show; nil: no cards are shown.
	Cards *dashboards.Service
	// IVR builds the telephone API used in process for the queue forms; its Controller
	// is nil on an instance that does not run the telephone controller.
	IVR           ivr.HandlerOptions
	Location      *time.Location
	SecureCookies bool
	Log           *slog.Logger
	Now           func() time.Time
	// MaxUploadBytes is the largest attachment a form may carry (default 10 MiB, the
	// store's own default limit).
	MaxUploadBytes int64
	// EraseCitizen serves citizens' deletion requests from /console/admin/privacy (nil:
	// the page says to use rexian privacy erase).
	EraseCitizen CitizenEraser
	// Softphone issues browser phones (nil: the desk offers none).
	Softphone *softphone.Issuer
	// Dashboards says the dashboards API (/api/v1/dashboards) is mounted: the supervisor
	// page links to its figures, bulletins, overdue list and cards.
	Dashboards bool
}

// Handler serves the consoles.
type Handler struct {
	opts  Options
	log   *slog.Logger
	pages map[string]*template.Template
	phone *telephone
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageNames are the templates under templates/, each rendered inside layout.html.
var pageNames = []string{"login", "twofactor", "error", "desk", "ticket_new", "desk_ticket", "inbox", "knowledge", "desk_search",
	"callbacks", "supervisor", "portal_inbox", "portal_ticket", "portal_search", "rates", "overdue", "figures", "confirm", "publish",
	"calls", "surveys", "cards", "admin", "audit"}

// NewHandler checks opts and parses the pages.
func NewHandler(opts Options) (*Handler, error) {
	if opts.Auth == nil || opts.Tickets == nil {
		return nil, errors.New("web: the auth service and the ticket store are required")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = 10 << 20
	}
	if opts.IVR.Location == nil {
		opts.IVR.Location = opts.Location
	}
	if opts.ReadTickets == nil {
		opts.ReadTickets = opts.Tickets
	}
	if opts.ReadDB == nil {
		opts.ReadDB = opts.IVR.DB
	}
	if opts.ReadCallback == nil {
		opts.ReadCallback = opts.Callback
	}
	h := &Handler{opts: opts, log: opts.Log.With("component", "web"), pages: map[string]*template.Template{}}
	h.phone = newTelephone(opts.IVR)
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(h.funcs()).ParseFS(templateFS, "templates/layout.html", "templates/parts.html", "templates/softphone.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parse page %s: %w", name, err)
		}
		h.pages[name] = t
	}
	return h, nil
}

// Routes mounts the consoles on the engine, outside /api/v1. Every page but the login
// page and the assets checks the session and the role itself.
func (h *Handler) Routes(e gin.IRouter) {
	static, _ := fs.Sub(staticFS, "static")
	assets := http.StripPrefix("/console/static/", http.FileServer(http.FS(static)))
	e.GET("/console/static/*file", func(c *gin.Context) {
		// Assets change only with the binary; a day is short enough for an upgrade.
		c.Header("Cache-Control", "public, max-age=86400")
		c.Header("X-Content-Type-Options", "nosniff")
		assets.ServeHTTP(c.Writer, c.Request)
	})
	// Browsers ask for /favicon.ico whatever the page says.
	e.GET("/favicon.ico", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/console/static/favicon.svg") })
	e.GET("/console/login", h.showLogin)
	e.POST("/console/login", h.login)
	e.POST("/console/login/code", h.loginCode)

	s := e.Group("", h.session())
	s.POST("/console/logout", h.logout)
	s.GET("/console/2fa", h.showTwoFactor)
	s.POST("/console/2fa", h.confirmTwoFactor)
	s.POST("/console/2fa/recovery-codes", h.regenerateRecoveryCodes)
	s.GET("/console/2fa/qr.png", h.twoFactorQR)
	s.GET("/console", h.home)
	s.GET("/console/", h.home)

	desk := s.Group("/console", h.require(auth.RoleOperator, auth.RoleSupervisor))
	desk.GET("/desk", h.showDesk)
	desk.GET("/live", h.showDesk) // the live panel alone is the desk page; kept as a short address for a wall screen
	desk.POST("/queue/join", h.joinQueue)
	desk.POST("/queue/leave", h.leaveQueue)
	desk.POST("/queue/state", h.setState)
	desk.POST("/call/control", h.callControl)
	desk.POST("/call/monitor", h.callMonitor)
	desk.POST("/softphone/credentials", h.softphoneCredentials)
	desk.GET("/tickets/new", h.showNewTicket)
	desk.POST("/tickets", h.createTicket)
	desk.GET("/tickets", h.deskSearch)
	desk.GET("/tickets/:number", h.showDeskTicket)
	desk.GET("/tickets/:number/publish", h.showPublish)
	desk.POST("/tickets/:number/:action", h.deskAct) // publish too: see deskAct
	desk.GET("/inbox", h.showInbox)
	desk.GET("/knowledge", h.showKnowledge)
	desk.POST("/knowledge/send", h.sendMaterials)
	desk.GET("/callbacks", h.showCallbacks)
	desk.POST("/callbacks/:id", h.recordCallback)
	s.GET("/console/supervisor", h.require(auth.RoleSupervisor), h.showSupervisor)
	s.GET("/console/figures", h.require(auth.RoleSupervisor), h.showFigures)
	s.GET("/console/calls", h.require(auth.RoleSupervisor), h.showCalls)
	s.GET("/console/surveys", h.require(auth.RoleSupervisor), h.showSurveys)
	s.GET("/console/cards", h.require(auth.RoleSupervisor), h.showCards)
	s.GET("/console/bulletins/:kind", h.require(auth.RoleSupervisor), h.showBulletin)
	h.adminRoutes(s.Group("/console/admin", h.require(auth.RoleAdmin)))
	export := s.Group("/console/export", h.require(auth.RoleSupervisor))
	export.GET("/tickets", h.exportTickets)
	export.GET("/calls", h.exportCalls)
	export.GET("/surveys", h.exportSurveys)
	export.GET("/figures", h.exportFigures)
	export.GET("/rates", h.exportRates)
	h.oversightRoutes(s.Group("/console", h.require(auth.RoleSupervisor)))
	s.GET("/console/audit", h.require(auth.RoleAdmin), h.showAudit)

	portal := s.Group("/portal", h.require(auth.RoleDepartment))
	portal.GET("", h.portalInbox)
	portal.GET("/", h.portalInbox)
	portal.GET("/search", h.portalSearch)
	portal.GET("/tickets/:number", h.showPortalTicket)
	portal.POST("/tickets/:number/:action", h.portalAct)
	portal.POST("/cards/:id/acknowledge", h.acknowledgeCard)
}

// base is what every page's layout needs.
type base struct {
	Title string
	User  *auth.Principal
	CSRF  string
	Nav   string // which menu entry is current
	Flash string
	Error string
	// Script loads console.js; the login and error pages need none.
	Script bool
}

// securityHeaders keep the pages from loading anything but rexian's own assets, from
// being framed, and from being cached (they carry personal data and the CSRF token).
// connect, when not empty, is the one other origin scripts may connect to: the browser
// phone's WebSocket to Asterisk.
func securityHeaders(w http.ResponseWriter, connect string) {
	if connect != "" {
		connect = " " + connect
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"media-src 'self'; connect-src 'self'"+connect+"; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Cache-Control", "no-store")
}

// render writes a page with status.
func (h *Handler) render(c *gin.Context, status int, page string, data any) {
	w := c.Writer
	securityHeaders(w, h.connectSrc())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := h.pages[page].Execute(w, data); err != nil {
		// The status line has gone out; all that is left is to log it.
		h.log.ErrorContext(c.Request.Context(), "render page", "page", page, "err", err)
	}
}

// errorPage is the page of a request that cannot be answered with its own page.
type errorPage struct {
	base
	Status  int
	Heading string
	Back    string
}

// fail answers err with the error page: the status and message follow the error's kind;
// an unexpected error is logged and shown without its details.
func (h *Handler) fail(c *gin.Context, b base, err error) {
	status := api.Status(err)
	if status >= 500 {
		h.log.ErrorContext(c.Request.Context(), "console request failed", "path", c.Request.URL.Path, "err", err)
	}
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", strconv.Itoa(api.RetryAfter))
	}
	b.Title, b.Error, b.Script = headingFor(status), message(err), false
	back := "/console/"
	if b.User != nil && b.User.Role == auth.RoleDepartment {
		back = "/portal/"
	}
	h.render(c, status, "error", errorPage{base: b, Status: status, Heading: headingFor(status), Back: back})
	c.Abort()
}

func headingFor(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "输入有误"
	case http.StatusUnauthorized:
		return "请先登录"
	case http.StatusForbidden:
		return "无权访问"
	case http.StatusNotFound:
		return "未找到"
	case http.StatusConflict:
		return "操作冲突"
	case http.StatusRequestEntityTooLarge:
		return "文件过大"
	case http.StatusTooManyRequests:
		return "操作过于频繁"
	case http.StatusServiceUnavailable:
		return "服务暂不可用"
	}
	return "系统错误"
}

// messages are Chinese texts for the error codes people meet most often at the desk and
// in the portal; any other error shows the service's own message after a Chinese heading.
var messages = map[string]string{
	"ticket_not_found":         "没有找到该工单，或该工单不属于本单位。",
	"invalid_number":           "工单编号格式不正确（位数或校验位有误）。",
	"empty_content":            "请填写诉求内容。",
	"empty_category":           "请选择问题类别。",
	"unknown_category":         "所选问题类别不存在。",
	"invalid_phone":            "来电号码不是有效的电话号码。",
	"empty_reply":              "请填写回复内容。",
	"empty_reason":             "请填写原因。",
	"empty_note":               "请填写说明。",
	"empty_until":              "请填写申请延期到的日期时间。",
	"until_not_later":          "延期后的期限须晚于当前办理期限。",
	"until_too_far":            "延期后的期限超出了当前办理期限后允许延长的工作日数，请选择更早的日期。",
	"empty_department":         "请选择下派的下级单位。",
	"not_subunit":              "只能下派给本单位的下级单位。",
	"stale_version":            "工单已被他人更新，请刷新页面后重试。",
	"illegal_transition":       "工单当前状态不允许此操作。",
	"already_signed":           "本单位已签收该工单。",
	"cannot_sign":              "本单位在该工单上没有待签收的派单。",
	"cannot_return":            "本单位的派单现在不能退单（已回复或已退单）。",
	"cannot_redispatch":        "本单位的派单现在不能下派（已回复或已退单）。",
	"cannot_extend":            "本单位的派单现在没有可延期的期限。",
	"extension_pending":        "本单位已有延期申请在等待审批。",
	"no_subunits":              "本单位没有可下派的下级单位。",
	"nothing_pending":          "该工单没有等待审批的申请（可能已由他人处理）。",
	"unknown_original":         "没有找到该原工单编号。",
	"empty_into":               "请填写原工单编号。",
	"merge_self":               "工单不能并入它自己。",
	"original_closed":          "原工单已合并或不予受理，请并入仍在办理的工单。",
	"unknown_reason":           "请选择不予受理的理由。",
	"not_signed":               "请先签收再回复。",
	"no_assignment":            "该工单当前没有本单位待办的派单。",
	"not_consultation":         "只有咨询类工单可以直接答复办结。",
	"ivr_off":                  "话务系统未运行（未配置 Asterisk）。",
	"not_logged_in":            "您尚未签入队列，请先签入。",
	"invalid_state":            "状态只能是“就绪”或“示忙”。",
	"no_phone":                 "请填写分机（例如 PJSIP/8001）。",
	"unknown_item":             "没有该审批事项。",
	"forbidden":                "您的角色不能进行此操作。",
	"forbidden_role":           "您的角色不能访问此页面。",
	"csrf":                     "表单已过期，请返回刷新页面后重试。",
	"no_file":                  "附件读取失败。",
	"card_not_found":           "没有找到该红黄牌，或它不是发给本单位的。",
	"not_your_card":            "该红黄牌是发给下级单位的，应由该单位签收。",
	"card_revoked":             "该红黄牌已撤销，无需签收。",
	"not_your_call":            "这不是您的通话，只有接听的话务员或班长可以操作。",
	"not_talking":              "该来电当前不在通话中，无法操作。",
	"call_ended":               "通话已结束。",
	"already_held":             "市民已在保持中。",
	"not_held":                 "市民不在保持中。",
	"party_ringing":            "对方仍在振铃，请先取消。",
	"party_busy":               "已有第三方在通话中，请先结束。",
	"no_party":                 "当前没有已接听的转接或三方对象。",
	"operator_left":            "话务员已退出该通话。",
	"unknown_target":           "转接对象不存在或未签入队列。",
	"target_busy":              "该话务员正在通话中。",
	"target_no_phone":          "该单位在通讯录中没有电话号码。",
	"no_target":                "请选择转接对象。",
	"party_unreachable":        "无法呼叫该对象。",
	"already_monitoring":       "您已在该通话中监听。",
	"not_monitoring":           "您没有在监听该通话。",
	"monitor_unreachable":      "无法呼叫您的电话。",
	"invalid_action":           "不支持的通话操作。",
	"invalid_mode":             "监听方式只能是监听、耳语、强插或结束。",
	"invalid_reason":           "请选择配置的示忙原因。",
	"invalid_department_phone": "单位电话须为电话号码（数字，可含空格、“-”、“+”和括号，例如 0477-8581234）。",
}

// message is what a person is told about err.
func message(err error) string {
	var e *api.Error
	if errors.As(err, &e) {
		if e.Code == "invalid_text" {
			return fmt.Sprintf("“%s”中含有不允许的字符（控制字符、文字方向控制符或乱码），请删除后重新提交。", e.Field)
		}
		if m, ok := messages[e.Code]; ok {
			return m
		}
		return e.Message
	}
	if api.Status(err) >= 500 {
		return "系统出现错误，请稍后重试；如果一再出现，请联系管理员。"
	}
	return err.Error()
}

// redirect sends the browser on after a successful post (post/redirect/get), with a
// flash code that the next page turns into a fixed text.
func redirect(c *gin.Context, path, flash string) {
	if flash != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "ok=" + url.QueryEscape(flash)
	}
	c.Redirect(http.StatusSeeOther, path)
	c.Abort()
}

// flashes are the texts of the ok= codes; anything else shows nothing, so that a link
// cannot put words into the page.
var flashes = map[string]string{
	"joined":                 "已签入队列。",
	"left":                   "已签出队列。",
	"ready":                  "状态：就绪。",
	"paused":                 "状态：示忙。",
	"created":                "工单已登记。",
	"dispatched":             "工单已派单。",
	"approve":                "审核通过，工单已办结。",
	"send_back":              "已退回承办单位重新办理。",
	"answer":                 "已直接答复并办结。",
	"note":                   "备注已添加。",
	"dispatch":               "工单已派单。",
	"sign":                   "已签收。",
	"reply":                  "回复已提交，等待审核。",
	"return":                 "已退单，等待中心审定。",
	"redispatch":             "已下派至下级单位。",
	"extension":              "延期申请已提交。",
	"sms":                    "材料清单短信已排队发送。",
	"surveyed":               "回访结果已记录。",
	"reopened":               "回访结果已记录；市民不满意，工单将退回重新办理。",
	"card_sign":              "红黄牌已签收。",
	"accept_return":          "已同意退单，工单回到中心待派单。",
	"accept_return_dispatch": "已同意退单，并已改派。",
	"reject_return":          "已驳回退单，工单退回承办单位继续办理。",
	"urge":                   "已督办，督办意见已记入办理经过。",
	"approve_extension":      "已批准延期，办理期限已延至申请的日期。",
	"refuse_extension":       "已不批准延期，办理期限不变。",
	"reopen":                 "工单已重新打开，回到中心待派单。",
	"merge":                  "已作为重复件并入原工单。",
	"refuse":                 "已不予受理，工单已结束。",
	"publish":                "已发布到百姓直通车。",
	"request_extension":      "延期申请已提交。",
	"call_hold":              "已保持通话，市民正在听等待音乐。",
	"call_resume":            "已恢复通话。",
	"call_transfer":          "正在转接，市民正在听等待音乐；对方接听后您将退出，未接听则市民回到您的通话。",
	"call_consult":           "正在呼叫咨询对象，市民正在听等待音乐；接听后可完成转接、三方通话或取消。",
	"call_complete":          "已完成转接，您已退出通话。",
	"call_conference":        "三方通话：正在呼叫对方（或市民已加入），结果显示在通话控制区。",
	"call_cancel":            "已取消转接，对方已挂断。",
	"call_leave":             "您已退出三方通话，市民与对方继续通话。",
	"call_listen":            "正在呼叫您的电话，接听后开始监听。",
	"call_whisper":           "正在呼叫您的电话，接听后开始耳语（仅话务员能听到您）。",
	"call_barge":             "正在呼叫您的电话，接听后强插进入通话。",
	"call_stop":              "已结束监听。",
}

func (h *Handler) flash(c *gin.Context) string {
	ok := c.Query("ok")
	// A not-ready reason is shown only when it is one configured: still fixed texts.
	if r, found := strings.CutPrefix(ok, "paused:"); found && slices.Contains(h.opts.IVR.Settings.Reasons(), r) {
		return "状态：示忙（" + r + "），队列不再为您分配来电。"
	}
	return flashes[ok]
}
