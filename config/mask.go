package config

import (
	"net/url"
	"reflect"
	"slices"
	"strings"
)

// Mask replaces a secret value.
const Mask = "xxxxx"

// Masked returns a copy of c that is safe to print or log: fields tagged secret:"true" are
// replaced by Mask, and so are passwords and secret query parameters inside any URL-valued
// string, so that a DSN added later is masked without anyone remembering to tag it.
func (c Config) Masked() Config {
	out := c
	maskFields(reflect.ValueOf(&out).Elem(), Keys())
	return out
}

// maskFields masks the keys of the struct v in place. Slices are replaced, never written
// through, because a copied Config still shares them with the original.
func maskFields(v reflect.Value, keys []Key) {
	for _, k := range keys {
		f := v.FieldByIndex(k.index)
		switch f.Kind() {
		case reflect.String:
			f.SetString(maskString(f.String(), k.Secret))
		case reflect.Slice:
			if f.Type().Elem().Kind() != reflect.String || f.Len() == 0 {
				continue
			}
			items := make([]string, f.Len())
			for i := range items {
				items[i] = maskString(f.Index(i).String(), k.Secret)
			}
			f.Set(reflect.ValueOf(items).Convert(f.Type()))
		}
	}
}

func maskString(s string, secret bool) string {
	if secret {
		if s == "" {
			return ""
		}
		return Mask
	}
	return maskURL(s)
}

// secretParams are query parameters that carry credentials (Kannel's sendsms takes
// password=, some DSNs take password= too).
var secretParams = []string{"password", "sentinel_password", "pass", "passwd", "pwd", "secret", "token", "api_key", "apikey", "access_token"}

// maskURL hides the password and secret query parameters of a URL; anything that is not
// a URL comes back unchanged.
func maskURL(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		// Unparseable but URL-like (a list of hosts without ports, say): it may still hold
		// a password after "user:" and secret query parameters.
		scheme, rest, _ := strings.Cut(s, "://")
		rest, query, hasQuery := strings.Cut(rest, "?")
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if user, _, ok := strings.Cut(rest[:at], ":"); ok {
				rest = user + ":" + Mask + rest[at:]
			}
		}
		if hasQuery {
			if q, err := url.ParseQuery(query); err == nil && maskQuery(q) {
				query = q.Encode()
			}
			rest += "?" + query
		}
		return scheme + "://" + rest
	}
	changed := false
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Mask)
			changed = true
		}
	}
	if u.RawQuery != "" {
		if q := u.Query(); maskQuery(q) {
			u.RawQuery = q.Encode()
			changed = true
		}
	}
	if !changed {
		return s
	}
	return u.String()
}

// maskQuery masks the secret parameters of q in place and reports whether it did.
func maskQuery(q url.Values) bool {
	changed := false
	for name := range q {
		if slices.Contains(secretParams, strings.ToLower(name)) {
			q.Set(name, Mask)
			changed = true
		}
	}
	return changed
}
