package auth

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
)

// A second factor is a TOTP code (RFC 6238: six digits, 30-second steps, SHA-1, as every
// authenticator app reads them from a QR code) or, when the phone is lost, one of ten
// recovery codes, each good once.

const (
	totpPeriod = 30
	// challengeTTL is how long a right password waits for its code.
	challengeTTL = 5 * time.Minute
	// maxChallengeFailures wrong codes end a challenge: the password must be typed again.
	maxChallengeFailures = 5
	recoveryCodes        = 10
)

// SecondFactorChallenge answers a right password of a user with a second factor. No
// session exists yet: the client sends Token back with a code to CompleteLogin before
// ExpiresAt. It is an error of kind api.ErrUnauthorized, so a caller that does not know
// about second factors treats it as a failed login.
type SecondFactorChallenge struct {
	Token     string
	ExpiresAt time.Time
	User      *User
}

var errSecondFactor = api.Errorf(api.ErrUnauthorized, "second_factor_required",
	"enter the code from your authenticator app, or a recovery code")

func (c *SecondFactorChallenge) Error() string { return errSecondFactor.Error() }
func (c *SecondFactorChallenge) Unwrap() error { return errSecondFactor }

// loginChallenge is a password accepted, waiting for its second factor. Like a session
// it is kept as the hash of its token only.
type loginChallenge struct {
	ID        string
	UserID    uint
	CreatedAt time.Time
	ExpiresAt time.Time
	Failures  int
	IP        string `gorm:"column:ip"`
}

func (loginChallenge) TableName() string { return "login_challenges" }

type recoveryCode struct {
	ID        uint
	UserID    uint
	CodeHash  string
	CreatedAt time.Time
	UsedAt    *time.Time
}

func (recoveryCode) TableName() string { return "recovery_codes" }

var (
	errChallengeExpired = api.Errorf(api.ErrUnauthorized, "challenge_expired",
		"this login has expired or had too many wrong codes; enter your password again")
	errBadCode = api.Errorf(api.ErrUnauthorized, "invalid_code", "wrong or already used code")
)

// TwoFactorRequired reports whether u's role must log in with a second factor.
func (s *Service) TwoFactorRequired(u *User) bool {
	return u != nil && slices.Contains(s.opts.TwoFactorRoles, u.Role)
}

// NeedsEnrolment reports whether u must set up a second factor before anything else: the
// role requires one and u has none yet. Such a user's session reaches only the enrolment.
func (s *Service) NeedsEnrolment(u *User) bool { return s.TwoFactorRequired(u) && !u.TwoFactor() }

// challenge stores a challenge for u, whose password was right, and returns it as the
// error Login answers with.
func (s *Service) challenge(ctx context.Context, u *User, ip string, now time.Time, userCols map[string]any) error {
	token, err := randomToken(32)
	if err != nil {
		return fmt.Errorf("login %q: %w", u.Username, err)
	}
	ch := &loginChallenge{ID: hashSecret(token), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(challengeTTL), IP: truncate(ip, 64)}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("user_id = ? AND expires_at <= ?", u.ID, now).Delete(&loginChallenge{}).Error; err != nil {
			return fmt.Errorf("remove expired challenges: %w", err)
		}
		if err := tx.Create(ch).Error; err != nil {
			return fmt.Errorf("create challenge: %w", err)
		}
		if h, ok := userCols["password_hash"]; ok {
			return tx.Model(&User{}).Where("id = ?", u.ID).UpdateColumn("password_hash", h).Error
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("login %q: %w", u.Username, err)
	}
	return &SecondFactorChallenge{Token: token, ExpiresAt: ch.ExpiresAt, User: u}
}

