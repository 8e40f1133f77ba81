package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
)

// Keys in the gin context.
const (
	sessionKey = "web.session"
	// loginCookie carries the login form's own CSRF token (double submit): without a
	// session there is no session token, yet a hostile page must not be able to log the
	// browser into an account of its choosing.
	loginCookie = "rexian_login_csrf"
	csrfField   = "csrf_token"
)

// session identifies the user from the API's session cookie and checks the CSRF token
// of every form post. A request without a valid session goes to the login page.
func (h *Handler) session() gin.HandlerFunc {
	return func(c *gin.Context) {
		cookie, err := c.Cookie(auth.CookieName)
		if err != nil || cookie == "" {
			h.toLogin(c)
			return
		}
		sess, err := h.opts.Auth.Authenticate(c.Request.Context(), cookie)
		if err != nil {
			if errors.Is(err, api.ErrUnauthorized) {
				h.clearSession(c)
				h.toLogin(c)
				return
			}
			h.fail(c, base{}, err)
			return
		}
		p := sess.User.Principal()
		c.Request = c.Request.WithContext(auth.NewContext(c.Request.Context(), p))
		c.Set(sessionKey, sess)
		if h.opts.Auth.NeedsEnrolment(sess.User) && !enrolmentPath(c.FullPath()) {
			// The role logs in with a second factor and this user has none yet: the
			// set-up comes before any work.
			c.Redirect(http.StatusSeeOther, "/console/2fa")
			c.Abort()
			return
		}
		if c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead {
			if err := h.parseForm(c); err != nil {
				h.fail(c, h.base(c, ""), err)
				return
			}
			got := c.PostForm(csrfField)
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRFToken)) != 1 {
				h.fail(c, h.base(c, ""), api.Errorf(api.ErrForbidden, "csrf", "missing or wrong csrf_token"))
				return
			}
		}
		c.Next()
	}
}

// parseForm reads a posted form, bounded by the largest attachment the store takes (and
// room for the multipart framing), so that a huge upload is refused before it fills
// the disk.
func (h *Handler) parseForm(c *gin.Context) error {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, h.opts.MaxUploadBytes+1<<20)
	var err error
	if strings.HasPrefix(c.ContentType(), "multipart/") {
		err = c.Request.ParseMultipartForm(8 << 20)
	} else {
		err = c.Request.ParseForm()
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return api.Errorf(api.ErrTooLarge, "form_too_large", "上传的文件超过 %d MB 的上限。", h.opts.MaxUploadBytes>>20)
	case err != nil:
		return api.Errorf(api.ErrInvalid, "invalid_form", "表单无法读取：%v", err)
	}
	return api.CheckForm(c.Request.Form, c.Request.MultipartForm)
}

// require lets only roles through (admin always passes), with the error page otherwise.
func (h *Handler) require(roles ...auth.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		if p := auth.Current(c); !p.Is(roles...) {
			h.fail(c, h.base(c, ""), api.Errorf(api.ErrForbidden, "forbidden_role", "role %s may not open this page", p.Role))
			return
		}
		c.Next()
	}
}

// base is the layout data of the request's user.
func (h *Handler) base(c *gin.Context, title string) base {
	b := base{Title: title, User: auth.Current(c), Flash: h.flash(c), Script: true}
	if v, ok := c.Get(sessionKey); ok {
		b.CSRF = v.(*auth.Session).CSRFToken
	}
	return b
}

// toLogin sends a browser without a session to the login page, remembering where it was
// going; a post cannot be replayed, so it goes to the login page plainly.
func (h *Handler) toLogin(c *gin.Context) {
	target := "/console/login"
	if c.Request.Method == http.MethodGet {
		target += "?next=" + url.QueryEscape(c.Request.URL.RequestURI())
	}
	c.Redirect(http.StatusSeeOther, target)
	c.Abort()
}

