package auth

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/live"
)

// DepartmentResolver turns a department code ("zjj", "gaj-01") into the department's id.
// Departments live in another package; auth only needs this one lookup when a department
// user or token is created. An unknown code must come back as an error wrapping
// api.ErrNotFound so that it can be reported as the caller's mistake.
type DepartmentResolver interface {
	DepartmentByCode(ctx context.Context, code string) (id uint, err error)
}

// LoginLimit is how many failed logins one username may have from one address per window
// before further attempts are refused until the window ends.
type LoginLimit struct {
	Failures int
	Window   time.Duration
}

// Options configure a Service. Zero values take the defaults noted on each field.
type Options struct {
	SessionTTL  time.Duration    // absolute session lifetime; default 12h (one long shift)
	IdleTimeout time.Duration    // a session unused this long ends; default 2h
	Now         func() time.Time // clock; default time.Now
	Log         *slog.Logger     // default slog.Default()
	LoginLimit  LoginLimit       // default 5 failures per 15 minutes per username and address
	// AddressLimit bounds failures from one address across all usernames (one password
	// sprayed over many accounts); default 20 per 15 minutes, sliding.
	AddressLimit LoginLimit
	// AccountLimit bounds failures for one username across all addresses (one account
	// guessed from many); default 10 per 15 minutes, sliding. Above it the account's
	// logins wait, from every address, until the count falls.
	AccountLimit LoginLimit
	// Backoff delays each try after a run of failures, per address and per username;
	// default 1s after 3 failures, doubling up to 5 minutes.
	Backoff       Backoff
	SecureCookies bool // mark the session cookie Secure (set it whenever TLS is in front)
	Departments   DepartmentResolver
	// Audit receives logins, failures, locks and every change to users and tokens; nil
	// records nothing.
	Audit *audit.Log
	// TwoFactorRoles must log in with a second factor (TOTP); users of these roles without
	// one are sent to set it up before anything else. None by default here; the server's
	// configuration asks it of admin and supervisor.
	TwoFactorRoles []Role
	// SecretKey seals the second factors' secrets in the database (AES-256-GCM under a
	// key derived from it; the server's configuration asks for 32 random bytes). Without one they are stored readable.
	SecretKey []byte
	// Issuer names the service in authenticator apps; default "Rexian".
	Issuer string
	// Passwords are the argon2id parameters for new hashes; default
	// DefaultPasswordParams. Tests pass cheaper ones so that a suite of logins runs fast.
	Passwords PasswordParams
}

// Defaults.
const (
	DefaultSessionTTL      = 12 * time.Hour
	DefaultIdleTimeout     = 2 * time.Hour
	DefaultLoginFailures   = 5
	DefaultLoginWindow     = 15 * time.Minute
	DefaultAddressFailures = 20
	DefaultAccountFailures = 10
)

// Service owns users, sessions and API tokens, and authenticates requests.
type Service struct {
	db      *gorm.DB
	opts    Options
	log     *slog.Logger
	limiter *loginLimiter // per username and address
	byAddr  *loginLimiter // per address, across usernames
	byUser  *loginLimiter // per username, across addresses
	aead    cipher.AEAD   // seals TOTP secrets; nil keeps them readable
	// Growing delays per address and per username.
	addrDelay, userDelay *backoff

	dummyOnce sync.Once
	dummyHash string

	mu         sync.RWMutex
	openPaths  map[string]bool // routes that read no credentials (login)
	enrolPaths map[string]bool // routes a user who must set up a second factor may reach
}

// NewService returns a Service on db. store may be nil, in which case login failures are
// counted in this process only (which is wrong once several replicas serve the API).
func NewService(db *gorm.DB, store *live.Store, opts Options) *Service {
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	opts.LoginLimit = opts.LoginLimit.or(DefaultLoginFailures)
	opts.AddressLimit = opts.AddressLimit.or(DefaultAddressFailures)
	opts.AccountLimit = opts.AccountLimit.or(DefaultAccountFailures)
	if opts.Backoff.After <= 0 {
		opts.Backoff.After = DefaultBackoffAfter
	}
	if opts.Backoff.Base <= 0 {
		opts.Backoff.Base = DefaultBackoffBase
	}
	if opts.Backoff.Max <= 0 {
		opts.Backoff.Max = DefaultBackoffMax
	}
	if opts.Passwords == (PasswordParams{}) {
		opts.Passwords = DefaultPasswordParams
	}
	if opts.Issuer == "" {
		opts.Issuer = "Rexian"
	}
	aead := newAEAD(opts.SecretKey)
	log := opts.Log.With("component", "auth")
	quiet := slog.New(slog.DiscardHandler)
	return &Service{
		aead:      aead,
		addrDelay: newBackoff(store, opts.Backoff),
		userDelay: newBackoff(store, opts.Backoff),
		db:        db,
		opts:      opts,
		log:       log,
		limiter:   newLoginLimiter(store, opts.LoginLimit, log),
		// The three limiters ask the same Redis; the first one alone reports an outage.
		byAddr:     &loginLimiter{store: store, limit: opts.AddressLimit, log: quiet, local: map[string]localCount{}, sliding: true},
		byUser:     &loginLimiter{store: store, limit: opts.AccountLimit, log: quiet, local: map[string]localCount{}, sliding: true},
		openPaths:  map[string]bool{},
		enrolPaths: map[string]bool{},
	}
}

// now is the service's clock in UTC, cut to microseconds because that is all PostgreSQL
// keeps; a time read back then equals the one written.
func (s *Service) now() time.Time {
	return s.opts.Now().UTC().Truncate(time.Microsecond)
}

// department resolves code for a user or token of role. Department users must name a
// department; everyone else must not, so that a department id on a row always means
// "limited to this department".
func (s *Service) department(ctx context.Context, role Role, code string) (*uint, error) {
	if role != RoleDepartment {
		if code != "" {
			return nil, api.Errorf(api.ErrInvalid, "department_not_allowed",
				"role %s cannot belong to a department; only role department can", role)
		}
		return nil, nil
	}
	if code == "" {
		return nil, api.Errorf(api.ErrInvalid, "department_required",
			"role department needs a department code")
	}
	if s.opts.Departments == nil {
		return nil, api.Errorf(api.ErrUnavailable, "departments_unavailable",
			"department lookup is not configured on this server")
	}
	id, err := s.opts.Departments.DepartmentByCode(ctx, code)
	if errors.Is(err, api.ErrNotFound) || errors.Is(err, api.ErrInvalid) {
		return nil, api.Errorf(api.ErrInvalid, "unknown_department", "department code %q is unknown", code)
	}
	if err != nil {
		return nil, fmt.Errorf("resolve department %q: %w", code, err)
	}
	return &id, nil
}

// record writes e to the audit log. The action it records has already happened, so a
// failure is logged loudly rather than undoing it or failing the request.
func (s *Service) record(ctx context.Context, e audit.Event) {
	if err := s.opts.Audit.Record(ctx, e); err != nil {
		s.log.ErrorContext(ctx, "security audit record lost", "action", e.Action, "target", e.Target, "err", err)
	}
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// hashSecret is how session and API tokens are stored and looked up. The secrets are 256
// random bits, so a plain SHA-256 (unlike a password) cannot be reversed by guessing, and
// looking a row up by it leaks nothing through timing that would help forge one.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// or is l with its unset parts taken from the defaults: failures, in DefaultLoginWindow.
func (l LoginLimit) or(failures int) LoginLimit {
	if l.Failures <= 0 {
		l.Failures = failures
	}
	if l.Window <= 0 {
		l.Window = DefaultLoginWindow
	}
	return l
}
