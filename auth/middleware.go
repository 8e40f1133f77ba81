package auth

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
)

// CookieName is the session cookie.
const CookieName = "rexian_session"

// CSRFHeader carries the session's CSRF token on unsafe requests.
const CSRFHeader = "X-CSRF-Token"

// sessionKey holds the *Session in the gin context for the auth handlers.
const sessionKey = "auth.session"

// Middleware identifies who is calling and puts the *Principal into the request's
// context (read it with Current or FromContext). A request without credentials goes on
// without a principal, so that public routes work; Require guards the others. Bad
// credentials stop the request at once with 401, so that a client with a stale token
// learns it even on a public route.
//
// An "Authorization: Bearer rxn_…" header wins over the cookie. A cookie session must send
// X-CSRF-Token on POST, PUT, PATCH and DELETE: the browser attaches the cookie to any
// request to this host, including one a hostile page makes it send, but only our own
// console has read the CSRF token (from the login or /auth/me response). SameSite=Lax
// already stops most such requests; the header also covers older browsers and sibling
// subdomains that count as the same site. Bearer requests are exempt because no browser
// adds an Authorization header by itself, so a request carrying one was made on purpose.
func (s *Service) Middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.isOpenPath(c.FullPath()) {
			c.Next()
			return
		}
		ctx := c.Request.Context()
		if h := c.GetHeader("Authorization"); h != "" {
			scheme, cred, _ := strings.Cut(h, " ")
			if !strings.EqualFold(scheme, "Bearer") {
				api.WriteError(c, s.log, api.Errorf(api.ErrUnauthorized, "invalid_token",
					"the Authorization header must be \"Bearer <token>\""))
				return
			}
			t, err := s.AuthenticateToken(ctx, strings.TrimSpace(cred))
			if err != nil {
				api.WriteError(c, s.log, err)
				return
			}
			p := t.Principal()
			if scope := RouteScope(c.Request.Method, c.FullPath()); scope != "" && !p.HasScope(scope) {
				api.WriteError(c, s.log, errScope(scope))
				return
			}
			c.Set(tokenKey, t)
			c.Request = c.Request.WithContext(NewContext(ctx, p))
			c.Next()
			return
		}

		cookie, err := c.Cookie(CookieName)
		if err != nil || cookie == "" {
			c.Next()
			return
		}
		sess, err := s.Authenticate(ctx, cookie)
		if err != nil {
			if errors.Is(err, api.ErrUnauthorized) {
				s.clearCookie(c)
			}
			api.WriteError(c, s.log, err)
			return
		}
		if !safeMethod(c.Request.Method) {
			got := c.GetHeader(CSRFHeader)
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRFToken)) != 1 {
				api.WriteError(c, s.log, api.Errorf(api.ErrForbidden, "csrf",
					"missing or wrong %s header; send the csrf_token from the login response", CSRFHeader))
				return
			}
		}
		c.Set(sessionKey, sess)
		c.Request = c.Request.WithContext(NewContext(ctx, sess.User.Principal()))
		if s.NeedsEnrolment(sess.User) && !s.isEnrolPath(c.FullPath()) {
			api.WriteError(c, s.log, api.Errorf(api.ErrForbidden, "two_factor_enrolment_required",
				"your role logs in with a second factor; set it up first (POST /api/v1/auth/two-factor/enrolment)"))
			return
		}
		c.Next()
	}
}

// safeMethod reports methods that must not change anything, and so need no CSRF token.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// Require lets a request through only with a principal of one of roles (admin always
// passes); with no roles, any principal passes. It answers 401 without a principal and
// 403 with the wrong role. Mount it after Middleware.
func Require(roles ...Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := Current(c)
		if p == nil {
			api.WriteError(c, nil, api.Errorf(api.ErrUnauthorized, "unauthenticated",
				"log in or send a bearer token"))
			return
		}
		if len(roles) > 0 && !p.Is(roles...) {
			names := make([]string, len(roles))
			for i, r := range roles {
				names[i] = string(r)
			}
			api.WriteError(c, nil, api.Errorf(api.ErrForbidden, "forbidden_role",
				"role %s may not do this; it needs %s", p.Role, strings.Join(names, " or ")))
			return
		}
		c.Next()
	}
}

// openPath marks a route that reads no credentials, so that Middleware lets it through
// untouched. Login is one: a stale cookie or a missing CSRF token must not stop somebody
// from logging in again.
func (s *Service) openPath(fullPath string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.openPaths[fullPath] = true
}

// enrolPath marks a route a user who must still set up a second factor may reach: the
// set-up itself, who am I, and logging out.
func (s *Service) enrolPath(fullPath string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enrolPaths[fullPath] = true
}

func (s *Service) isEnrolPath(fullPath string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.enrolPaths[fullPath]
}

func (s *Service) isOpenPath(fullPath string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return fullPath != "" && s.openPaths[fullPath]
}

func (s *Service) setCookie(c *gin.Context, token string, sess *Session) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     CookieName,
		Value:    token,
		Path:     "/",
		MaxAge:   int(sess.ExpiresAt.Sub(sess.CreatedAt).Seconds()),
		HttpOnly: true, // page scripts never see the token, so an injected script cannot send it away
		Secure:   s.opts.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *Service) clearCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     CookieName,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   s.opts.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	})
}
