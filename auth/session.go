package auth

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
)

// Session is a console login. The token the browser holds is never stored: ID is its
// SHA-256, so a copy of the database does not let anyone take over a session.
type Session struct {
	ID         string    `json:"-"`
	UserID     uint      `json:"user_id"`
	CSRFToken  string    `gorm:"column:csrf_token" json:"-"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"` // absolute end, however busy the session is
	LastSeenAt time.Time `json:"last_seen_at"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `gorm:"column:ip" json:"ip"`

	User *User `gorm:"-" json:"-"` // loaded by Login and Authenticate
}

// TableName keeps the table name independent of the Go name.
func (Session) TableName() string { return "sessions" }

var (
	// One message for an unknown user and a wrong password, so that the login form does
	// not tell a stranger which usernames exist.
	errBadLogin = api.Errorf(api.ErrUnauthorized, "invalid_credentials", "wrong username or password")
	// One message for a session that timed out, was logged out or never existed: for the
	// person at the console each means "log in again".
	errSessionExpired = api.Errorf(api.ErrUnauthorized, "session_expired", "your session has ended; log in again")
)

// rateLimitError is api.ErrRateLimited with the wait, for a Retry-After header.
type rateLimitError struct {
	err        *api.Error
	retryAfter time.Duration
}

func (e *rateLimitError) Error() string { return e.err.Error() }
func (e *rateLimitError) Unwrap() error { return e.err }

// Login checks a username and password and starts a session. It returns the session
// token (for the cookie; it is not kept anywhere else) and the session with its user.
//
// Errors: api.ErrRateLimited after too many failures for this username from ip;
// api.ErrUnauthorized "invalid_credentials" for an unknown user or a wrong password alike;
// api.ErrForbidden "account_disabled" for a disabled user with the right password; a
// *SecondFactorChallenge (which is api.ErrUnauthorized "second_factor_required") for a
// user with a second factor: no session yet, answer it with CompleteLogin.
func (s *Service) Login(ctx context.Context, username, password, ip, userAgent string) (string, *Session, error) {
	now := s.now()
	username = normalizeUsername(username)
	if err := s.checkLimits(ctx, username, ip, now); err != nil {
		return "", nil, err
	}

	var u User
	err := s.db.WithContext(ctx).Where("username = ?", username).Take(&u).Error
	found := err == nil
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return "", nil, fmt.Errorf("login %q: %w", username, err)
	}
	hash := u.PasswordHash
	if !found {
		// Spend the same time as for a real user, so that timing does not tell either.
		hash = s.dummy()
	}
	ok, params, err := verifyPassword(password, hash)
	if err != nil {
		s.log.ErrorContext(ctx, "stored password hash unreadable; the user cannot log in until it is reset",
			"user", username, "err", err)
	}
	if !found || !ok {
		s.loginFailed(ctx, username, ip, now)
		s.log.InfoContext(ctx, "login failed", "user", username, "ip", ip)
		s.record(ctx, audit.Event{Action: audit.ActionLoginFailed, Actor: "anonymous", IP: ip,
			Target: "username:" + username, Detail: "wrong username or password"})
		return "", nil, errBadLogin
	}
	if u.Disabled {
		s.record(ctx, audit.Event{Action: audit.ActionLoginFailed, Actor: "anonymous", IP: ip,
			Target: "username:" + username, Detail: "account disabled"})
		return "", nil, api.Errorf(api.ErrForbidden, "account_disabled", "this account is disabled; ask an administrator")
	}
	// UpdateColumns: a login is not an edit of the user, so updated_at stays.
	userCols := map[string]any{"last_login_at": now}
	if params != s.opts.Passwords {
		// The hash predates the current cost parameters; this is the only moment the
		// plaintext is at hand to redo it.
		if h, err := hashPassword(password, s.opts.Passwords); err == nil {
			userCols["password_hash"] = h
		}
	}
	if u.TwoFactor() {
		// The password was right; the limits' counts stay until the code is too.
		return "", nil, s.challenge(ctx, &u, ip, now, userCols)
	}
	token, sess, err := s.startSession(ctx, &u, ip, userAgent, now, userCols)
	if err != nil {
		return "", nil, fmt.Errorf("login %q: %w", username, err)
	}
	return token, sess, nil
}

// checkLimits refuses a login attempt for username from ip while any of the login limits
// holds, with the wait for Retry-After, and records the refusal.
func (s *Service) checkLimits(ctx context.Context, username, ip string, now time.Time) error {
	// Hashed so that any username an attacker types, and IPv6 colons, make a safe key.
	subject := hashSecret(username + "\x00" + ip)
	addrSubject, userSubject := hashSecret("addr\x00"+ip), hashSecret("user\x00"+username)
	wait, blocked, which := time.Duration(0), false, ""
	for _, lim := range []struct {
		l       *loginLimiter
		subject string
		what    string
	}{
		{s.limiter, subject, "for this username from this address"},
		{s.byAddr, addrSubject, "from this address, across usernames"},
		{s.byUser, userSubject, "for this username, across addresses"},
	} {
		if w, b := lim.l.blocked(ctx, lim.subject, now); b && w > wait {
			wait, blocked, which = w, true, lim.what
		}
	}
	for _, d := range []struct {
		b       *backoff
		subject string
		what    string
	}{
		{s.addrDelay, addrSubject, "from this address"},
		{s.userDelay, userSubject, "for this username"},
	} {
		if w, n := d.b.wait(ctx, d.subject, now); w > wait {
			wait, blocked, which = w, true, fmt.Sprintf("%s: growing delay after %d failures in a row", d.what, n)
		}
	}
	if !blocked {
		return nil
	}
	s.log.WarnContext(ctx, "login refused: too many failures", "user", username, "ip", ip, "limit", which)
	s.record(ctx, audit.Event{Action: audit.ActionLoginLocked, Actor: "anonymous", IP: ip,
		Target: "username:" + username, Detail: "too many failed logins " + which})
	n, unit := int((wait+time.Minute-1)/time.Minute), "minute"
	if wait < time.Minute {
		n, unit = int((wait+time.Second-1)/time.Second), "second"
	}
	if n != 1 {
		unit += "s"
	}
	return &rateLimitError{
		err: api.Errorf(api.ErrRateLimited, "too_many_logins",
			"too many failed logins, try again in %d %s", n, unit),
		retryAfter: wait,
	}
}

// loginFailed counts a failed attempt for username from ip against every limit.
func (s *Service) loginFailed(ctx context.Context, username, ip string, now time.Time) {
	s.limiter.fail(ctx, hashSecret(username+"\x00"+ip), now)
	s.byAddr.fail(ctx, hashSecret("addr\x00"+ip), now)
	s.byUser.fail(ctx, hashSecret("user\x00"+username), now)
	s.addrDelay.fail(ctx, hashSecret("addr\x00"+ip), now)
	s.userDelay.fail(ctx, hashSecret("user\x00"+username), now)
}

// startSession begins a session for u, whose credentials have all been checked, and
// writes userCols to the user's row with it.
func (s *Service) startSession(ctx context.Context, u *User, ip, userAgent string, now time.Time, userCols map[string]any) (string, *Session, error) {
	username := u.Username
	s.limiter.reset(ctx, hashSecret(username+"\x00"+ip), now)
	// The owner is in: the guesses at the account from elsewhere stop delaying it. The
	// address's count stays, or a sprayer could clear it by logging into an account of
	// its own.
	s.byUser.reset(ctx, hashSecret("user\x00"+username), now)
	s.userDelay.reset(ctx, hashSecret("user\x00"+username))

	token, err := randomToken(32)
	if err != nil {
		return "", nil, err
	}
	csrf, err := randomToken(32)
	if err != nil {
		return "", nil, err
	}
	sess := &Session{
		ID: hashSecret(token), UserID: u.ID, CSRFToken: csrf,
		CreatedAt: now, ExpiresAt: now.Add(s.opts.SessionTTL), LastSeenAt: now,
		UserAgent: truncate(userAgent, 255), IP: truncate(ip, 64),
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The user's dead sessions go now, so the table stays small without a janitor.
		if err := tx.Where("user_id = ? AND (expires_at <= ? OR last_seen_at <= ?)",
			u.ID, now, now.Add(-s.opts.IdleTimeout)).Delete(&Session{}).Error; err != nil {
			return fmt.Errorf("remove expired sessions: %w", err)
		}
		if err := tx.Create(sess).Error; err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		if err := tx.Model(&User{}).Where("id = ?", u.ID).UpdateColumns(userCols).Error; err != nil {
			return fmt.Errorf("record login: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	u.LastLoginAt = &now
	if h, ok := userCols["password_hash"].(string); ok {
		u.PasswordHash = h
	}
	sess.User = u
	s.log.InfoContext(ctx, "login", "user", username, "ip", ip)
	s.record(ctx, audit.Event{Action: audit.ActionLogin, Actor: u.Principal().Actor(), IP: ip, Target: userTarget(u)})
	return token, sess, nil
}

// dummy is a hash of nothing anybody knows, for unknown usernames.
func (s *Service) dummy() string {
	s.dummyOnce.Do(func() {
		pw, err := randomToken(16)
		if err == nil {
			s.dummyHash, err = hashPassword(pw, s.opts.Passwords)
		}
		if err != nil {
			// Without randomness nothing else works either; a fixed hash keeps the
			// timing right and still matches no password the client can send.
			s.dummyHash = "$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		}
	})
	return s.dummyHash
}

// Authenticate returns the live session for a session token, with its user reloaded so
// that role and department changes apply at once. Errors: api.ErrUnauthorized
// "session_expired" when the token is unknown, logged out, past its absolute lifetime or
// idle too long (both measured on the service's clock); "account_disabled" when the user
// has been disabled since.
func (s *Service) Authenticate(ctx context.Context, token string) (*Session, error) {
	if token == "" {
		return nil, errSessionExpired
	}
	db := s.db.WithContext(ctx)
	var sess Session
	err := db.Where("id = ?", hashSecret(token)).Take(&sess).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, errSessionExpired
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate session: %w", err)
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) >= s.opts.IdleTimeout {
		if err := db.Delete(&Session{}, "id = ?", sess.ID).Error; err != nil {
			s.log.WarnContext(ctx, "remove expired session", "err", err)
		}
		return nil, errSessionExpired
	}
	u, err := getUser(ctx, s.db, sess.UserID)
	if err != nil && !errors.Is(err, api.ErrNotFound) {
		return nil, err
	}
	if u == nil || u.Disabled {
		if err := db.Delete(&Session{}, "id = ?", sess.ID).Error; err != nil {
			s.log.WarnContext(ctx, "remove session of disabled user", "err", err)
		}
		return nil, api.Errorf(api.ErrUnauthorized, "account_disabled", "this account is disabled; ask an administrator")
	}
	// Writing last_seen_at on every request would make every read a write; once a
	// minute (or a tenth of the idle timeout, if shorter) is precise enough for an idle
	// limit measured in hours.
	if now.Sub(sess.LastSeenAt) >= min(time.Minute, s.opts.IdleTimeout/10) {
		if err := db.Model(&Session{}).Where("id = ?", sess.ID).Update("last_seen_at", now).Error; err != nil {
			return nil, fmt.Errorf("touch session: %w", err)
		}
		sess.LastSeenAt = now
	}
	sess.User = u
	return &sess, nil
}

// SessionActive reports whether the session with the stored id (Session.ID, not the
// cookie) is still live: neither logged out nor past its lifetime or idle timeout. It
// lets what was handed out for a session (the browser phone's credentials) end with it.
func (s *Service) SessionActive(ctx context.Context, id string) (bool, error) {
	now := s.now()
	var n int64
	err := s.db.WithContext(ctx).Model(&Session{}).
		Where("id = ? AND expires_at > ? AND last_seen_at > ?", id, now, now.Add(-s.opts.IdleTimeout)).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("session active: %w", err)
	}
	return n > 0, nil
}

// Logout ends the session of token. Ending an unknown or ended session is not an error.
func (s *Service) Logout(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	if err := s.db.WithContext(ctx).Delete(&Session{}, "id = ?", hashSecret(token)).Error; err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// PurgeExpiredSessions removes every session past its lifetime or idle timeout and
// returns how many. Login already removes the user's own dead sessions; this is for a
// periodic job, so that people who never log in again leave no rows behind.
func (s *Service) PurgeExpiredSessions(ctx context.Context) (int64, error) {
	now := s.now()
	res := s.db.WithContext(ctx).Where("expires_at <= ? OR last_seen_at <= ?", now, now.Add(-s.opts.IdleTimeout)).
		Delete(&Session{})
	if res.Error != nil {
		return 0, fmt.Errorf("purge expired sessions: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// truncate cuts s to at most n bytes on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
