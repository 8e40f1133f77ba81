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
//	POST   /auth/login     {username, password} → cookie + {user, csrf_token, expires_at}
//	POST   /auth/logout    ends the cookie session
//	GET    /auth/me        who is calling (and, for a session, its csrf_token)
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
	g.POST("/auth/logout", h(s.handleLogout))
	g.GET("/auth/me", Require(), h(s.handleMe))

	admin := g.Group("", Require(RoleAdmin))
	admin.GET("/users", h(s.handleListUsers))
	admin.POST("/users", h(s.handleCreateUser))
	admin.GET("/users/:id", h(s.handleGetUser))
	admin.PATCH("/users/:id", h(s.handleUpdateUser))
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
}

func userView(u *User) *userJSON {
	return &userJSON{
		ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Role: u.Role,
		DepartmentID: u.DepartmentID, Disabled: u.Disabled,
		CreatedAt: rfc3339(u.CreatedAt), UpdatedAt: rfc3339(u.UpdatedAt), LastLoginAt: rfc3339Ptr(u.LastLoginAt),
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
	c.JSON(http.StatusOK, sessionJSON{User: userView(sess.User), CSRFToken: sess.CSRFToken, ExpiresAt: rfc3339(sess.ExpiresAt)})
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
