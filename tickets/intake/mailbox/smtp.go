package mailbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPSender submits letters to the configured SMTP server: implicit TLS (smtps://),
// STARTTLS (smtp+starttls://) or plain on loopback (smtp://), authenticating with SASL
// PLAIN or LOGIN as the server offers. One connection per letter: replies are few, and a
// fresh connection never inherits a half-broken one's state.
type SMTPSender struct {
	Endpoint Endpoint
	// TLS, when set, replaces the system's roots (tests trust their own certificate).
	TLS *tls.Config
	// LocalName is the name given in EHLO; "localhost" when empty.
	LocalName string
}

var _ Sender = (*SMTPSender)(nil)

// Send submits msg from from to the recipients.
func (s *SMTPSender) Send(ctx context.Context, from string, to []string, msg []byte) error {
	e := s.Endpoint
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	c, err := s.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, to, bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("send to %v via %s: %w", to, e.Addr, err)
	}
	// The server accepted the letter at the end of DATA; a failed QUIT loses nothing.
	_ = c.Quit()
	return nil
}

// Check connects and logs in as Send would, and sends nothing (rexian doctor).
func (s *SMTPSender) Check(ctx context.Context) error {
	c, err := s.open(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.Quit()
	return nil
}

// open connects, secures the connection as the endpoint says, greets and logs in.
func (s *SMTPSender) open(ctx context.Context) (*smtp.Client, error) {
	e := s.Endpoint
	d := &net.Dialer{Timeout: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", e.Addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	var c *smtp.Client
	switch e.Security {
	case ImplicitTLS:
		tc := tls.Client(conn, e.tlsConfig(s.TLS))
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS with %s: %w", e.Addr, err)
		}
		c = smtp.NewClient(tc)
	case StartTLS:
		c, err = smtp.NewClientStartTLS(conn, e.tlsConfig(s.TLS))
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("STARTTLS with %s: %w", e.Addr, err)
		}
	default:
		c = smtp.NewClient(conn)
	}
	fail := func(err error) (*smtp.Client, error) {
		stop()
		c.Close()
		return nil, err
	}
	if s.LocalName != "" {
		if err := c.Hello(s.LocalName); err != nil {
			return fail(fmt.Errorf("EHLO to %s: %w", e.Addr, err))
		}
	}
	if e.User != "" {
		var auth sasl.Client
		switch {
		case c.SupportsAuth(sasl.Plain):
			auth = sasl.NewPlainClient("", e.User, e.Password)
		case c.SupportsAuth(sasl.Login):
			auth = sasl.NewLoginClient(e.User, e.Password)
		default:
			return fail(fmt.Errorf("log in to %s as %s: the server offers neither AUTH PLAIN nor AUTH LOGIN", e.Addr, e.User))
		}
		if err := c.Auth(auth); err != nil {
			return fail(fmt.Errorf("log in to %s as %s: %w", e.Addr, e.User, err))
		}
	}
	return c, nil
}
