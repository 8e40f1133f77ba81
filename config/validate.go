package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rexian/rexian/calendar"
	"github.com/rexian/rexian/hashchain"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/pii"
)

// Validate checks every key and reports all problems at once, each naming its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}

	if strings.TrimSpace(c.DataDir) == "" {
		bad("data_dir", "must not be empty")
	}
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		bad("addr", "%q is not HOST:PORT (e.g. 127.0.0.1:8080, or :8080 for every interface)", c.Addr)
	}
	checkURL(bad, "database_url", c.DatabaseURL, false, "postgres", "postgresql", "sqlite")
	checkURL(bad, "database_read_url", c.DatabaseReadURL, true, "postgres", "postgresql")
	if live.IsSentinelURL(c.RedisURL) {
		if _, err := live.ParseSentinelURL(c.RedisURL); err != nil {
			bad("redis_url", "%s", strings.ReplaceAll(err.Error(), c.RedisURL, maskURL(c.RedisURL)))
		}
	} else {
		checkURL(bad, "redis_url", c.RedisURL, true, "redis", "rediss", "unix", "redis-sentinel", "rediss-sentinel")
	}
	checkURL(bad, "public_url", c.PublicURL, true, "http", "https")
	for _, p := range c.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				bad("trusted_proxies", "%q is not an IP address or CIDR range", p)
			}
		}
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "" {
		bad("time_zone", "%q is not a known time zone (e.g. Asia/Shanghai)", c.TimeZone)
	}

	if !slices.Contains([]string{"text", "json"}, c.Log.Format) {
		bad("log.format", "%q is not one of text, json", c.Log.Format)
	}
	if c.Log.SlowQuery <= 0 {
		bad("log.slow_query", "must be more than 0, not %s", c.Log.SlowQuery)
	}

	if !slices.Contains([]string{ClockFromDispatch, ClockFromSign}, c.Tickets.HandleClockFrom) {
		bad("tickets.handle_clock_from", "%q is not one of %s, %s", c.Tickets.HandleClockFrom, ClockFromDispatch, ClockFromSign)
	}
	if _, err := calendar.ParseWorkHours(c.Tickets.WorkHours); err != nil {
		bad("tickets.work_hours", "%v", err)
	}
	if c.Tickets.AttachmentMaxBytes <= 0 {
		bad("tickets.attachment_max_bytes", "must be more than 0, not %d", c.Tickets.AttachmentMaxBytes)
	}
	if c.Tickets.DuplicateWindowDays < 1 {
		bad("tickets.duplicate_window_days", "must be at least 1, not %d", c.Tickets.DuplicateWindowDays)
	}
	if c.IdempotencyTTL < time.Minute {
		bad("idempotency_ttl", "must be at least 1m, not %s", c.IdempotencyTTL)
	}
	if _, err := calendar.ParseLimit(c.Tickets.ExtensionMax); err != nil {
		bad("tickets.extension_max", "%v", err)
	}
	if len(c.Tickets.RefusalReasons) == 0 {
		bad("tickets.refusal_reasons", "must list at least one reason, or no ticket can be refused")
	}
	codes := map[string]bool{}
	for i, r := range c.Tickets.RefusalReasons {
		code, _, err := ParseRefusalReason(r)
		if err != nil {
			bad("tickets.refusal_reasons", "reason %d: %v", i+1, err)
			continue
		}
		if codes[code] {
			bad("tickets.refusal_reasons", "reason %d: code %q is listed twice", i+1, code)
		}
		codes[code] = true
	}

	for _, r := range c.Auth.TwoFactorRoles {
		switch r {
		case "operator", "department", "supervisor", "admin":
		default:
			bad("auth.two_factor_roles", "%q is not a role that logs in; use operator, department, supervisor or admin", r)
		}
	}
	if c.Auth.SessionTTL <= 0 {
		bad("auth.session_ttl", "must be more than 0, not %s", c.Auth.SessionTTL)
	}
	if c.Auth.IdleTimeout <= 0 {
		bad("auth.idle_timeout", "must be more than 0, not %s", c.Auth.IdleTimeout)
	} else if c.Auth.IdleTimeout > c.Auth.SessionTTL && c.Auth.SessionTTL > 0 {
		bad("auth.idle_timeout", "%s is longer than auth.session_ttl (%s), so it would never apply", c.Auth.IdleTimeout, c.Auth.SessionTTL)
	}

	if c.Audit.Retention < 24*time.Hour {
		bad("audit.retention", "must be at least 24h, not %s", c.Audit.Retention)
	}
	switch c.Audit.SyslogNetwork {
	case "udp", "tcp", "unix":
	default:
		bad("audit.syslog_network", "must be udp, tcp or unix, not %q", c.Audit.SyslogNetwork)
	}
	if _, err := hashchain.Parse(c.Audit.ChainHash); err != nil {
		bad("audit.chain_hash", "%v", err)
	}

	if c.Workers.OverdueInterval < time.Second {
		bad("workers.overdue_interval", "must be at least 1s, not %s", c.Workers.OverdueInterval)
	}
	c.SMS.validate(bad)
	c.Callback.validate(bad)
	if _, err := pii.Load(c.PersonalData.KeysFile, c.PersonalData.Keys); err != nil {
		bad("personal_data.keys", "%v", err)
	}
	if c.PersonalData.RetentionYears < 0 || c.PersonalData.RetentionYears > 100 {
		bad("personal_data.retention_years", "must be between 0 (keep) and 100, not %d", c.PersonalData.RetentionYears)
	}
	c.Dashboards.validate(bad)
	c.Mailbox.validate(bad)
	if err := c.ARI.Validate(); err != nil {
		errs = append(errs, err)
	}

	if err := c.IVR.Validate("ivr."); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkURL reports a value that is not a URL with one of schemes.