// CompleteLogin answers a SecondFactorChallenge with a TOTP code or a recovery code and
// starts the session. Wrong codes count against the same limits as wrong passwords; after
// maxChallengeFailures the challenge ends.
//
// Errors: api.ErrUnauthorized "challenge_expired" for an unknown, expired or ended
// challenge, "invalid_code" for a wrong, replayed or used code; api.ErrRateLimited as
// for Login; api.ErrForbidden "account_disabled".
func (s *Service) CompleteLogin(ctx context.Context, challengeToken, code, ip, userAgent string) (string, *Session, error) {
	now := s.now()
	db := s.db.WithContext(ctx)
	var ch loginChallenge
	err := db.Where("id = ?", hashSecret(challengeToken)).Take(&ch).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && !now.Before(ch.ExpiresAt)) {
		return "", nil, errChallengeExpired
	}
	if err != nil {
		return "", nil, fmt.Errorf("find login challenge: %w", err)
	}
	u, err := getUser(ctx, s.db, ch.UserID)
	if errors.Is(err, api.ErrNotFound) {
		return "", nil, errChallengeExpired
	}
	if err != nil {
		return "", nil, err
	}
	if err := s.checkLimits(ctx, u.Username, ip, now); err != nil {
		return "", nil, err
	}
	if u.Disabled {
		return "", nil, api.Errorf(api.ErrForbidden, "account_disabled", "this account is disabled; ask an administrator")
	}
	if !u.TwoFactor() {
		// Reset by an administrator since the password was typed.
		db.Delete(&loginChallenge{}, "id = ?", ch.ID)
		return "", nil, errChallengeExpired
	}
	code = normalizeCode(code)
	var ok bool
	how := "code"
	if isTOTPCode(code) {
		var replay bool
		ok, replay, err = s.checkTOTP(ctx, u, u.TOTPSecret, code, now)
		if replay {
			how = "replayed code"
		}
	} else {
		how = "recovery code"
		ok, err = s.useRecoveryCode(ctx, u.ID, code, now)
	}
	if err != nil {
		return "", nil, fmt.Errorf("login %q: %w", u.Username, err)
	}
	if !ok {
		s.loginFailed(ctx, u.Username, ip, now)
		res := db.Model(&loginChallenge{}).Where("id = ?", ch.ID).UpdateColumn("failures", gorm.Expr("failures + 1"))
		if res.Error == nil && ch.Failures+1 >= maxChallengeFailures {
			db.Delete(&loginChallenge{}, "id = ?", ch.ID)
		}
		s.log.InfoContext(ctx, "second factor failed", "user", u.Username, "ip", ip)
		s.record(ctx, audit.Event{Action: audit.ActionLoginFailed, Actor: "anonymous", IP: ip,
			Target: userTarget(u), Detail: "wrong second factor: " + how})
		return "", nil, errBadCode
	}
	// Only one login may come out of a challenge.
	if res := db.Delete(&loginChallenge{}, "id = ?", ch.ID); res.Error != nil || res.RowsAffected != 1 {
		return "", nil, errChallengeExpired
	}
	if how == "recovery code" {
		left, _ := s.RecoveryCodesLeft(ctx, u.ID)
		s.record(ctx, audit.Event{Action: audit.ActionRecoveryUsed, Actor: u.Principal().Actor(), IP: ip,
			Target: userTarget(u), Detail: fmt.Sprintf("recovery code used at login; %d left", left)})
	}
	token, sess, err := s.startSession(ctx, u, ip, userAgent, now, map[string]any{"last_login_at": now})
	if err != nil {
		return "", nil, fmt.Errorf("login %q: %w", u.Username, err)
	}
	return token, sess, nil
}

// normalizeCode takes out what people type between digits and groups.
func normalizeCode(s string) string {
	return strings.ToLower(strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(strings.TrimSpace(s)))
}

func isTOTPCode(s string) bool {
	return len(s) == 6 && strings.Trim(s, "0123456789") == ""
}

