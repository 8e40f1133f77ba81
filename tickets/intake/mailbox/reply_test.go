package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/intake/mailbox/mailtest"
)

var (
	operator      = &auth.Principal{UserID: 1, Name: "wang", Role: auth.RoleOperator}
	smtpPermanent = smtp.SMTPError{Code: 550, Message: "no such user"}
)

// testClock moves only when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func (f *fixture) smtpSender(t *testing.T) *SMTPSender {
	t.Helper()
	u, p := f.mail.SMTPUser()
	e, err := ParseSMTPURL(fmt.Sprintf("smtp+starttls://%s:%s@%s", url.PathEscape(u), url.PathEscape(p), f.mail.SMTPAddr))
	if err != nil {
		t.Fatal(err)
	}
	return &SMTPSender{Endpoint: e, TLS: f.mail.TLS}
}

func (f *fixture) replier(t *testing.T, s Sender, now func() time.Time) *Replier {
	t.Helper()
	r, err := NewReplier(f.db, s, ReplierOptions{From: "市长信箱 <rexian@example.test>", PublicURL: "https://12345.example.gov.cn", Now: now, Log: f.log})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func runReplier(t *testing.T, r *Replier, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := r.RunOnce(ctx)
	if err != nil {
		t.Fatalf("replier pass: %v", err)
	}
	if n != want {
		t.Fatalf("replier sent %d, want %d", n, want)
	}
}

// parsed is a reply as the citizen's mail client reads it.
type parsed struct {
	subject, inReplyTo, references, autoSubmitted, body, to string
}

func readReply(t *testing.T, raw []byte) parsed {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	var p parsed
	p.subject, _ = r.Header.Subject()
	p.inReplyTo = r.Header.Get("In-Reply-To")
	p.references = r.Header.Get("References")
	p.autoSubmitted = r.Header.Get("Auto-Submitted")
	p.to = r.Header.Get("To")
	part, err := r.NextPart()
	if err != nil {
		t.Fatalf("reply body: %v", err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(part.Body); err != nil {
		t.Fatal(err)
	}
	p.body = b.String()
	return p
}

// TestRepliesReachTheCitizen runs the whole round: a letter comes in over IMAP, its
// receipt goes out over SMTP (Exim with AUTH) and lands in the citizen's own mailbox,
// threaded under the letter; on completion the result follows. Passes repeated, and a
// restarted replier, send nothing twice.
func TestRepliesReachTheCitizen(t *testing.T) {
	f := newFixture(t)
	citizen, cpw := f.mail.NewUser(t, "citizen")
	const id = "<letter-1@example.test>"
	raw := append([]byte("References: <earlier@example.test>\r\n"), plainLetter("市民张三 <"+citizen+">", id, "路灯不亮", "东胜区某小区路灯坏了。")...)
	f.append(t, raw)
	if err := f.reader(t, f.store).RunOnce(f.ctx); err != nil {
		t.Fatal(err)
	}
	v := f.ticketOf(t, id)
	if v == nil {
		t.Fatal("no ticket")
	}

	sender := f.smtpSender(t)
	runReplier(t, f.replier(t, sender, nil), 1)
	runReplier(t, f.replier(t, sender, nil), 0) // a restarted replier finds it sent

	got := f.mail.WaitFolder(f.ctx, t, citizen, cpw, "INBOX", func(ls []mailtest.Letter) bool { return len(ls) >= 1 })
	receipt := readReply(t, got[0].Raw)
	checks := []struct{ what, got, want string }{
		{"subject", receipt.subject, "来信已受理（工单号" + v.Number + "）：路灯不亮"},
		{"In-Reply-To", receipt.inReplyTo, id},
		{"References", receipt.references, "<earlier@example.test> " + id},
		{"Auto-Submitted", receipt.autoSubmitted, "auto-replied"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("receipt %s %q, want %q", c.what, c.got, c.want)
		}
	}
	for _, s := range []string{"市民张三，您好", "工单号为 " + v.Number, "https://12345.example.gov.cn"} {
		if !strings.Contains(receipt.body, s) {
			t.Errorf("receipt body lacks %q:\n%s", s, receipt.body)
		}
	}

	if _, err := f.store.Act(f.ctx, operator, v.Number, tickets.ActAnswer, tickets.ActionRequest{Answer: "路灯已于11月24日修复。"}); err != nil {
		t.Fatalf("answer: %v", err)
	}
	runReplier(t, f.replier(t, sender, nil), 1)
	runReplier(t, f.replier(t, sender, nil), 0)
	got = f.mail.WaitFolder(f.ctx, t, citizen, cpw, "INBOX", func(ls []mailtest.Letter) bool { return len(ls) >= 2 })
	if len(got) != 2 {
		t.Fatalf("citizen has %d letters, want the receipt and the result", len(got))
	}
	result := readReply(t, got[1].Raw)
	if want := "来信办理结果（工单号" + v.Number + "）：路灯不亮"; result.subject != want {
		t.Errorf("result subject %q, want %q", result.subject, want)
	}
	if result.inReplyTo != id || !strings.Contains(result.body, "路灯已于11月24日修复。") {
		t.Errorf("result In-Reply-To %q body:\n%s", result.inReplyTo, result.body)
	}
}

// Only mailbox tickets of citizens who gave an address, are not anonymous and want an
// answer get mail.
func TestRepliesOnlyToWhoWantsThem(t *testing.T) {
	f := newFixture(t)
	no := false
	for _, nt := range []tickets.NewTicket{
		{Channel: tickets.ChannelMailbox, Citizen: tickets.NewCitizen{Email: "anon@example.test", Anonymous: true}, Content: "匿名", Category: "ZX"},
		{Channel: tickets.ChannelMailbox, Citizen: tickets.NewCitizen{Email: "quiet@example.test", WantsReply: &no}, Content: "不要回复", Category: "ZX"},
		{Channel: tickets.ChannelMailbox, Content: "没有地址", Category: "ZX"},
		{Channel: tickets.ChannelWeb, Citizen: tickets.NewCitizen{Email: "web@example.test"}, Content: "网页来的", Category: "ZX"},
	} {
		v, err := f.store.Create(f.ctx, operator, nt)
		if err != nil {
			t.Fatal(err)
		}
		if nt.Citizen.WantsReply != nil {
			// The tickets store stores wants_reply=false as true (the column's default:true
			// fills the zero value back in); set it as the citizen asked.
			if err := f.db.Model(&tickets.Ticket{}).Where("number = ?", v.Number).Update("wants_reply", false).Error; err != nil {
				t.Fatal(err)
			}
		}
	}
	s := &fakeSender{}
	runReplier(t, f.replier(t, s, nil), 0)
	if len(s.sent) != 0 {
		t.Errorf("sent %d replies", len(s.sent))
	}
}

// A reply the server refuses for now is retried later and then sent; one it refuses for
// good is given up. The clock moves; nothing sleeps.
func TestReplyRetriesAndGivesUp(t *testing.T) {
	f := newFixture(t)
	for i, email := range []string{"later@example.test", "nobody@example.test"} {
		if _, err := f.store.Create(f.ctx, operator, tickets.NewTicket{Channel: tickets.ChannelMailbox,
			Citizen: tickets.NewCitizen{Email: email}, Content: fmt.Sprintf("来信%d", i), Category: "ZX"}); err != nil {
			t.Fatal(err)
		}
	}
	clk := &testClock{t: time.Now()}
	s := &fakeSender{fail: map[string]error{
		"later@example.test":  errors.New("connection refused"),
		"nobody@example.test": fmt.Errorf("rcpt: %w", &smtpPermanent),
	}}
	r := f.replier(t, s, clk.Now)
	runReplier(t, r, 0)
	delete(s.fail, "later@example.test")
	runReplier(t, r, 0) // not due yet
	clk.Add(2 * time.Minute)
	runReplier(t, r, 1)
	clk.Add(24 * time.Hour)
	runReplier(t, r, 0)
	var states []string
	f.db.Model(&replyRecord{}).Order("recipient").Pluck("state", &states)
	if strings.Join(states, ",") != replySent+","+replyGaveUp {
		t.Errorf("reply states %v, want sent for later@, gave_up for nobody@", states)
	}
	if len(s.sent) != 1 || !strings.Contains(s.sent[0], "later@example.test") {
		t.Errorf("sent %v", s.sent)
	}
}

// A refused ticket (不予受理) tells the citizen why.
func TestRefusalIsTold(t *testing.T) {
	f := newFixture(t)
	v, err := f.store.Create(f.ctx, Actor, tickets.NewTicket{Channel: tickets.ChannelMailbox,
		Citizen: tickets.NewCitizen{Email: "refused@example.test"}, Content: "看不懂的来信", Category: "ZX"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Act(f.ctx, operator, v.Number, tickets.ActRefuse, tickets.ActionRequest{Reason: "unclear"}); err != nil {
		t.Fatal(err)
	}
	s := &fakeSender{}
	runReplier(t, f.replier(t, s, nil), 2)
	runReplier(t, f.replier(t, s, nil), 0)
	result := readReply(t, []byte(strings.SplitN(s.sent[1], " ", 2)[1]))
	if !strings.HasPrefix(result.subject, "来信不予受理告知") || !strings.Contains(result.body, "诉求内容不明确") {
		t.Errorf("refusal reply %q:\n%s", result.subject, result.body)
	}
}

// A subject with line breaks cannot add headers to the reply.
func TestReplySubjectHeaderInjection(t *testing.T) {
	r, err := NewReplier(nil, &fakeSender{}, ReplierOptions{From: "rexian@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	tk := &tickets.Ticket{Number: "2611230001", CitizenEmail: "a@example.test", CitizenName: "张\r\nBcc: x@evil.test", ExternalRef: "<a@b>\r\nBcc: y@evil.test"}
	raw, err := r.compose(tk, kindReceipt, "<receipt.1@example.test>", &letterRecord{Subject: "投诉\r\nBcc: evil@evil.test\r\n\r\nbody"})
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(head), "\r\n") {
		if strings.HasPrefix(strings.ToLower(line), "bcc:") {
			t.Fatalf("header injected: %q in\n%s", line, head)
		}
	}
	p := readReply(t, raw)
	if !strings.Contains(p.subject, "投诉 Bcc: evil@evil.test body") || strings.ContainsAny(p.subject, "\r\n") {
		t.Errorf("subject %q", p.subject)
	}
	if p.inReplyTo != "" {
		t.Errorf("In-Reply-To %q from a broken reference", p.inReplyTo)
	}
}

type fakeSender struct {
	mu   sync.Mutex
	fail map[string]error
	sent []string
}

var _ Sender = (*fakeSender)(nil)

func (s *fakeSender) Send(_ context.Context, from string, to []string, msg []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail[to[0]]; err != nil {
		return err
	}
	s.sent = append(s.sent, to[0]+" "+string(msg))
	return nil
}