func checkURL(bad func(path, format string, args ...any), path, raw string, optional bool, schemes ...string) {
	if raw == "" {
		if !optional {
			bad(path, "must not be empty")
		}
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url's error quotes the value, password and all.
		bad(path, "%q is not a URL", maskURL(raw))
		return
	}
	if !slices.Contains(schemes, u.Scheme) {
		bad(path, "%q: scheme %q is not one of %s", maskURL(raw), u.Scheme, strings.Join(schemes, ", "))
		return
	}
	if (u.Scheme == "http" || u.Scheme == "https" || strings.HasPrefix(u.Scheme, "postgres") || strings.HasPrefix(u.Scheme, "redis")) && u.Host == "" {
		bad(path, "%q has no host", maskURL(raw))
	}
	if u.Scheme == "sqlite" && strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite:"), "//") == "" {
		bad(path, "%q has no file path (sqlite://PATH)", raw)
	}
}

// refusalCode is the stable part of a refusal reason, kept in tickets and reports.
var refusalCode = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// ParseRefusalReason splits "code=名称" into the stable code and the wording the citizen
// is told.
func ParseRefusalReason(s string) (code, name string, err error) {
	code, name, ok := strings.Cut(s, "=")
	code, name = strings.TrimSpace(code), strings.TrimSpace(name)
	if !ok || name == "" {
		return "", "", fmt.Errorf("%q is not code=wording (e.g. outside_remit=不属于本市管辖范围)", s)
	}
	if !refusalCode.MatchString(code) {
		return "", "", fmt.Errorf("%q: the code %q must be lower-case letters, digits and _", s, code)
	}
	return code, name, nil
}

// smsKinds are the outbox's message kinds, for sms.quiet_kinds.
var smsKinds = []string{"receipt", "result", "survey", "application_notice", "materials_notice", "free_text", "reply", "card_notice"}

func (s SMS) validate(bad func(path, format string, args ...any)) {
	checkURL(bad, "sms.kannel_url", s.KannelURL, true, "http", "https")
	if s.CallbackSecret != "" && len(s.CallbackSecret) < 16 {
		bad("sms.callback_secret", "must be at least 16 characters, so that it cannot be guessed")
	}
	if sig := strings.TrimSpace(s.Signature); sig != "" && (!strings.HasPrefix(sig, "【") || !strings.HasSuffix(sig, "】")) {
		bad("sms.signature", "%q must be enclosed in 【】 (e.g. 【12345市民热线】)", s.Signature)
	}
	if _, _, err := ParseQuietHours(s.QuietHours); err != nil {
		bad("sms.quiet_hours", "%v", err)
	}
	for _, k := range s.QuietKinds {
		if !slices.Contains(smsKinds, k) {
			bad("sms.quiet_kinds", "%q is not one of %s", k, strings.Join(smsKinds, ", "))
		}
	}
	if s.MaxParts < 1 || s.MaxParts > 255 {
		bad("sms.max_parts", "must be between 1 and 255, not %d", s.MaxParts)
	}
	if s.RatePerSecond <= 0 {
		bad("sms.rate_per_second", "must be more than 0, not %g", s.RatePerSecond)
	}
	if s.Concurrency < 1 {
		bad("sms.concurrency", "must be at least 1, not %d", s.Concurrency)
	}
	if s.BatchSize < 1 {
		bad("sms.batch_size", "must be at least 1, not %d", s.BatchSize)
	}
	if s.Expiry < time.Minute {
		bad("sms.expiry", "must be at least 1m, not %s", s.Expiry)
	}
	if s.Lease < time.Second {
		bad("sms.lease", "must be at least 1s, not %s", s.Lease)
	}
	if s.ReconcileGrace < 0 {
		bad("sms.reconcile_grace", "must not be negative, not %s", s.ReconcileGrace)
	}
	if s.ConversationWindow < time.Minute {
		bad("sms.conversation_window", "must be at least 1m, not %s", s.ConversationWindow)
	}
	if strings.TrimSpace(s.InboundCategory) == "" {
		bad("sms.inbound_category", "must name the category of tickets opened by an inbound SMS (e.g. ZX)")
	}
	if s.PollInterval < 10*time.Millisecond || s.PollInterval > time.Hour {
		bad("sms.poll_interval", "must be between 10ms and 1h, not %s", s.PollInterval)
	}
}

// ParseQuietHours parses "HH:MM-HH:MM" (the end may be before the start: the period wraps
// midnight) into minutes after midnight. Empty means no quiet hours: start == end == 0.
func ParseQuietHours(s string) (start, end int, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, 0, nil
	}
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not HH:MM-HH:MM (e.g. 21:00-08:00)", s)
	}
	parse := func(hm string) (int, error) {
		t, err := time.Parse("15:04", strings.TrimSpace(hm))
		if err != nil {
			return 0, fmt.Errorf("%q is not HH:MM-HH:MM (e.g. 21:00-08:00)", s)
		}
		return t.Hour()*60 + t.Minute(), nil
	}
	if start, err = parse(from); err != nil {
		return 0, 0, err
	}
	if end, err = parse(to); err != nil {
		return 0, 0, err
	}
	if start == end {
		return 0, 0, fmt.Errorf("%q starts and ends at the same time", s)
	}
	return start, end, nil
}
