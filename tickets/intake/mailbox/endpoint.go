package mailbox

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Security is how a connection is protected.
type Security string

const (
	ImplicitTLS Security = "tls"      // imaps://, smtps://
	StartTLS    Security = "starttls" // imap+starttls://, smtp+starttls://
	Plain       Security = "plain"    // imap://, smtp://: loopback only
)

// Endpoint is a mail server as configured by a URL such as
// imaps://user:pass@host:993/INBOX or smtp+starttls://user:pass@host:587.
type Endpoint struct {
	Addr     string // host:port
	Host     string
	Security Security
	User     string
	Password string
	Folder   string // IMAP only: the folder letters arrive in, INBOX by default
}

// ParseIMAPURL reads mailbox.imap_url.
func ParseIMAPURL(raw string) (Endpoint, error) {
	return parseEndpoint(raw, map[string]schemeInfo{
		"imaps":          {ImplicitTLS, "993"},
		"imap+starttls":  {StartTLS, "143"},
		"imap+tls":       {StartTLS, "143"},
		"imap":           {Plain, "143"},
		"imap+plaintext": {Plain, "143"},
	})
}

// ParseSMTPURL reads mailbox.smtp_url.
func ParseSMTPURL(raw string) (Endpoint, error) {
	return parseEndpoint(raw, map[string]schemeInfo{
		"smtps":         {ImplicitTLS, "465"},
		"smtp+starttls": {StartTLS, "587"},
		"submission":    {StartTLS, "587"},
		"smtp":          {Plain, "25"},
	})
}

type schemeInfo struct {
	sec  Security
	port string
}

func parseEndpoint(raw string, schemes map[string]schemeInfo) (Endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's error repeats the value, password and all.
		return Endpoint{}, fmt.Errorf("not a URL")
	}
	info, ok := schemes[strings.ToLower(u.Scheme)]
	if !ok {
		var names []string
		for k := range schemes {
			names = append(names, k+"://")
		}
		return Endpoint{}, fmt.Errorf("scheme %q is not one of %s", u.Scheme, strings.Join(names, ", "))
	}
	host := u.Hostname()
	if host == "" {
		return Endpoint{}, fmt.Errorf("no host")
	}
	port := u.Port()
	if port == "" {
		port = info.port
	}
	e := Endpoint{Addr: net.JoinHostPort(host, port), Host: host, Security: info.sec, Folder: "INBOX"}
	if u.User != nil {
		e.User = u.User.Username()
		e.Password, _ = u.User.Password()
	}
	if e.User == "" {
		return Endpoint{}, fmt.Errorf("no user name (scheme://user:password@host)")
	}
	if f := strings.Trim(u.Path, "/"); f != "" {
		e.Folder = f
	}
	if e.Security == Plain && !loopback(host) {
		// Passwords and citizens' letters never cross a network in clear text.
		return Endpoint{}, fmt.Errorf("%s:// without TLS is allowed only to a loopback address, not %q; use TLS or STARTTLS", u.Scheme, host)
	}
	return e, nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tlsConfig returns the TLS configuration for e: base (tests pass their own roots) with
// the server name set.
func (e Endpoint) tlsConfig(base *tls.Config) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if base != nil {
		c = base.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = e.Host
	}
	return c
}
