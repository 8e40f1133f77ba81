package auth

import (
	"errors"
	"math"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
)

// tokenKey holds the *Token in the gin context for /auth/me.
const tokenKey = "auth.token"

// Routes mounts the auth endpoints on g (the lead mounts it at /api/v1). Middleware must
// run before them, on g or on the engine.
//
//	POST   /auth/login     {username, password} → cookie + {user, csrf_token, expires_at},
//	                       or, for a user with a second factor, {second_factor_required,
//	                       challenge, challenge_expires_at} and no cookie yet
//	POST   /auth/login/second-factor {challenge, code} → as a login
//	POST   /auth/logout    ends the cookie session
//	GET    /auth/me        who is calling (and, for a session, its csrf_token)
//	GET    /auth/two-factor                     the caller's second factor: required, enabled
//	POST   /auth/two-factor/enrolment           start (or show) the set-up: secret, otpauth URI
//	GET    /auth/two-factor/enrolment/qr.png    the set-up's QR code
//	POST   /auth/two-factor/enrolment/confirm   {code} → the recovery codes, shown once
//	DELETE /users/:id/two-factor                admin: reset another user's second factor
//	GET    /users          admin: list (?role=, ?page=, ?per_page=)
//	POST   /users          admin: create
//	GET    /users/:id      admin
//	PATCH  /users/:id      admin: display name, role, department, disabled, password reset
//	GET    /tokens         admin: list API tokens
//	POST   /tokens         admin: create; the secret is in this response only
//	DELETE /tokens/:id     admin: revoke
func (s *Service) Routes(g *gin.RouterGroup) {
	h := func(f api.HandlerFunc) gin.HandlerFunc { return api.Handle(s.log, f) }

	g.POST("/auth/login", h(s.handleLogin))
	s.openPath(path.Join(g.BasePath(), "/auth/login"))
	g.POST("/auth/login/second-factor", h(s.handleSecondFactor))
	s.openPath(path.Join(g.BasePath(), "/auth/login/second-factor"))
	g.POST("/auth/logout", h(s.handleLogout))
	g.GET("/auth/me", Require(), h(s.handleMe))
	g.GET("/auth/two-factor", Require(), h(s.handleTwoFactor))
	g.POST("/auth/two-factor/enrolment", Require(), h(s.handleBeginEnrolment))
	g.GET("/auth/two-factor/enrolment/qr.png", Require(), h(s.handleEnrolmentQR))
	g.POST("/auth/two-factor/enrolment/confirm", Require(), h(s.handleConfirmEnrolment))
	for _, p := range []string{"/auth/logout", "/auth/me", "/auth/two-factor", "/auth/two-factor/enrolment",
		"/auth/two-factor/enrolment/qr.png", "/auth/two-factor/enrolment/confirm"} {
		s.enrolPath(path.Join(g.BasePath(), p))
	}

	admin := g.Group("", Require(RoleAdmin))
	admin.GET("/users", h(s.handleListUsers))
	admin.POST("/users", h(s.handleCreateUser))
	admin.GET("/users/:id", h(s.handleGetUser))
	admin.PATCH("/users/:id", h(s.handleUpdateUser))
	admin.DELETE("/users/:id/two-factor", h(s.handleResetTwoFactor))
	admin.GET("/tokens", h(s.handleListTokens))
	admin.POST("/tokens", h(s.handleCreateToken))
	admin.DELETE("/tokens/:id", h(s.handleRevokeToken))
}

// userJSON is a user as the API shows it: never the password hash.
type userJSON struct {
	ID           uint    `json:"id"`
	Username     string  `json:"username"`
	DisplayName  string  `json:"display_name"`
	Role         Role    `json:"role"`
	DepartmentID *uint   `json:"department_id"`
	Disabled     bool    `json:"disabled"`
	CreatedAt    string  `json:"created_at"`
	UpdatedAt    string  `json:"updated_at"`
	LastLoginAt  *string `json:"last_login_at"`
	// TwoFactorEnabled: the user logs in with a TOTP code.
	TwoFactorEnabled bool `json:"two_factor_enabled"`
}

