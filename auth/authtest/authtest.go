// Package authtest helps other packages test handlers that need a caller: a middleware
// that sets a principal without logging in, a map of departments that satisfies
// auth.DepartmentResolver, and password parameters cheap enough for a test suite.
package authtest

import (
	"context"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
)

// Passwords are argon2id parameters that make hashing nearly free. For tests only: a
// hash made with them falls to guessing at once.
var Passwords = auth.PasswordParams{Memory: 64, Time: 1, Threads: 1}

// As returns a middleware that makes p the caller of every request, in place of
// auth's Middleware. A nil p leaves the request anonymous.
func As(p *auth.Principal) gin.HandlerFunc {
	return func(c *gin.Context) {
		if p != nil {
			c.Request = c.Request.WithContext(auth.NewContext(c.Request.Context(), p))
		}
		c.Next()
	}
}

// Departments maps department codes to ids.
type Departments map[string]uint

var _ auth.DepartmentResolver = Departments(nil)

// DepartmentByCode returns the id of code, or an error of kind api.ErrNotFound.
func (d Departments) DepartmentByCode(_ context.Context, code string) (uint, error) {
	id, ok := d[code]
	if !ok {
		return 0, api.Errorf(api.ErrNotFound, "department_not_found", "no department with code %q", code)
	}
	return id, nil
}