// checkTOTP checks code against sealed, allowing one step of clock drift either way. A
// code is accepted once: the step it belongs to is recorded, and a code of that step or
// an earlier one is refused (replay reports that case).
func (s *Service) checkTOTP(ctx context.Context, u *User, sealed, code string, now time.Time) (ok, replay bool, err error) {
	secret, err := s.openSecret(u.ID, sealed)
	if err != nil {
		return false, false, err
	}
	current := now.Unix() / totpPeriod
	var matched int64
	for _, step := range []int64{current - 1, current, current + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err != nil {
			return false, false, fmt.Errorf("totp code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			matched = step
		}
	}
	if matched == 0 {
		return false, false, nil
	}
	if matched <= u.TOTPLastStep {
		return false, true, nil
	}
	// Conditional, so that two requests racing with one code cannot both win.
	res := s.db.WithContext(ctx).Model(&User{}).Where("id = ? AND totp_last_step < ?", u.ID, matched).
		UpdateColumn("totp_last_step", matched)
	if res.Error != nil {
		return false, false, fmt.Errorf("record totp step: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return false, true, nil
	}
	u.TOTPLastStep = matched
	return true, false, nil
}

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

func (s *Service) useRecoveryCode(ctx context.Context, userID uint, code string, now time.Time) (bool, error) {
	if code == "" {
		return false, nil
	}
	res := s.db.WithContext(ctx).Model(&recoveryCode{}).
		Where("user_id = ? AND code_hash = ? AND used_at IS NULL", userID, hashSecret(code)).
		UpdateColumn("used_at", now)
	if res.Error != nil {
		return false, fmt.Errorf("use recovery code: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// RecoveryCodesLeft counts u's unused recovery codes.
func (s *Service) RecoveryCodesLeft(ctx context.Context, userID uint) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&recoveryCode{}).Where("user_id = ? AND used_at IS NULL", userID).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", err)
	}
	return n, nil
}

// Enrolment is a second factor set up and waiting for its first code.
type Enrolment struct {
	// Secret is the base32 secret, for typing into an app by hand.
	Secret string
	// URI is the otpauth:// URI the QR code carries.
	URI string
	key *otp.Key
}

// QRCode renders the enrolment's URI as a PNG of size × size pixels.
func (e *Enrolment) QRCode(size int) ([]byte, error) {
	img, err := e.key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("render qr code: %w", err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("encode qr code: %w", err)
	}
	return b.Bytes(), nil
}

var errTwoFactorEnabled = api.Errorf(api.ErrConflict, "two_factor_enabled",
	"a second factor is already set up; another administrator can reset it")

// BeginEnrolment starts setting up a second factor for user id, or returns the one already
// waiting for its first code, so that reloading the page shows the same QR code.
// api.ErrConflict "two_factor_enabled" when the user already has one.
func (s *Service) BeginEnrolment(ctx context.Context, id uint) (*Enrolment, error) {
	u, err := getUser(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if u.TwoFactor() {
		return nil, errTwoFactorEnabled
	}
	if u.TOTPSecret != "" {
		if e, err := s.enrolment(u); err == nil {
			return e, nil
		}
		// An unreadable pending secret (the key changed) is simply replaced.
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.opts.Issuer, AccountName: u.Username, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, fmt.Errorf("generate totp secret: %w", err)
	}
	sealed, err := s.sealSecret(u.ID, key.Secret())
	if err != nil {
		return nil, err
	}
	if err := s.db.WithContext(ctx).Model(&User{}).Where("id = ?", u.ID).
		UpdateColumns(map[string]any{"totp_secret": sealed, "totp_last_step": 0}).Error; err != nil {
		return nil, fmt.Errorf("store totp secret: %w", err)
	}
	return &Enrolment{Secret: key.Secret(), URI: key.URL(), key: key}, nil
}

// PendingEnrolment returns user id's enrolment waiting for its first code;
// api.ErrNotFound "no_enrolment" when none is.
func (s *Service) PendingEnrolment(ctx context.Context, id uint) (*Enrolment, error) {
	u, err := getUser(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if u.TwoFactor() || u.TOTPSecret == "" {
		return nil, api.Errorf(api.ErrNotFound, "no_enrolment", "no second factor is waiting to be confirmed; start the set-up first")
	}
	return s.enrolment(u)
}

func (s *Service) enrolment(u *User) (*Enrolment, error) {
	secret, err := s.openSecret(u.ID, u.TOTPSecret)
	if err != nil {
		return nil, err
	}
	key, err := otp.NewKeyFromURL(totpURI(s.opts.Issuer, u.Username, secret))
	if err != nil {
		return nil, fmt.Errorf("totp key: %w", err)
	}
	return &Enrolment{Secret: secret, URI: key.URL(), key: key}, nil
}

func totpURI(issuer, account, secret string) string {
	v := url.Values{"secret": {secret}, "issuer": {issuer}, "period": {strconv.Itoa(totpPeriod)},
		"digits": {"6"}, "algorithm": {"SHA1"}}
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: v.Encode()}
	return u.String()
}

// ConfirmEnrolment switches the waiting second factor on once code matches it, and
// returns the recovery codes: shown this once, kept only as hashes. Errors:
// api.ErrNotFound "no_enrolment"; api.ErrInvalid "invalid_code".
func (s *Service) ConfirmEnrolment(ctx context.Context, id uint, code string) ([]string, error) {
	u, err := getUser(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if u.TwoFactor() {
		return nil, errTwoFactorEnabled
	}
	if u.TOTPSecret == "" {
		return nil, api.Errorf(api.ErrNotFound, "no_enrolment", "no second factor is waiting to be confirmed; start the set-up first")
	}
	codes, err := s.issueRecoveryCodes(ctx, u, code, func(tx *gorm.DB, now time.Time) error {
		res := tx.Model(&User{}).Where("id = ? AND totp_enabled_at IS NULL", u.ID).UpdateColumn("totp_enabled_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return errTwoFactorEnabled
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, api.ErrConflict) || errors.Is(err, api.ErrInvalid) {
			return nil, err
		}
		return nil, fmt.Errorf("enable second factor: %w", err)
	}
	s.record(ctx, audit.Event{Action: audit.ActionTOTPEnrolled, Target: userTarget(u),
		Detail: fmt.Sprintf("authenticator app set up, %d recovery codes issued", recoveryCodes)})
	return codes, nil
}

// issueRecoveryCodes checks code against u's authenticator app, then replaces u's
// recovery codes with new ones in one transaction, with also (if not nil) in it, and
// returns the new codes: shown this once, kept only as hashes.
func (s *Service) issueRecoveryCodes(ctx context.Context, u *User, code string, also func(tx *gorm.DB, now time.Time) error) ([]string, error) {
	now := s.now()
	if err := s.requireAppCode(ctx, u, code, now); err != nil {
		return nil, err
	}
	codes, rows, err := newRecoveryCodes(u.ID, now)
	if err != nil {
		return nil, err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("user_id = ?", u.ID).Delete(&recoveryCode{}).Error; err != nil {
			return err
		}
		if err := tx.Create(&rows).Error; err != nil {
			return err
		}
		if also != nil {
			return also(tx, now)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// requireAppCode checks code against u's authenticator app (not a recovery code), once:
// api.ErrInvalid "invalid_code" when it does not match.
func (s *Service) requireAppCode(ctx context.Context, u *User, code string, now time.Time) error {
	code = normalizeCode(code)
	if isTOTPCode(code) {
		ok, _, err := s.checkTOTP(ctx, u, u.TOTPSecret, code, now)
		if err != nil || ok {
			return err
		}
	}
	return api.Errorf(api.ErrInvalid, "invalid_code",
		"the code does not match; check the phone's clock and type the code the app shows now")
}

// newRecoveryCodes makes a set of recovery codes for user id: the codes, shown once,
// and the rows that keep their hashes.
func newRecoveryCodes(id uint, now time.Time) ([]string, []recoveryCode, error) {
	codes := make([]string, recoveryCodes)
	rows := make([]recoveryCode, recoveryCodes)
	for i := range codes {
		c, err := newRecoveryCode()
		if err != nil {
			return nil, nil, err
		}
		codes[i], rows[i] = c, recoveryCode{UserID: id, CodeHash: hashSecret(normalizeCode(c)), CreatedAt: now}
	}
	return codes, rows, nil
}

// RegenerateRecoveryCodes replaces user id's recovery codes with a new set, for someone
// who used or lost them and still has the phone. It asks for a current code from the
// authenticator app, so that a session left open cannot mint codes that outlive it.
// The old codes stop working at once. Errors: api.ErrNotFound "no_two_factor" when the
// second factor is not on; api.ErrInvalid "invalid_code".
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, id uint, code string) ([]string, error) {
	u, err := getUser(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if !u.TwoFactor() {
		return nil, api.Errorf(api.ErrNotFound, "no_two_factor", "the second factor is not on; set it up first")
	}
	codes, err := s.issueRecoveryCodes(ctx, u, code, nil)
	if err != nil {
		if errors.Is(err, api.ErrInvalid) {
			return nil, err
		}
		return nil, fmt.Errorf("replace recovery codes: %w", err)
	}
	s.record(ctx, audit.Event{Action: audit.ActionRecoveryRegenerated, Target: userTarget(u),
		Detail: fmt.Sprintf("%d new recovery codes issued; the old ones no longer work", recoveryCodes)})
	return codes, nil
}

// ResetTwoFactor removes user id's second factor and recovery codes and ends the user's
// sessions, for someone who lost the phone and the codes. by must be another
// administrator: resetting one's own would let a stolen session remove the factor.
func (s *Service) ResetTwoFactor(ctx context.Context, by *Principal, id uint) (*User, error) {
	if by == nil || by.Role != RoleAdmin || by.TokenID != 0 {
		return nil, api.Errorf(api.ErrForbidden, "forbidden_role", "only an administrator, logged in, may reset a second factor")
	}
	if by.UserID == id {
		return nil, api.Errorf(api.ErrForbidden, "reset_own_two_factor", "another administrator must reset your second factor")
	}
	u, err := getUser(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	had := u.TwoFactor()
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&User{}).Where("id = ?", id).UpdateColumns(map[string]any{
			"totp_secret": "", "totp_enabled_at": nil, "totp_last_step": 0}).Error; err != nil {
			return err
		}
		for _, m := range []any{&recoveryCode{}, &loginChallenge{}, &Session{}} {
			if err := tx.Where("user_id = ?", id).Delete(m).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reset second factor of user %d: %w", id, err)
	}
	detail := "second factor and recovery codes removed, sessions ended"
	if !had {
		detail = "no second factor was set up; any waiting set-up removed, sessions ended"
	}
	s.record(ctx, audit.Event{Action: audit.ActionTOTPReset, Target: userTarget(u), Detail: detail})
	u.TOTPSecret, u.TOTPEnabledAt, u.TOTPLastStep = "", nil, 0
	return u, nil
}

// newRecoveryCode returns 80 random bits as four groups of four base32 letters: enough
// that a plain SHA-256 of it, as stored, cannot be reversed by guessing.
func newRecoveryCode() (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	c := strings.ToLower(base32.StdEncoding.EncodeToString(b)) // 16 letters, no padding
	return c[:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:], nil
}

// sealSecret encrypts a TOTP secret with AES-256-GCM under the service's key, bound to the
// user's id, so that a copy of the database alone (a backup, a replica) does not give the
// second factors away, nor can a sealed secret be moved to another user's row. Without a
// key the secret is kept readable, marked so.
func (s *Service) sealSecret(userID uint, secret string) (string, error) {
	if s.aead == nil {
		return "plain:" + secret, nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal totp secret: %w", err)
	}
	ct := s.aead.Seal(nonce, nonce, []byte(secret), sealAD(userID))
	return "v1:" + base64.RawStdEncoding.EncodeToString(ct), nil
}

func (s *Service) openSecret(userID uint, sealed string) (string, error) {
	if v, ok := strings.CutPrefix(sealed, "plain:"); ok {
		return v, nil
	}
	v, ok := strings.CutPrefix(sealed, "v1:")
	if !ok || s.aead == nil {
		return "", fmt.Errorf("totp secret of user %d: sealed with a key this server does not have", userID)
	}
	raw, err := base64.RawStdEncoding.DecodeString(v)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", fmt.Errorf("totp secret of user %d: unreadable", userID)
	}
	pt, err := s.aead.Open(nil, raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():], sealAD(userID))
	if err != nil {
		return "", fmt.Errorf("totp secret of user %d: does not open with this server's key", userID)
	}
	return string(pt), nil
}

func sealAD(userID uint) []byte {
	return []byte("rexian totp user:" + strconv.FormatUint(uint64(userID), 10))
}

// newAEAD derives the sealing key from key material of any length (a key file's bytes);
// nil material gives nil.
func newAEAD(material []byte) cipher.AEAD {
	if len(material) == 0 {
		return nil
	}
	k := sha256.Sum256(append([]byte("rexian totp seal\x00"), material...))
	block, err := aes.NewCipher(k[:])
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // AES always makes a GCM
	}
	return gcm
}
