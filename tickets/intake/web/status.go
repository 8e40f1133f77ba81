package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/intake"
)

// statusPage is the status page's data: the look-up form, and the ticket once found.
type statusPage struct {
	Number string
	Error  string
	Found  *statusView
}

// statusView is what a citizen is shown about their ticket: progress, not the people.
type statusView struct {
	Number       string
	Status       string
	Closed       bool
	Category     string
	Department   string
	RegisteredAt *time.Time
	DueAt        *time.Time
	CompletedAt  *time.Time
	Result       string
	Steps        []intake.PublicStep
}

const notFoundMsg = "没有找到与该工单号和手机号后四位相符的工单，请核对后再试。"

func (h *Handler) showStatus(c *gin.Context) {
	n := tickets.NormalizeNumber(c.Query("number"))
	if !tickets.CheckNumber(n) {
		n = ""
	}
	h.render(c, http.StatusOK, "status", &statusPage{Number: n})
}

// lookUp answers a status request. A wrong last-four and an unknown number get the same
// answer, and both count against the address and against the pair of number and address,
// so that nobody can learn which numbers exist or guess the digits. Nothing counts against
// the number alone: a stranger's wrong guesses must not lock the citizen out.
func (h *Handler) lookUp(c *gin.Context) {
	ctx := c.Request.Context()
	now := h.now()
	client := c.ClientIP()
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 8<<10)
	if err := c.Request.ParseForm(); err == nil {
		if err := api.CheckForm(c.Request.PostForm, nil); err != nil {
			renderPlainError(c, http.StatusBadRequest, "输入的工单编号或号码后四位中含有不允许的字符，请重新输入。")
			return
		}
	}
	raw := c.PostForm("number")
	last4 := strings.TrimSpace(c.PostForm("last4"))
	number := tickets.NormalizeNumber(strings.TrimSpace(raw))
	page := &statusPage{Number: number}
	answer := func(status int, msg string) {
		page.Error = msg
		h.render(c, status, "status", page)
	}
	if wait, blocked := h.lookIP.blocked(ctx, client, now); blocked {
		h.recordRefusal(ctx, client, "status:address", client, "status look-ups refused: too many failures from this address", now)
		c.Header("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		answer(http.StatusTooManyRequests, fmt.Sprintf("查询失败次数过多，请%d分钟后再试。", int(wait.Minutes())+1))
		return
	}
	if !tickets.CheckNumber(number) {
		// The check digit catches a mistyped number without telling anything about
		// which numbers exist, so this needs no counting.
		answer(http.StatusBadRequest, "工单号有误，请核对后重新输入（工单号为10位以上数字）。")
		return
	}
	if len(last4) != 4 || strings.Trim(last4, "0123456789") != "" {
		answer(http.StatusBadRequest, "请输入登记时所留手机号码的后四位数字。")
		return
	}
	pair := number + "\x00" + client
	if wait, blocked := h.lookPair.blocked(ctx, pair, now); blocked {
		h.recordRefusal(ctx, pair, "ticket:"+number, client, "status look-ups of this ticket refused: too many failures from this address", now)
		c.Header("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		answer(http.StatusTooManyRequests, fmt.Sprintf("该工单查询失败次数过多，请%d分钟后再试。", int(wait.Minutes())+1))
		return
	}
	v, err := h.opts.Store.Find(ctx, actor, number)
	if err != nil && !errors.Is(err, api.ErrNotFound) {
		h.log.ErrorContext(ctx, "status look-up failed", "ticket", number, "err", err)
		answer(http.StatusServiceUnavailable, "系统暂时无法查询，请稍后再试，或拨打12345热线查询。")
		return
	}
	phone := ""
	if v != nil {
		phone = v.Citizen.Phone
	}
	if v == nil || len(phone) < 4 || subtle.ConstantTimeCompare([]byte(phone[len(phone)-4:]), []byte(last4)) != 1 {
		h.lookIP.add(ctx, client, now)
		h.lookPair.add(ctx, pair, now)
		h.log.InfoContext(ctx, "status look-up did not match", "ticket", number, "client", client)
		answer(http.StatusNotFound, notFoundMsg)
		return
	}
	page.Found = statusOf(v)
	h.render(c, http.StatusOK, "status", page)
}

func statusOf(v *tickets.View) *statusView {
	s := &statusView{
		Number: v.Number, Status: intake.StatusLabel(v.Status), Closed: !v.Status.Open(),
		Category: v.Category.Name, RegisteredAt: &v.RegisteredAt, DueAt: v.DueAt, CompletedAt: v.CompletedAt,
		Result: intake.ResultText(v), Steps: intake.PublicTimeline(v),
	}
	if v.LeadDepartment != nil {
		s.Department = v.LeadDepartment.Name
	}
	if s.Closed {
		s.DueAt = nil
	}
	return s
}

// refusalLog remembers when each refused subject was last written to the audit log, so
// that a client hammering the page makes one record a minute, not one a request.
type refusalLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// refusalEvery is how often one subject's refusals are recorded.
const refusalEvery = time.Minute

// recordRefusal writes to the security audit log that the status page refused client
// (key: the limiter's subject). A failure to record is logged: the refusal stands.
func (h *Handler) recordRefusal(ctx context.Context, key, target, client, detail string, now time.Time) {
	if h.opts.Audit == nil {
		return
	}
	r := &h.refusals
	r.mu.Lock()
	if r.last == nil || len(r.last) > 10000 {
		r.last = map[string]time.Time{}
	}
	if t, ok := r.last[key]; ok && now.Sub(t) < refusalEvery {
		r.mu.Unlock()
		return
	}
	r.last[key] = now
	r.mu.Unlock()
	if err := h.opts.Audit.Record(ctx, audit.Event{Action: audit.ActionStatusLocked, Actor: "anonymous", IP: client, Target: target, Detail: detail}); err != nil {
		h.log.WarnContext(ctx, "status page refusal not audited", "err", err)
	}
}