// enrolmentPath reports the pages a user who must still set up a second factor may open.
func enrolmentPath(p string) bool {
	return p == "/console/2fa" || p == "/console/2fa/qr.png" || p == "/console/logout"
}

// loginPage is the login form, or its second step: the code for a right password.
type loginPage struct {
	base
	Username string
	Next     string
	Token    string
	// Challenge is set on the second step.
	Challenge string
}

func (h *Handler) showLogin(c *gin.Context) {
	token, err := h.loginToken(c)
	if err != nil {
		h.fail(c, base{}, err)
		return
	}
	h.render(c, http.StatusOK, "login", loginPage{base: base{Title: "登录"}, Next: safeNext(c.Query("next")), Token: token})
}

// loginToken returns the login form's token, setting its cookie when there is none.
func (h *Handler) loginToken(c *gin.Context) (string, error) {
	if v, err := c.Cookie(loginCookie); err == nil && len(v) == 32 {
		return v, nil
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	v := hex.EncodeToString(b[:])
	http.SetCookie(c.Writer, &http.Cookie{Name: loginCookie, Value: v, Path: "/console/login", MaxAge: 3600,
		HttpOnly: true, Secure: h.opts.SecureCookies, SameSite: http.SameSiteStrictMode})
	return v, nil
}

func (h *Handler) login(c *gin.Context) {
	username := strings.TrimSpace(c.PostForm("username"))
	next := safeNext(c.PostForm("next"))
	again := func(status int, msg string) {
		token, err := h.loginToken(c)
		if err != nil {
			h.fail(c, base{}, err)
			return
		}
		h.render(c, status, "login", loginPage{base: base{Title: "登录", Error: msg}, Username: username, Next: next, Token: token})
	}
	cookie, err := c.Cookie(loginCookie)
	if err != nil || cookie == "" || subtle.ConstantTimeCompare([]byte(cookie), []byte(c.PostForm(csrfField))) != 1 {
		again(http.StatusForbidden, "登录表单已过期，请重新输入后再登录。")
		return
	}
	if username == "" || c.PostForm("password") == "" {
		again(http.StatusBadRequest, "请输入用户名和密码。")
		return
	}
	ctx := c.Request.Context()
	token, sess, err := h.opts.Auth.Login(ctx, username, c.PostForm("password"), c.ClientIP(), c.Request.UserAgent())
	var ch *auth.SecondFactorChallenge
	if errors.As(err, &ch) {
		loginToken, err := h.loginToken(c)
		if err != nil {
			h.fail(c, base{}, err)
			return
		}
		h.render(c, http.StatusOK, "login", loginPage{base: base{Title: "登录"}, Username: username, Next: next,
			Token: loginToken, Challenge: ch.Token})
		return
	}
	h.loggedIn(c, token, sess, err, next, again)
}

// loginCode is the login's second step: the code from the authenticator app, or a
// recovery code, for the challenge the password earned.
func (h *Handler) loginCode(c *gin.Context) {
	next := safeNext(c.PostForm("next"))
	challenge := c.PostForm("challenge")
	loginToken, err := h.loginToken(c)
	if err != nil {
		h.fail(c, base{}, err)
		return
	}
	codeAgain := func(status int, msg string) {
		h.render(c, status, "login", loginPage{base: base{Title: "登录", Error: msg}, Next: next, Token: loginToken, Challenge: challenge})
	}
	cookie, err := c.Cookie(loginCookie)
	if err != nil || cookie == "" || subtle.ConstantTimeCompare([]byte(cookie), []byte(c.PostForm(csrfField))) != 1 || challenge == "" {
		h.render(c, http.StatusForbidden, "login", loginPage{base: base{Title: "登录", Error: "登录表单已过期，请重新输入用户名和密码。"},
			Next: next, Token: loginToken})
		return
	}
	if strings.TrimSpace(c.PostForm("code")) == "" {
		codeAgain(http.StatusBadRequest, "请输入验证器应用显示的6位动态码，或一个恢复码。")
		return
	}
	token, sess, err := h.opts.Auth.CompleteLogin(c.Request.Context(), challenge, c.PostForm("code"), c.ClientIP(), c.Request.UserAgent())
	var apiErr *api.Error
	if errors.As(err, &apiErr) && apiErr.Code == "challenge_expired" {
		h.render(c, http.StatusUnauthorized, "login", loginPage{base: base{Title: "登录", Error: "本次登录已过期或动态码错误次数过多，请重新输入用户名和密码。"},
			Next: next, Token: loginToken})
		return
	}
	if errors.Is(err, api.ErrUnauthorized) {
		codeAgain(http.StatusUnauthorized, "动态码不正确或已使用过，请输入验证器应用当前显示的动态码。")
		return
	}
	h.loggedIn(c, token, sess, err, next, codeAgain)
}

// loggedIn ends either login step: the session cookie and the way on, or the error.
func (h *Handler) loggedIn(c *gin.Context, token string, sess *auth.Session, err error, next string, again func(int, string)) {
	ctx := c.Request.Context()
	switch {
	case errors.Is(err, api.ErrRateLimited):
		again(http.StatusTooManyRequests, "登录失败次数过多，请稍后再试。")
		return
	case errors.Is(err, api.ErrUnauthorized), errors.Is(err, api.ErrInvalid), errors.Is(err, api.ErrForbidden):
		again(http.StatusUnauthorized, "用户名或密码不正确，或账号已停用。")
		return
	case err != nil:
		h.log.ErrorContext(ctx, "console login", "err", err)
		again(http.StatusInternalServerError, "系统出现错误，请稍后重试。")
		return
	}
	// Someone switching users in one browser leaves no live session behind.
	if old, err := c.Cookie(auth.CookieName); err == nil && old != "" {
		if err := h.opts.Auth.Logout(ctx, old); err != nil {
			h.log.WarnContext(ctx, "end the session replaced by a login", "err", err)
		}
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: auth.CookieName, Value: token, Path: "/",
		MaxAge: int(sess.ExpiresAt.Sub(sess.CreatedAt).Seconds()), HttpOnly: true, Secure: h.opts.SecureCookies,
		SameSite: http.SameSiteLaxMode})
	switch {
	case h.opts.Auth.NeedsEnrolment(sess.User):
		next = "/console/2fa"
	case next == "":
		next = homeOf(sess.User.Principal())
	}
	c.Redirect(http.StatusSeeOther, next)
}

