package mailtest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/rexian/rexian/database/dbtest"
)

// TestServers checks the helper itself: a letter appended over IMAP is there, and a
// letter submitted over SMTP with AUTH lands in the recipient's INBOX.
func TestServers(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		dbtest.Unavailable(t, "Dovecot and Exim", HowToStart, err)
	}
	t.Cleanup(s.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)

	addr, pw := s.NewUser(t, "box")
	s.Append(t, addr, pw, "INBOX", []byte("Subject: hi\r\nMessage-ID: <a@x>\r\n\r\nhello\r\n"))
	if got := s.Folder(t, addr, pw, "INBOX"); len(got) != 1 || !bytes.Contains(got[0].Raw, []byte("hello")) {
		t.Fatalf("INBOX after append: %+v", got)
	}

	c, err := smtp.DialStartTLS(s.SMTPAddr, s.TLS)
	if err != nil {
		t.Fatalf("smtp dial: %v\n%s", err, s.Logs())
	}
	defer c.Close()
	u, p := s.SMTPUser()
	if err := c.Auth(sasl.NewPlainClient("", u, p)); err != nil {
		t.Fatalf("smtp auth: %v\n%s", err, s.Logs())
	}
	if err := c.SendMail(u, []string{addr}, strings.NewReader("Subject: reply\r\n\r\nanswer\r\n")); err != nil {
		t.Fatalf("send: %v\n%s", err, s.Logs())
	}
	s.WaitFolder(ctx, t, addr, pw, "INBOX", func(ls []Letter) bool { return len(ls) == 2 })
}
