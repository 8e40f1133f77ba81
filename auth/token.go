package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
)

// Token is an API token for a machine client (the online-approval system, an Open311
// client, a metrics scraper). Only the SHA-256 of the secret is stored.
type Token struct {
	ID           uint   `json:"id"`
	Name         string `json:"name"`
	Role         Role   `json:"role"`
	TokenHash    string `json:"-"`
	DepartmentID *uint  `json:"department_id"`
	// Scopes are the token's scopes, space-separated and sorted (see scope.go).
	Scopes     string     `json:"-" gorm:"size:512;not null;default:''"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// TableName keeps the table name independent of the Go name.
func (Token) TableName() string { return "api_tokens" }

// Principal is the token as the subject of a request.
func (t *Token) Principal() *Principal {
	p := &Principal{TokenID: t.ID, Name: t.Name, DisplayName: t.Name, Role: t.Role, Scopes: t.ScopeList()}
	if t.DepartmentID != nil {
		p.DepartmentID = *t.DepartmentID
	}
	return p
}

// ScopeList is the token's scopes as a list.
func (t *Token) ScopeList() []string { return strings.Fields(t.Scopes) }

// TokenPrefix starts every API token, so that a leaked one is easy to recognise in logs
// and by secret scanners.
const TokenPrefix = "rxn_"

const maxTokenName = 64

var errInvalidToken = api.Errorf(api.ErrUnauthorized, "invalid_token", "the bearer token is unknown or revoked")

// CreateToken makes an API token and returns its secret, which is shown this once and
// cannot be recovered later. No scopes gives DefaultScopes. Errors of kind
// api.ErrInvalid for a bad name, role, department or scope.
func (s *Service) CreateToken(ctx context.Context, name string, role Role, departmentCode string, scopes []string) (string, *Token, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > maxTokenName {
		return "", nil, api.Errorf(api.ErrInvalid, "invalid_token_name",
			"token name must be 1 to %d characters long", maxTokenName)
	}
	if err := checkRole(role); err != nil {
		return "", nil, err
	}
	dept, err := s.department(ctx, role, strings.TrimSpace(departmentCode))
	if err != nil {
		return "", nil, err
	}
	scopes, err = checkScopes(scopes)
	if err != nil {
		return "", nil, err
	}
	secret, err := randomToken(32)
	if err != nil {
		return "", nil, fmt.Errorf("create token %q: %w", name, err)
	}
	plaintext := TokenPrefix + secret
	t := &Token{Name: name, Role: role, TokenHash: hashSecret(plaintext), DepartmentID: dept,
		Scopes: strings.Join(scopes, " "), CreatedAt: s.now()}
	if err := s.db.WithContext(ctx).Create(t).Error; err != nil {
		return "", nil, fmt.Errorf("create token %q: %w", name, err)
	}
	s.log.InfoContext(ctx, "api token created", "token", t.ID, "name", name, "role", role, "scopes", t.Scopes)
	s.record(ctx, audit.Event{Action: audit.ActionTokenCreated, Target: tokenTarget(t),
		Detail: fmt.Sprintf("role %s%s, scopes %s", t.Role, deptDetail(t.DepartmentID), t.Scopes)})
	return plaintext, t, nil
}

// AuthenticateToken returns the live token for a bearer secret, or api.ErrUnauthorized
// "invalid_token" when it is unknown or revoked.
func (s *Service) AuthenticateToken(ctx context.Context, bearer string) (*Token, error) {
	if !strings.HasPrefix(bearer, TokenPrefix) {
		return nil, errInvalidToken
	}
	db := s.db.WithContext(ctx)
	var t Token
	err := db.Where("token_hash = ? AND revoked_at IS NULL", hashSecret(bearer)).Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, errInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate token: %w", err)
	}
	// last_used_at answers "is this integration still alive?"; minutes are precise
	// enough and spare a write per request.
	now := s.now()
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) >= time.Minute {
		if err := db.Model(&Token{}).Where("id = ?", t.ID).Update("last_used_at", now).Error; err != nil {
			return nil, fmt.Errorf("touch token %d: %w", t.ID, err)
		}
		t.LastUsedAt = &now
	}
	return &t, nil
}

// RevokeToken stops token id from working. Revoking a revoked token changes nothing; an
// unknown id is api.ErrNotFound.
func (s *Service) RevokeToken(ctx context.Context, id uint) error {
	db := s.db.WithContext(ctx)
	res := db.Model(&Token{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", s.now())
	if res.Error != nil {
		return fmt.Errorf("revoke token %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		var n int64
		if err := db.Model(&Token{}).Where("id = ?", id).Count(&n).Error; err != nil {
			return fmt.Errorf("revoke token %d: %w", id, err)
		}
		if n == 0 {
			return api.Errorf(api.ErrNotFound, "token_not_found", "no token with id %d", id)
		}
		return nil
	}
	s.log.InfoContext(ctx, "api token revoked", "token", id)
	s.record(ctx, audit.Event{Action: audit.ActionTokenRevoked, Target: fmt.Sprintf("token:%d", id)})
	return nil
}

// ListTokens returns every token, revoked ones included, newest first.
func (s *Service) ListTokens(ctx context.Context) ([]Token, error) {
	tokens := []Token{}
	if err := s.db.WithContext(ctx).Order("id DESC").Find(&tokens).Error; err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return tokens, nil
}

// tokenTarget names a token in audit records: "token:3 (online-approval)".
func tokenTarget(t *Token) string { return fmt.Sprintf("token:%d (%s)", t.ID, t.Name) }
