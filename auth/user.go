package auth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/database"
)

// User is a person who logs into a console.
type User struct {
	ID           uint       `json:"id"`
	Username     string     `json:"username"`
	DisplayName  string     `json:"display_name"`
	Role         Role       `json:"role"`
	DepartmentID *uint      `json:"department_id"` // set exactly when Role is RoleDepartment
	PasswordHash string     `json:"-"`             // argon2id PHC string
	Disabled     bool       `json:"disabled"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	LastLoginAt  *time.Time `json:"last_login_at"`
	// TOTPSecret is the second factor's shared secret, sealed with the service's key (see
	// sealSecret); set and not yet enabled while an enrolment waits for its first code.
	TOTPSecret    string     `gorm:"column:totp_secret" json:"-"`
	TOTPEnabledAt *time.Time `gorm:"column:totp_enabled_at" json:"totp_enabled_at"`
	// TOTPLastStep is the time step of the last code accepted: a code of that step or an
	// earlier one is refused, so an overheard code cannot be replayed within its window.
	TOTPLastStep int64 `gorm:"column:totp_last_step" json:"-"`
}

// TableName keeps the table name independent of the Go name.
func (User) TableName() string { return "users" }

// TwoFactor reports whether the user logs in with a second factor.
func (u *User) TwoFactor() bool { return u.TOTPEnabledAt != nil }

// Principal is the user as the subject of a request.
func (u *User) Principal() *Principal {
	p := &Principal{UserID: u.ID, Name: u.Username, DisplayName: u.DisplayName, Role: u.Role}
	if u.DepartmentID != nil {
		p.DepartmentID = *u.DepartmentID
	}
	return p
}

// NewUser is what CreateUser needs.
type NewUser struct {
	Username       string
	DisplayName    string // defaults to Username
	Role           Role
	DepartmentCode string // required for RoleDepartment, refused for the others
	Password       string
}

// UserUpdate changes the fields that are set and leaves the nil ones alone.
type UserUpdate struct {
	DisplayName *string
	Role        *Role
	// DepartmentCode moves a department user to another department. When Role changes
	// away from RoleDepartment the department is dropped without being named.
	DepartmentCode *string
	Disabled       *bool
	Password       *string // an administrator's reset; ends the user's sessions
}

// UserFilter narrows ListUsers.
type UserFilter struct {
	Role Role // "" for every role
	Page api.Page
}

var usernamePattern = regexp.MustCompile(`^[a-z0-9._-]{2,64}$`)

const maxDisplayName = 128

// normalizeUsername makes "Zhang.Wei " and "zhang.wei" the same login.
func normalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func checkUsername(u string) error {
	if !usernamePattern.MatchString(u) {
		return api.Errorf(api.ErrInvalid, "invalid_username",
			"username %q must be 2 to 64 characters of a-z, 0-9, '.', '_' or '-'", u)
	}
	return nil
}

func checkRole(r Role) error {
	if !r.Valid() {
		return api.Errorf(api.ErrInvalid, "invalid_role",
			"role %q is unknown; use one of operator, department, supervisor, admin, integrator", r)
	}
	return nil
}

func checkDisplayName(s string) error {
	if utf8.RuneCountInString(s) > maxDisplayName {
		return api.Errorf(api.ErrInvalid, "invalid_display_name",
			"display name must be at most %d characters long", maxDisplayName)
	}
	return nil
}

// CreateUser adds a user. It returns an error of kind api.ErrInvalid for a bad username,
// role, department or password, and api.ErrConflict when the username is taken.
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (*User, error) {
	username := normalizeUsername(nu.Username)
	if err := checkUsername(username); err != nil {
		return nil, err
	}
	display := strings.TrimSpace(nu.DisplayName)
	if display == "" {
		display = username
	}
	if err := checkDisplayName(display); err != nil {
		return nil, err
	}
	if err := checkRole(nu.Role); err != nil {
		return nil, err
	}
	if err := checkPassword(nu.Password); err != nil {
		return nil, err
	}
	// Resolved before any transaction: the resolver may use the same database, and SQLite
	// has a single connection.
	dept, err := s.department(ctx, nu.Role, strings.TrimSpace(nu.DepartmentCode))
	if err != nil {
		return nil, err
	}
	hash, err := hashPassword(nu.Password, s.opts.Passwords)
	if err != nil {
		return nil, fmt.Errorf("create user %q: %w", username, err)
	}
	now := s.now()
	u := &User{
		Username: username, DisplayName: display, Role: nu.Role, DepartmentID: dept,
		PasswordHash: hash, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.db.WithContext(ctx).Create(u).Error; err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return nil, api.Errorf(api.ErrConflict, "username_taken", "username %q is taken", username)
		}
		return nil, fmt.Errorf("create user %q: %w", username, err)
	}
	s.log.InfoContext(ctx, "user created", "user", username, "role", nu.Role)
	s.record(ctx, audit.Event{Action: audit.ActionUserCreated, Target: userTarget(u),
		Detail: fmt.Sprintf("role %s%s", u.Role, deptDetail(u.DepartmentID))})
	return u, nil
}

// GetUser returns the user with id, or an error of kind api.ErrNotFound.
func (s *Service) GetUser(ctx context.Context, id uint) (*User, error) {
	return getUser(ctx, s.db, id)
}

func getUser(ctx context.Context, db *gorm.DB, id uint) (*User, error) {
	var u User
	err := db.WithContext(ctx).First(&u, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, api.Errorf(api.ErrNotFound, "user_not_found", "no user with id %d", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get user %d: %w", id, err)
	}
	return &u, nil
}

// ListUsers returns one page of users ordered by username, and how many match in all.
func (s *Service) ListUsers(ctx context.Context, f UserFilter) ([]User, int64, error) {
	if f.Role != "" {
		if err := checkRole(f.Role); err != nil {
			return nil, 0, err
		}
	}
	if f.Page.Page < 1 || f.Page.PerPage < 1 {
		f.Page = api.Page{Page: 1, PerPage: 50}
	}
	q := s.db.WithContext(ctx).Model(&User{})
	if f.Role != "" {
		q = q.Where("role = ?", f.Role)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count users: %w", err)
	}
	users := []User{}
	if err := q.Order("username").Offset(f.Page.Offset()).Limit(f.Page.PerPage).Find(&users).Error; err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	return users, total, nil
}

// UpdateUser applies up to user id. Disabling a user or resetting the password ends the
// user's sessions at once; a role or department change takes effect on the next request,
// because every request reloads the user. The last enabled administrator cannot be
// disabled or demoted (api.ErrConflict), so that nobody is locked out of user management.
func (s *Service) UpdateUser(ctx context.Context, id uint, up UserUpdate) (*User, error) {
	cur, err := s.GetUser(ctx, id)
	if err != nil {
		return nil, err
	}
	changes := map[string]any{}
	if up.DisplayName != nil {
		display := strings.TrimSpace(*up.DisplayName)
		if display == "" {
			display = cur.Username
		}
		if err := checkDisplayName(display); err != nil {
			return nil, err
		}
		changes["display_name"] = display
	}
	role := cur.Role
	if up.Role != nil {
		if err := checkRole(*up.Role); err != nil {
			return nil, err
		}
		role = *up.Role
		changes["role"] = role
	}
	switch {
	case up.DepartmentCode != nil:
		dept, err := s.department(ctx, role, strings.TrimSpace(*up.DepartmentCode))
		if err != nil {
			return nil, err
		}
		if dept == nil {
			changes["department_id"] = nil
		} else {
			changes["department_id"] = *dept
		}
	case role != RoleDepartment && cur.DepartmentID != nil:
		changes["department_id"] = nil
	case role == RoleDepartment && cur.DepartmentID == nil:
		return nil, api.Errorf(api.ErrInvalid, "department_required", "role department needs a department code")
	}
	if up.Disabled != nil {
		changes["disabled"] = *up.Disabled
	}
	if up.Password != nil {
		if err := checkPassword(*up.Password); err != nil {
			return nil, err
		}
		hash, err := hashPassword(*up.Password, s.opts.Passwords)
		if err != nil {
			return nil, fmt.Errorf("update user %d: %w", id, err)
		}
		changes["password_hash"] = hash
	}
	if len(changes) == 0 {
		return cur, nil
	}
	changes["updated_at"] = s.now()
	endSessions := (up.Disabled != nil && *up.Disabled) || up.Password != nil
	losesAdmin := cur.Role == RoleAdmin && !cur.Disabled && (role != RoleAdmin || (up.Disabled != nil && *up.Disabled))

	var u *User
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if losesAdmin {
			if err := keepOneAdmin(tx, id); err != nil {
				return err
			}
		}
		if err := tx.Model(&User{}).Where("id = ?", id).Updates(changes).Error; err != nil {
			return fmt.Errorf("update user %d: %w", id, err)
		}
		if endSessions {
			if err := tx.Where("user_id = ?", id).Delete(&Session{}).Error; err != nil {
				return fmt.Errorf("end sessions of user %d: %w", id, err)
			}
		}
		u, err = getUser(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "user updated", "user", u.Username, "role", u.Role, "disabled", u.Disabled,
		"password_reset", up.Password != nil)
	s.record(ctx, audit.Event{Action: audit.ActionUserUpdated, Target: userTarget(u), Detail: updateDetail(cur, u, up)})
	return u, nil
}

// keepOneAdmin refuses when no enabled administrator other than id would remain. On
// PostgreSQL the administrators' rows are locked so that two concurrent demotions cannot
// both see the other as the remaining one; SQLite transactions already run one at a time.
func keepOneAdmin(tx *gorm.DB, id uint) error {
	q := tx.Model(&User{}).Where("role = ? AND disabled = ? AND id <> ?", RoleAdmin, false, id)
	if database.DialectOf(tx) == database.Postgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var others []uint
	if err := q.Pluck("id", &others).Error; err != nil {
		return fmt.Errorf("count administrators: %w", err)
	}
	if len(others) == 0 {
		return api.Errorf(api.ErrConflict, "last_admin",
			"this is the last enabled administrator; make another one first")
	}
	return nil
}

// userTarget names a user in audit records: "user:7 (zhang.wei)".
func userTarget(u *User) string { return fmt.Sprintf("user:%d (%s)", u.ID, u.Username) }

func deptDetail(id *uint) string {
	if id == nil {
		return ""
	}
	return fmt.Sprintf(", department %d", *id)
}

// updateDetail says in words what an update changed (never the password itself).
func updateDetail(before, after *User, up UserUpdate) string {
	var parts []string
	if before.DisplayName != after.DisplayName {
		parts = append(parts, fmt.Sprintf("display name %q → %q", before.DisplayName, after.DisplayName))
	}
	if before.Role != after.Role {
		parts = append(parts, fmt.Sprintf("role %s → %s", before.Role, after.Role))
	}
	if dept := func(id *uint) string {
		if id == nil {
			return "none"
		}
		return fmt.Sprint(*id)
	}; dept(before.DepartmentID) != dept(after.DepartmentID) {
		parts = append(parts, fmt.Sprintf("department %s → %s", dept(before.DepartmentID), dept(after.DepartmentID)))
	}
	if before.Disabled != after.Disabled {
		if after.Disabled {
			parts = append(parts, "disabled")
		} else {
			parts = append(parts, "enabled")
		}
	}
	if up.Password != nil {
		parts = append(parts, "password reset")
	}
	if len(parts) == 0 {
		return "nothing changed"
	}
	return strings.Join(parts, "; ")
}
