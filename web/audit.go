package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
)

// auditActions are the recorded actions an administrator can pick, with their names.
var auditActions = []struct{ Value, Label string }{
	{audit.ActionPIIViewed, "查看市民个人信息"},
	{audit.ActionPIIErased, "删除市民个人信息"},
	{audit.ActionLogin, "登录"},
	{audit.ActionLoginFailed, "登录失败"},
	{audit.ActionLoginLocked, "登录锁定"},
	{audit.ActionUserCreated, "新建用户"},
	{audit.ActionUserUpdated, "修改用户"},
	{audit.ActionTokenCreated, "新建接口令牌"},
	{audit.ActionTokenRevoked, "吊销接口令牌"},
	{audit.ActionTOTPEnrolled, "启用动态口令"},
	{audit.ActionTOTPReset, "重置动态口令"},
	{audit.ActionRecoveryUsed, "使用恢复码"},
	{audit.ActionRecoveryRegenerated, "更换恢复码"},
	{audit.ActionDirectory, "修改机构目录"},
	{audit.ActionConfig, "修改配置"},
	{audit.ActionExport, "导出数据"},
	{audit.ActionStatusLocked, "查询页限制"},
	{audit.ActionPruned, "清理过期记录"},
}

// auditPage is the security audit log's search (admin only).
type auditPage struct {
	base
	Actions []struct{ Value, Label string }
	Q       url.Values
	Records []audit.Record
	// Names are the records' actors in words (话务员 王丽, 东胜区人民政府), by position; the
	// account itself stays in the cell's title, where an auditor can copy it into the filter.
	Names []string
	More  bool
	Next  string
}

func (h *Handler) showAudit(c *gin.Context) {
	b := h.base(c, "安全审计")
	b.Nav = "audit"
	q := c.Request.URL.Query()
	page := auditPage{base: b, Actions: auditActions, Q: q}
	f, err := audit.ParseFilter(q.Get, h.opts.Location)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	pg, err := api.ParsePage(c)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	if h.opts.Audit == nil {
		h.fail(c, b, api.Errorf(api.ErrUnavailable, "audit_off", "安全审计日志未配置。"))
		return
	}
	page.Records, page.More, err = h.opts.Audit.Find(c.Request.Context(), f, pg)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	page.Names = make([]string, len(page.Records))
	actors := make([]*string, len(page.Records))
	for i, r := range page.Records {
		page.Names[i] = r.Actor
		actors[i] = &page.Names[i]
	}
	if dir, err := h.directory(c.Request.Context()); err != nil {
		h.log.WarnContext(c.Request.Context(), "audit page: directory for the actors' units", "err", err)
	} else if err := h.nameAll(c.Request.Context(), actors, dir); err != nil {
		h.log.WarnContext(c.Request.Context(), "audit page: name the actors", "err", err)
	}
	if page.More {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("page", strconv.Itoa(pg.Page+1))
		page.Next = "?" + next.Encode()
	}
	h.render(c, http.StatusOK, "audit", page)
}