func userView(u *User) *userJSON {
	return &userJSON{
		ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Role: u.Role,
		DepartmentID: u.DepartmentID, Disabled: u.Disabled,
		CreatedAt: rfc3339(u.CreatedAt), UpdatedAt: rfc3339(u.UpdatedAt), LastLoginAt: rfc3339Ptr(u.LastLoginAt),
		TwoFactorEnabled: u.TwoFactor(),
	}
}

// tokenJSON is a token as the API shows it: never the hash.
type tokenJSON struct {
	ID           uint     `json:"id"`
	Name         string   `json:"name"`
	Role         Role     `json:"role"`
	DepartmentID *uint    `json:"department_id"`
	Scopes       []string `json:"scopes"`
	CreatedAt    string   `json:"created_at"`
	LastUsedAt   *string  `json:"last_used_at"`
	RevokedAt    *string  `json:"revoked_at"`
}

func tokenView(t *Token) *tokenJSON {
	return &tokenJSON{
		ID: t.ID, Name: t.Name, Role: t.Role, DepartmentID: t.DepartmentID, Scopes: t.ScopeList(),
		CreatedAt: rfc3339(t.CreatedAt), LastUsedAt: rfc3339Ptr(t.LastUsedAt), RevokedAt: rfc3339Ptr(t.RevokedAt),
	}
}

type principalJSON struct {
	Kind         string `json:"kind"` // "user" or "token"
	ID           uint   `json:"id"`
	Name         string `json:"name"`
	DisplayName  string `json:"display_name"`
	Role         Role   `json:"role"`
	DepartmentID *uint  `json:"department_id"`
	Actor        string `json:"actor"`
}

func principalView(p *Principal) *principalJSON {
	v := &principalJSON{Kind: "user", ID: p.UserID, Name: p.Name, DisplayName: p.DisplayName, Role: p.Role, Actor: p.Actor()}
	if p.TokenID != 0 {
		v.Kind, v.ID = "token", p.TokenID
	}
	if p.DepartmentID != 0 {
		id := p.DepartmentID
		v.DepartmentID = &id
	}
	return v
}

// sessionJSON answers login and /auth/me.
type sessionJSON struct {
	Principal *principalJSON `json:"principal,omitempty"`
	User      *userJSON      `json:"user,omitempty"`
	Token     *tokenJSON     `json:"token,omitempty"`
	CSRFToken string         `json:"csrf_token,omitempty"`
	ExpiresAt string         `json:"expires_at,omitempty"`
	// TwoFactorEnrolmentRequired: the user's role logs in with a second factor and the
	// user has none yet; until it is set up the session reaches only the set-up.
	TwoFactorEnrolmentRequired bool `json:"two_factor_enrolment_required,omitempty"`
}

