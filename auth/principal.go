package auth

import (
	"context"

	"github.com/gin-gonic/gin"
)

// Role is what a user may do. Every endpoint checks it server-side.
type Role string

const (
	RoleOperator   Role = "operator"   // 话务员: registers, dispatches, verifies
	RoleDepartment Role = "department" // 承办单位: bound to one department
	RoleSupervisor Role = "supervisor" // 督办/领导: urges, approves extensions, arbitrates
	RoleAdmin      Role = "admin"      // manages users, departments, categories
	RoleIntegrator Role = "integrator" // machine clients with bearer tokens
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleOperator, RoleDepartment, RoleSupervisor, RoleAdmin, RoleIntegrator:
		return true
	}
	return false
}

// Principal is who is making a request: a logged-in user or a bearer token.
type Principal struct {
	UserID       uint   // 0 for a token
	TokenID      uint   // 0 for a user session
	Name         string // username, or the token's name
	DisplayName  string
	Role         Role
	DepartmentID uint     // for RoleDepartment: the department the user belongs to
	Scopes       []string // a token's scopes (see HasScope); nil for a person's session
}

// Is reports whether p has one of roles. Admin passes every check.
func (p *Principal) Is(roles ...Role) bool {
	if p == nil {
		return false
	}
	if p.Role == RoleAdmin {
		return true
	}
	for _, r := range roles {
		if p.Role == r {
			return true
		}
	}
	return false
}

// Actor is how the principal appears in timelines and logs: "operator:zhang".
func (p *Principal) Actor() string {
	if p == nil {
		return "system"
	}
	return string(p.Role) + ":" + p.Name
}

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal in ctx, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}

// Current returns the principal of a gin request (set by the authentication middleware), or nil.
func Current(c *gin.Context) *Principal {
	return FromContext(c.Request.Context())
}