func (h *Handler) logout(c *gin.Context) {
	h.revokeSoftphone(c, sessionID(c))
	if token, err := c.Cookie(auth.CookieName); err == nil {
		if err := h.opts.Auth.Logout(c.Request.Context(), token); err != nil {
			h.fail(c, h.base(c, ""), err)
			return
		}
	}
	h.clearSession(c)
	c.Redirect(http.StatusSeeOther, "/console/login")
}

func (h *Handler) clearSession(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: auth.CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: h.opts.SecureCookies, SameSite: http.SameSiteLaxMode})
}

// home sends each role to its console.
func (h *Handler) home(c *gin.Context) {
	c.Redirect(http.StatusSeeOther, homeOf(auth.Current(c)))
}

func homeOf(p *auth.Principal) string {
	switch {
	case p != nil && p.Role == auth.RoleDepartment:
		return "/portal/"
	case p != nil && p.Role == auth.RoleAdmin:
		return "/console/admin"
	case p != nil && p.Role == auth.RoleSupervisor:
		return "/console/supervisor" // 督办概览: what needs their attention first
	}
	return "/console/desk"
}

// safeNext keeps a post-login target on this site: a path of ours, never another host.
func safeNext(s string) string {
	if !strings.HasPrefix(s, "/console") && !strings.HasPrefix(s, "/portal") {
		return ""
	}
	if strings.ContainsAny(s, "\\\r\n") || strings.HasPrefix(s, "//") {
		return ""
	}
	return s
}