// challengeJSON answers a right password of a user with a second factor.
type challengeJSON struct {
	SecondFactorRequired bool     `json:"second_factor_required"`
	Challenge            string   `json:"challenge"`
	ChallengeExpiresAt   string   `json:"challenge_expires_at"`
	Methods              []string `json:"methods"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func rfc3339Ptr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := rfc3339(*t)
	return &s
}

func (s *Service) handleLogin(c *gin.Context) error {
	// A cross-site form can post text/plain that happens to parse as JSON; insisting on
	// application/json (which a form cannot send) stops a hostile page from logging the
	// browser into an account of the attacker's choosing.
	if c.ContentType() != "application/json" {
		return api.Errorf(api.ErrInvalid, "content_type", "send the login as Content-Type: application/json")
	}
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := api.BindJSON(c, &req); err != nil {
		return err
	}
	token, sess, err := s.Login(c.Request.Context(), req.Username, req.Password, c.ClientIP(), c.Request.UserAgent())
	return s.answerLogin(c, token, sess, err)
}

func (s *Service) handleSecondFactor(c *gin.Context) error {
	if c.ContentType() != "application/json" {
		return api.Errorf(api.ErrInvalid, "content_type", "send the code as Content-Type: application/json")
	}
	var req struct {
		Challenge string `json:"challenge"`
		Code      string `json:"code"`
	}
	if err := api.BindJSON(c, &req); err != nil {
		return err
	}
	if req.Challenge == "" || req.Code == "" {
		return api.Errorf(api.ErrInvalid, "missing_code", "send the challenge from the login answer and a code")
	}
	token, sess, err := s.CompleteLogin(c.Request.Context(), req.Challenge, req.Code, c.ClientIP(), c.Request.UserAgent())
	return s.answerLogin(c, token, sess, err)
}

// answerLogin turns the outcome of either login step into the answer: a session cookie, a
// challenge for the second factor, or the error with Retry-After when rate limited.
func (s *Service) answerLogin(c *gin.Context, token string, sess *Session, err error) error {
	var ch *SecondFactorChallenge
	if errors.As(err, &ch) {
		c.JSON(http.StatusOK, challengeJSON{SecondFactorRequired: true, Challenge: ch.Token,
			ChallengeExpiresAt: rfc3339(ch.ExpiresAt), Methods: []string{"totp", "recovery_code"}})
		return nil
	}
	if err != nil {
		var rl *rateLimitError
		if errors.As(err, &rl) {
			c.Header("Retry-After", strconv.Itoa(int(math.Ceil(rl.retryAfter.Seconds()))))
		}
		return err
	}
	// Someone switching users in one browser leaves no live session behind.
	if old, err := c.Cookie(CookieName); err == nil && old != "" {
		if err := s.Logout(c.Request.Context(), old); err != nil {
			s.log.WarnContext(c.Request.Context(), "end the session replaced by a login", "err", err)
		}
	}
	s.setCookie(c, token, sess)
	c.JSON(http.StatusOK, sessionJSON{User: userView(sess.User), CSRFToken: sess.CSRFToken, ExpiresAt: rfc3339(sess.ExpiresAt),
		TwoFactorEnrolmentRequired: s.NeedsEnrolment(sess.User)})
	return nil
}

// sessionUser is the logged-in person of a cookie session; the second factor is a
// person's, so bearer tokens have none.
func sessionUser(c *gin.Context) (*User, error) {
	v, ok := c.Get(sessionKey)
	if !ok {
		return nil, api.Errorf(api.ErrForbidden, "session_required", "a second factor belongs to a person: log in with a session, not a token")
	}
	return v.(*Session).User, nil
}

func (s *Service) handleTwoFactor(c *gin.Context) error {
	u, err := sessionUser(c)
	if err != nil {
		return err
	}
	left, err := s.RecoveryCodesLeft(c.Request.Context(), u.ID)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"required": s.TwoFactorRequired(u), "enabled": u.TwoFactor(),
		"enabled_at": rfc3339Ptr(u.TOTPEnabledAt), "pending": !u.TwoFactor() && u.TOTPSecret != "",
		"recovery_codes_left": left})
	return nil
}

func (s *Service) handleBeginEnrolment(c *gin.Context) error {
	u, err := sessionUser(c)
	if err != nil {
		return err
	}
	e, err := s.BeginEnrolment(c.Request.Context(), u.ID)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"secret": e.Secret, "otpauth_uri": e.URI,
		"qr_code_url": path.Join(path.Dir(c.FullPath()), "enrolment/qr.png")})
	return nil
}

func (s *Service) handleEnrolmentQR(c *gin.Context) error {
	u, err := sessionUser(c)
	if err != nil {
		return err
	}
	e, err := s.PendingEnrolment(c.Request.Context(), u.ID)
	if err != nil {
		return err
	}
	img, err := e.QRCode(240)
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store") // it carries the secret
	c.Data(http.StatusOK, "image/png", img)
	return nil
}

func (s *Service) handleConfirmEnrolment(c *gin.Context) error {
	u, err := sessionUser(c)
	if err != nil {
		return err
	}
	var req struct {
		Code string `json:"code"`
	}
	if err := api.BindJSON(c, &req); err != nil {
		return err
	}
	codes, err := s.ConfirmEnrolment(c.Request.Context(), u.ID, req.Code)
	if err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"enabled": true, "recovery_codes": codes})
	return nil
}

func (s *Service) handleResetTwoFactor(c *gin.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if _, err := s.ResetTwoFactor(c.Request.Context(), Current(c), id); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Service) handleLogout(c *gin.Context) error {
	if token, err := c.Cookie(CookieName); err == nil {
		if err := s.Logout(c.Request.Context(), token); err != nil {
			return err
		}
	}
	s.clearCookie(c)
	c.Status(http.StatusNoContent)
	return nil
}

func (s *Service) handleMe(c *gin.Context) error {
	p := Current(c)
	resp := sessionJSON{Principal: principalView(p)}
	if v, ok := c.Get(sessionKey); ok {
		sess := v.(*Session)
		resp.User = userView(sess.User)
		// The cookie is HttpOnly, so a console reloaded in the browser gets its CSRF token
		// back from here. Other sites cannot read this response.
		resp.CSRFToken = sess.CSRFToken
		resp.ExpiresAt = rfc3339(sess.ExpiresAt)
		resp.TwoFactorEnrolmentRequired = s.NeedsEnrolment(sess.User)
	}
	if v, ok := c.Get(tokenKey); ok {
		resp.Token = tokenView(v.(*Token))
	}
	c.JSON(http.StatusOK, resp)
	return nil
}

func (s *Service) handleListUsers(c *gin.Context) error {
	page, err := api.ParsePage(c)
	if err != nil {
		return err
	}
	users, total, err := s.ListUsers(c.Request.Context(), UserFilter{Role: Role(c.Query("role")), Page: page})
	if err != nil {
		return err
	}
	views := make([]*userJSON, len(users))
	for i := range users {
		views[i] = userView(&users[i])
	}
	c.JSON(http.StatusOK, gin.H{"users": views, "total": total, "page": page.Page, "per_page": page.PerPage})
	return nil
}

func (s *Service) handleCreateUser(c *gin.Context) error {
	var req struct {
		Username       string `json:"username"`
		DisplayName    string `json:"display_name"`
		Role           Role   `json:"role"`
		DepartmentCode string `json:"department_code"`
		Password       string `json:"password"`
	}
	if err := api.BindJSON(c, &req); err != nil {
		return err
	}
	u, err := s.CreateUser(c.Request.Context(), NewUser{
		Username: req.Username, DisplayName: req.DisplayName, Role: req.Role,
		DepartmentCode: req.DepartmentCode, Password: req.Password,
	})
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, userView(u))
	return nil
}

func (s *Service) handleGetUser(c *gin.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	u, err := s.GetUser(c.Request.Context(), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, userView(u))
	return nil
}

func (s *Service) handleUpdateUser(c *gin.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req struct {
		DisplayName    *string `json:"display_name"`
		Role           *Role   `json:"role"`
		DepartmentCode *string `json:"department_code"`
		Disabled       *bool   `json:"disabled"`
		Password       *string `json:"password"`
	}
	if err := api.BindJSON(c, &req); err != nil {
		return err
	}
	u, err := s.UpdateUser(c.Request.Context(), id, UserUpdate{
		DisplayName: req.DisplayName, Role: req.Role, DepartmentCode: req.DepartmentCode,
		Disabled: req.Disabled, Password: req.Password,
	})
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, userView(u))
	return nil
}

func (s *Service) handleListTokens(c *gin.Context) error {
	tokens, err := s.ListTokens(c.Request.Context())
	if err != nil {
		return err
	}
	views := make([]*tokenJSON, len(tokens))
	for i := range tokens {
		views[i] = tokenView(&tokens[i])
	}
	c.JSON(http.StatusOK, gin.H{"tokens": views})
	return nil
}

func (s *Service) handleCreateToken(c *gin.Context) error {
	var req struct {
		Name           string   `json:"name"`
		Role           Role     `json:"role"`
		DepartmentCode string   `json:"department_code"`
		Scopes         []string `json:"scopes"` // none: DefaultScopes
	}
	if err := api.BindJSON(c, &req); err != nil {
		return err
	}
	secret, t, err := s.CreateToken(c.Request.Context(), req.Name, req.Role, req.DepartmentCode, req.Scopes)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, struct {
		*tokenJSON
		Secret string `json:"secret"` // shown once; only its hash is kept
	}{tokenView(t), secret})
	return nil
}

func (s *Service) handleRevokeToken(c *gin.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.RevokeToken(c.Request.Context(), id); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func pathID(c *gin.Context) (uint, error) {
	raw := c.Param("id")
	id, err := strconv.ParseUint(raw, 10, 32)
	if err != nil || id == 0 {
		return 0, api.Errorf(api.ErrInvalid, "invalid_id", "id must be a positive whole number, not %q", raw)
	}
	return uint(id), nil
}
