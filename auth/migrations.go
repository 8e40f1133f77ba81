package auth

import (
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/database"
)

// Migrations are the auth package's schema steps, in order. Each step creates its tables
// from a snapshot of the struct as it was when the step was written, so that changing
// User, Session or Token later never changes what an old step does; a new column gets a
// new step.
func Migrations() []*database.Migration {
	return []*database.Migration{
		{
			ID:       "20261126_01_auth_users",
			Migrate:  func(tx *gorm.DB) error { return tx.Migrator().CreateTable(&userV1{}) },
			Rollback: func(tx *gorm.DB) error { return tx.Migrator().DropTable("users") },
		},
		{
			ID:       "20261126_02_auth_sessions",
			Migrate:  func(tx *gorm.DB) error { return tx.Migrator().CreateTable(&sessionV1{}) },
			Rollback: func(tx *gorm.DB) error { return tx.Migrator().DropTable("sessions") },
		},
		{
			ID:       "20261126_03_auth_api_tokens",
			Migrate:  func(tx *gorm.DB) error { return tx.Migrator().CreateTable(&apiTokenV1{}) },
			Rollback: func(tx *gorm.DB) error { return tx.Migrator().DropTable("api_tokens") },
		},
		{
			// Tokens made before scopes existed get every scope, so that the integrations
			// using them keep working; new tokens get DefaultScopes unless told otherwise.
			ID: "20261206_98_auth_token_scopes",
			Migrate: func(tx *gorm.DB) error {
				if err := tx.Migrator().AddColumn(&apiTokenV2{}, "Scopes"); err != nil {
					return err
				}
				return tx.Exec("UPDATE api_tokens SET scopes = ?", ScopeAll).Error
			},
			Rollback: func(tx *gorm.DB) error { return tx.Migrator().DropColumn(&apiTokenV2{}, "Scopes") },
		},
		{
			ID: "20261206_75_auth_two_factor",
			Migrate: func(tx *gorm.DB) error {
				m := tx.Migrator()
				for _, col := range []string{"TOTPSecret", "TOTPEnabledAt", "TOTPLastStep"} {
					if err := m.AddColumn(&userV2{}, col); err != nil {
						return err
					}
				}
				return m.CreateTable(&recoveryCodeV1{}, &loginChallengeV1{})
			},
			Rollback: func(tx *gorm.DB) error {
				m := tx.Migrator()
				if err := m.DropTable("login_challenges", "recovery_codes"); err != nil {
					return err
				}
				for _, col := range []string{"totp_secret", "totp_enabled_at", "totp_last_step"} {
					if err := m.DropColumn(&userV2{}, col); err != nil {
						return err
					}
				}
				return nil
			},
		},
	}
}

// Snapshots for 20261206_75. Never edit them.

type userV2 struct {
	userV1
	TOTPSecret    string     `gorm:"column:totp_secret;size:255;not null;default:''"`
	TOTPEnabledAt *time.Time `gorm:"column:totp_enabled_at"`
	TOTPLastStep  int64      `gorm:"column:totp_last_step;not null;default:0"`
}

func (userV2) TableName() string { return "users" }

type recoveryCodeV1 struct {
	ID        uint       `gorm:"primaryKey"`
	UserID    uint       `gorm:"not null;index:recovery_codes_user_id_idx"`
	User      userV1     `gorm:"foreignKey:UserID;constraint:OnDelete:CASCADE"`
	CodeHash  string     `gorm:"size:64;not null"` // hex SHA-256 of the code
	CreatedAt time.Time  `gorm:"not null"`
	UsedAt    *time.Time //
}

func (recoveryCodeV1) TableName() string { return "recovery_codes" }

type loginChallengeV1 struct {
	ID        string    `gorm:"primaryKey;size:64"` // hex SHA-256 of the challenge token
	UserID    uint      `gorm:"not null;index:login_challenges_user_id_idx"`
	User      userV1    `gorm:"foreignKey:UserID;constraint:OnDelete:CASCADE"`
	CreatedAt time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null;index:login_challenges_expires_at_idx"`
	Failures  int       `gorm:"not null;default:0"`
	IP        string    `gorm:"column:ip;size:64;not null;default:''"`
}

func (loginChallengeV1) TableName() string { return "login_challenges" }

// Snapshots for 20261126_01..03. Never edit them.

type userV1 struct {
	ID           uint       `gorm:"primaryKey"`
	Username     string     `gorm:"size:64;not null;uniqueIndex:users_username_key"`
	DisplayName  string     `gorm:"size:128;not null"`
	Role         string     `gorm:"size:16;not null"`
	DepartmentID *uint      `gorm:"index:users_department_id_idx"` // no FK: departments are another package's
	PasswordHash string     `gorm:"size:255;not null"`
	Disabled     bool       `gorm:"not null;default:false"`
	CreatedAt    time.Time  `gorm:"not null"`
	UpdatedAt    time.Time  `gorm:"not null"`
	LastLoginAt  *time.Time `gorm:"column:last_login_at"`
}

func (userV1) TableName() string { return "users" }

type sessionV1 struct {
	ID         string    `gorm:"primaryKey;size:64"` // hex SHA-256 of the session token
	UserID     uint      `gorm:"not null;index:sessions_user_id_idx"`
	User       userV1    `gorm:"foreignKey:UserID;constraint:OnDelete:CASCADE"`
	CSRFToken  string    `gorm:"column:csrf_token;size:64;not null"`
	CreatedAt  time.Time `gorm:"not null"`
	ExpiresAt  time.Time `gorm:"not null;index:sessions_expires_at_idx"`
	LastSeenAt time.Time `gorm:"not null"`
	UserAgent  string    `gorm:"size:255;not null;default:''"`
	IP         string    `gorm:"column:ip;size:64;not null;default:''"`
}

func (sessionV1) TableName() string { return "sessions" }

type apiTokenV1 struct {
	ID           uint   `gorm:"primaryKey"`
	Name         string `gorm:"size:64;not null"`
	Role         string `gorm:"size:16;not null"`
	TokenHash    string `gorm:"size:64;not null;uniqueIndex:api_tokens_token_hash_key"`
	DepartmentID *uint
	CreatedAt    time.Time `gorm:"not null"`
	LastUsedAt   *time.Time
	RevokedAt    *time.Time
}

func (apiTokenV1) TableName() string { return "api_tokens" }

// Snapshot for 20261206_98. Never edit it.
type apiTokenV2 struct {
	apiTokenV1
	Scopes string `gorm:"size:512;not null;default:''"`
}

func (apiTokenV2) TableName() string { return "api_tokens" }
