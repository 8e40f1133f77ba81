package main

import (
	"log/slog"
	"regexp"
	"strings"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/phone"
)

// Personal data and secrets must not reach the logs (PIPL; 等保 level 3). The code logs
// ids rather than values and the database logs SQL without its values; redactLog is the
// net under that: whatever string still reaches a log line (an error that quotes a phone
// number, an address in a wrapped message) has citizens' phone numbers masked as screens
// mask them, e-mail addresses reduced to their domain, and API tokens and password hashes
// removed.
var (
	// A Chinese mobile (1[3-9] and nine digits) or a landline with its area code, with no
	// digit right before or after (so that ids and ticket numbers are left alone).
	phonePattern = regexp.MustCompile(`(^|[^0-9])(1[3-9][0-9]{9}|0[1-9][0-9]{1,2}-?[0-9]{7,8})($|[^0-9])`)
	emailPattern = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@([A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+)`)
	tokenPattern = regexp.MustCompile(regexp.QuoteMeta(auth.TokenPrefix) + `[A-Za-z0-9_\-]+`)
	hashPattern  = regexp.MustCompile(`\$argon2(id|i|d)\$[^\s"',;]*`)
)

// redact returns s with the personal data and secrets above hidden.
func redact(s string) string {
	if s == "" {
		return s
	}
	s = tokenPattern.ReplaceAllString(s, auth.TokenPrefix+"***")
	s = hashPattern.ReplaceAllString(s, "[password hash]")
	s = emailPattern.ReplaceAllString(s, "***@$1")
	// Matches may share a separator ("13800000000,13900000000"), so run until stable.
	for i := 0; i < 4 && phonePattern.MatchString(s); i++ {
		s = phonePattern.ReplaceAllStringFunc(s, func(m string) string {
			sub := phonePattern.FindStringSubmatch(m)
			return sub[1] + phone.Mask(strings.ReplaceAll(sub[2], "-", "")) + sub[3]
		})
	}
	return s
}

// redactAttr is the handlers' ReplaceAttr: it runs on every attribute, the message
// included, after LogValuers are resolved.
func redactAttr(_ []string, a slog.Attr) slog.Attr {
	switch v := a.Value; v.Kind() {
	case slog.KindString:
		if r := redact(v.String()); r != v.String() {
			a.Value = slog.StringValue(r)
		}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			a.Value = slog.StringValue(redact(x.Error()))
		case interface{ String() string }:
			a.Value = slog.StringValue(redact(x.String()))
		case []byte:
			a.Value = slog.StringValue(redact(string(x)))
		case []string:
			out := make([]string, len(x))
			for i, s := range x {
				out[i] = redact(s)
			}
			a.Value = slog.AnyValue(out)
		}
	}
	return a
}
