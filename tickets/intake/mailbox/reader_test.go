package mailbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/intake/mailbox/mailtest"
)

// TestReaderTurnsLettersIntoTickets appends every kind of letter to a real Dovecot inbox,
// runs one pass, and checks each letter's ticket and the folder it ended in.
func TestReaderTurnsLettersIntoTickets(t *testing.T) {
	f := newFixture(t)
	const from = "张三 <zhangsan@example.test>"
	type want struct {
		folder      string
		ticket      bool
		title       string
		content     []string // substrings
		notContent  []string
		note        []string
		attachments []string
	}
	letters := []struct {
		name string
		id   string
		raw  []byte
		want want
	}{
		{"plain", "<plain@example.test>", plainLetter(from, "<plain@example.test>", "小区路灯不亮", "东胜区某小区路灯已坏一周，请尽快维修。"),
			want{folder: "Processed", ticket: true, title: "小区路灯不亮", content: []string{"路灯已坏一周"}, note: []string{"zhangsan@example.test"}}},
		{"html", "<html@example.test>", htmlLetter(from, "<html@example.test>", "噪音", `<p>夜间施工&amp;噪音</p><script>alert(1)</script>`),
			want{folder: "Processed", ticket: true, content: []string{"夜间施工&噪音"}, notContent: []string{"alert", "<p>"}}},
		{"alternative", "<alt@example.test>", alternativeLetter(from, "<alt@example.test>", "两种格式", "纯文本版本", "<p>HTML版本</p>"),
			want{folder: "Processed", ticket: true, content: []string{"纯文本版本"}, notContent: []string{"HTML版本"}}},
		{"attachments", "<att@example.test>", attachmentsLetter(from, "<att@example.test>", "附件", "见附件照片和材料"),
			want{folder: "Processed", ticket: true, attachments: []string{"image/png 现场.png", "application/pdf 材料.pdf"}, note: []string{"setup.exe（文件类型不受理）"}}},
		{"gbk", "<gbk@example.test>", gbkLetter(from, "<gbk@example.test>", "供暖不热", "室温只有十二度。", "GBK"),
			want{folder: "Processed", ticket: true, title: "供暖不热", content: []string{"室温只有十二度。"}}},
		{"gb2312", "<gb2312@example.test>", gbkLetter(from, "<gb2312@example.test>", "道路积水", "雨后积水严重。", "GB2312"),
			want{folder: "Processed", ticket: true, title: "道路积水", content: []string{"雨后积水严重。"}}},
		{"broken", "<broken@example.test>", badBase64Letter(from, "<broken@example.test>"),
			want{folder: "Failed", ticket: true, content: []string{"前半段可以读"}, note: []string{"邮件格式有误"}}},
		{"auto-reply", "<auto@example.org>", autoReply("<auto@example.org>"), want{folder: "Ignored"}},
		{"bounce", "<bounce@example.org>", bounce("<bounce@example.org>"), want{folder: "Ignored"}},
		{"list", "<list@example.org>", listMessage("<list@example.org>"), want{folder: "Ignored"}},
		{"huge", "<huge@example.test>", hugeLetter(from, "<huge@example.test>", 200<<10),
			want{folder: "Failed", ticket: true, title: "很大的信", content: []string{"超过64KB的上限"}, notContent: []string{"很长的来信"}, note: []string{"来信过大"}}},
	}
	for _, l := range letters {
		f.append(t, l.raw)
	}
	r := f.reader(t, f.store, func(o *ReaderOptions) { o.MaxLetterBytes = 64 << 10 })
	if err := r.RunOnce(f.ctx); err != nil {
		t.Fatalf("pass: %v", err)
	}
	if got := r.Processed(); got != int64(len(letters)) {
		t.Errorf("processed %d letters, want %d", got, len(letters))
	}
	folders := map[string][]mailtest.Letter{}
	for _, name := range []string{"INBOX", "Processed", "Failed", "Ignored"} {
		folders[name] = f.mail.Folder(t, f.box, f.pw, name)
	}
	if n := len(folders["INBOX"]); n != 0 {
		t.Errorf("INBOX still holds %d letters", n)
	}
	for _, l := range letters {
		t.Run(l.name, func(t *testing.T) {
			in := ""
			for name, ls := range folders {
				for _, x := range ls {
					if bytes.Contains(x.Raw, []byte("Message-ID: "+l.id)) {
						in = name
						if name != "INBOX" && !slices.Contains(x.Flags, imap.FlagSeen) {
							t.Errorf("letter in %s is not flagged \\Seen", name)
						}
					}
				}
			}
			if in != l.want.folder {
				t.Errorf("letter is in %q, want %q", in, l.want.folder)
			}
			v := f.ticketOf(t, l.id)
			if (v != nil) != l.want.ticket {
				t.Fatalf("ticket %v, want one: %v", v != nil, l.want.ticket)
			}
			if v == nil {
				return
			}
			if v.Channel != tickets.ChannelMailbox || v.Citizen.Email != "zhangsan@example.test" || v.Citizen.Name != "张三" {
				t.Errorf("ticket channel %s citizen %+v", v.Channel, v.Citizen)
			}
			if l.want.title != "" && v.Title != l.want.title {
				t.Errorf("title %q, want %q", v.Title, l.want.title)
			}
			for _, s := range l.want.content {
				if !strings.Contains(v.Content, s) {
					t.Errorf("content %q lacks %q", v.Content, s)
				}
			}
			for _, s := range l.want.notContent {
				if strings.Contains(v.Content, s) {
					t.Errorf("content %q holds %q", v.Content, s)
				}
			}
			note := ""
			if len(v.Timeline) > 0 {
				note = v.Timeline[0].Note
				if v.Timeline[0].Actor != "operator:mailbox" {
					t.Errorf("registered by %q", v.Timeline[0].Actor)
				}
			}
			for _, s := range l.want.note {
				if !strings.Contains(note, s) {
					t.Errorf("note %q lacks %q", note, s)
				}
			}
			var atts []string
			for _, a := range v.Attachments {
				atts = append(atts, a.ContentType+" "+a.FileName)
			}
			if !slices.Equal(atts, l.want.attachments) {
				t.Errorf("attachments %v, want %v", atts, l.want.attachments)
			}
		})
	}

	// A second pass finds nothing to do and changes nothing.
	if err := f.reader(t, f.store).RunOnce(f.ctx); err != nil {
		t.Fatalf("second pass: %v", err)
	}
	var n int64
	f.db.Model(&tickets.Ticket{}).Count(&n)
	if want := 8; n != int64(want) {
		t.Errorf("%d tickets after two passes, want %d", n, want)
	}
}

// The same Message-ID twice — a resent letter, or a copy delivered twice — is one ticket.
func TestDuplicateMessageIDMakesOneTicket(t *testing.T) {
	f := newFixture(t)
	raw := plainLetter("李四 <lisi@example.test>", "<dup@example.test>", "重复", "同一封信")
	f.append(t, raw)
	f.append(t, raw)
	if err := f.reader(t, f.store).RunOnce(f.ctx); err != nil {
		t.Fatal(err)
	}
	if v := f.ticketOf(t, "<dup@example.test>"); v == nil {
		t.Fatal("no ticket")
	}
	if got := f.mail.Folder(t, f.box, f.pw, "Processed"); len(got) != 2 {
		t.Errorf("Processed holds %d letters, want both copies", len(got))
	}
}

// Two intakes racing for one letter (two rexian instances) make one ticket.
func TestConcurrentIntakesMakeOneTicket(t *testing.T) {
	f := newFixture(t)
	raw := plainLetter("王五 <wangwu@example.test>", "<race@example.test>", "并发", "两个实例同时读到")
	var wg sync.WaitGroup
	results := make([]Result, 4)
	errs := make([]error, 4)
	for i := range results {
		in := NewIntake(f.store, IntakeOptions{Category: "ZX", Log: f.log})
		wg.Go(func() {
			results[i], errs[i] = in.Accept(f.ctx, Incoming{UID: uint32(i + 1), Raw: raw, Size: int64(len(raw))})
		})
	}
	wg.Wait()
	ok := 0
	for i := range results {
		if errs[i] == nil {
			ok++
			continue
		}
		if !strings.Contains(errs[i].Error(), errBusy.Error()) && !strings.Contains(errs[i].Error(), "database is locked") {
			t.Errorf("intake %d: %v", i, errs[i])
		}
	}
	if ok == 0 {
		t.Fatal("no intake succeeded")
	}
	if f.ticketOf(t, "<race@example.test>") == nil {
		t.Fatal("no ticket")
	}
}

// With the database down the letter stays in INBOX, neither flagged nor moved; the next
// pass, with the database back, registers it.
func TestDatabaseDownLeavesLetterInInbox(t *testing.T) {
	f := newFixture(t)
	f.append(t, plainLetter("赵六 <zhaoliu@example.test>", "<down@example.test>", "数据库停机", "这封信不能丢"))

	down := dbtest.OpenURL(t, f.env.URL)
	if err := database.Close(down); err != nil {
		t.Fatal(err)
	}
	failing := f.reader(t, f.env.NewStore(down))
	if err := failing.RunOnce(f.ctx); err != nil {
		t.Fatalf("pass with the database down: %v", err)
	}
	if !failing.LastPoll().IsZero() {
		t.Error("a pass that left the letter behind counts as a poll (the mailbox-not-polled alert would stay quiet)")
	}
	inbox := f.mail.Folder(t, f.box, f.pw, "INBOX")
	if len(inbox) != 1 {
		t.Fatalf("INBOX holds %d letters, want the one", len(inbox))
	}
	if slices.Contains(inbox[0].Flags, imap.FlagSeen) {
		t.Error("letter flagged \\Seen though no ticket was committed")
	}
	if f.ticketOf(t, "<down@example.test>") != nil {
		t.Fatal("ticket made with the database down")
	}

	before := time.Now().Truncate(time.Second)
	working := f.reader(t, f.store)
	if err := working.RunOnce(f.ctx); err != nil {
		t.Fatalf("pass with the database back: %v", err)
	}
	if at := working.LastPoll(); at.Before(before) || at.After(time.Now()) {
		t.Errorf("LastPoll after a complete pass = %v, want about now", at)
	}
	if f.ticketOf(t, "<down@example.test>") == nil {
		t.Fatal("no ticket after the database came back")
	}
	if got := f.mail.Folder(t, f.box, f.pw, "Processed"); len(got) != 1 {
		t.Errorf("Processed holds %d letters, want 1", len(got))
	}
}

// A misconfigured category is the configuration's fault, not the letter's: the letter
// stays in INBOX.
func TestUnknownCategoryLeavesLetterInInbox(t *testing.T) {
	f := newFixture(t)
	f.category = "NOPE"
	f.append(t, plainLetter("a <a@example.test>", "<cat@example.test>", "类别", "正文"))
	if err := f.reader(t, f.store).RunOnce(f.ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.mail.Folder(t, f.box, f.pw, "INBOX"); len(got) != 1 {
		t.Errorf("INBOX holds %d letters, want 1", len(got))
	}
}

// The reader connects over implicit TLS and STARTTLS, and refuses a wrong password.
func TestReaderSecurity(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name    string
		url     string
		wantErr string
	}{
		{"imaps", fmt.Sprintf("imaps://%s:%s@%s", f.box, f.pw, f.mail.IMAPSAddr), ""},
		{"starttls", fmt.Sprintf("imap+starttls://%s:%s@%s/INBOX", f.box, f.pw, f.mail.IMAPAddr), ""},
		{"wrong password", fmt.Sprintf("imaps://%s:wrong@%s", f.box, f.mail.IMAPSAddr), "log in"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("<sec%d@example.test>", i)
			f.append(t, plainLetter("a <a@example.test>", id, "安全连接", "正文"))
			e, err := ParseIMAPURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			r := f.reader(t, f.store, func(o *ReaderOptions) { o.Endpoint = e })
			err = r.RunOnce(f.ctx)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				// Leave the inbox empty for the next case.
				if err := f.reader(t, f.store).RunOnce(f.ctx); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.ticketOf(t, id) == nil {
				t.Fatal("no ticket")
			}
		})
	}
}

// Run waits with IDLE and takes a letter as soon as it arrives.
func TestReaderIdle(t *testing.T) {
	f := newFixture(t)
	r := f.reader(t, f.store, func(o *ReaderOptions) { o.PollInterval = time.Hour })
	runAndWait(t, f, r, func() {
		for i := range 2 {
			id := fmt.Sprintf("<idle%d@example.test>", i)
			f.append(t, plainLetter("a <a@example.test>", id, "即时", "正文"))
			waitFor(t, f.ctx, "ticket of "+id, func() bool { return f.ticketOf(t, id) != nil })
		}
	})
}

// A server without MOVE (nor IDLE) gets COPY, STORE \Deleted and EXPUNGE, and polling.
func TestReaderWithoutMoveOrIdle(t *testing.T) {
	servers(t)
	s, err := mailtest.Start(mailtest.Options{IMAPCapability: "IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE SORT UIDPLUS AUTH=PLAIN"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	f := newFixture(t)
	f.mail = s
	f.box, f.pw = s.NewUser(t, "old")
	r := f.reader(t, f.store, func(o *ReaderOptions) { o.PollInterval = 50 * time.Millisecond })
	runAndWait(t, f, r, func() {
		f.append(t, plainLetter("a <a@example.test>", "<nomove@example.test>", "旧服务器", "正文"))
		waitFor(t, f.ctx, "letter moved", func() bool { return len(f.mail.Folder(t, f.box, f.pw, "Processed")) == 1 })
	})
	if got := f.mail.Folder(t, f.box, f.pw, "INBOX"); len(got) != 0 {
		t.Errorf("INBOX holds %d letters after the fallback move", len(got))
	}
	if f.ticketOf(t, "<nomove@example.test>") == nil {
		t.Error("no ticket")
	}
}

// runAndWait runs r until body returns, then stops it and waits for it to end.
func runAndWait(t *testing.T, f *fixture, r *Reader, body func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not stop")
		}
	}()
	body()
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not before the deadline", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestParseEndpoints(t *testing.T) {
	tests := []struct {
		raw     string
		want    Endpoint
		wantErr string
	}{
		{raw: "imaps://u%40x.cn:p%40ss@imap.x.cn/INBOX", want: Endpoint{Addr: "imap.x.cn:993", Host: "imap.x.cn", Security: ImplicitTLS, User: "u@x.cn", Password: "p@ss", Folder: "INBOX"}},
		{raw: "imap+starttls://u:p@imap.x.cn:1143/市长信箱", want: Endpoint{Addr: "imap.x.cn:1143", Host: "imap.x.cn", Security: StartTLS, User: "u", Password: "p", Folder: "市长信箱"}},
		{raw: "imap://u:p@127.0.0.1:1143", want: Endpoint{Addr: "127.0.0.1:1143", Host: "127.0.0.1", Security: Plain, User: "u", Password: "p", Folder: "INBOX"}},
		{raw: "imap://u:p@imap.x.cn", wantErr: "only to a loopback address"},
		{raw: "pop3://u:p@x.cn", wantErr: "scheme"},
		{raw: "imaps://imap.x.cn", wantErr: "no user name"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := ParseIMAPURL(tt.raw)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), ":p@") {
					t.Errorf("error %q repeats the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	smtp := []struct {
		raw  string
		want Security
		err  bool
	}{
		{"smtps://u:p@smtp.x.cn", ImplicitTLS, false},
		{"smtp+starttls://u:p@smtp.x.cn:587", StartTLS, false},
		{"smtp://u:p@localhost:25", Plain, false},
		{"smtp://u:p@smtp.x.cn", "", true},
	}
	for _, tt := range smtp {
		got, err := ParseSMTPURL(tt.raw)
		if (err != nil) != tt.err || (err == nil && got.Security != tt.want) {
			t.Errorf("ParseSMTPURL(%s) = %+v, %v", tt.raw, got, err)
		}
	}
}

// A reader that died after registering the ticket but before recording it leaves a claim;
// while the claim is fresh others keep off, and once its lease is over the next reader
// adopts the ticket instead of making a second one, and attaches the files.
func TestStaleClaimAdoptsTheTicket(t *testing.T) {
	f := newFixture(t)
	const id = "<crash@example.test>"
	raw := attachmentsLetter("张三 <zhangsan@example.test>", id, "崩溃", "写到一半")
	v, err := f.store.Create(f.ctx, Actor, tickets.NewTicket{Channel: tickets.ChannelMailbox, Content: "写到一半", Category: "ZX", Ref: id})
	if err != nil {
		t.Fatal(err)
	}
	claimed := time.Now().UTC()
	rec := &letterRecord{MessageID: id, State: stateClaimed, ClaimedBy: "dead-reader", ClaimedAt: claimed, CreatedAt: claimed, UpdatedAt: claimed}
	if err := f.db.Create(rec).Error; err != nil {
		t.Fatal(err)
	}
	in := Incoming{UID: 1, Raw: raw, Size: int64(len(raw))}
	if _, err := NewIntake(f.store, IntakeOptions{Category: "ZX", Log: f.log}).Accept(f.ctx, in); err == nil || !strings.Contains(err.Error(), errBusy.Error()) {
		t.Fatalf("fresh claim: err %v, want busy", err)
	}
	later := func() time.Time { return claimed.Add(time.Hour) }
	res, err := NewIntake(f.store, IntakeOptions{Category: "ZX", Log: f.log, Now: later}).Accept(f.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ticket != v.Number {
		t.Errorf("adopted %q, want the dead reader's %s", res.Ticket, v.Number)
	}
	got := f.ticketOf(t, id) // fails on a second ticket
	if len(got.Attachments) != 2 {
		t.Errorf("%d attachments, want 2", len(got.Attachments))
	}
}

// When the connection drops, Run reconnects (after a short backoff) and goes on reading.
func TestReaderReconnects(t *testing.T) {
	f := newFixture(t)
	p := newDropProxy(t, f.mail.IMAPAddr)
	e, err := ParseIMAPURL(fmt.Sprintf("imap://%s:%s@%s/INBOX", f.box, f.pw, p.addr()))
	if err != nil {
		t.Fatal(err)
	}
	r := f.reader(t, f.store, func(o *ReaderOptions) { o.Endpoint = e; o.PollInterval = time.Hour })
	runAndWait(t, f, r, func() {
		f.append(t, plainLetter("a <a@example.test>", "<before@example.test>", "断线前", "正文"))
		waitFor(t, f.ctx, "first ticket", func() bool { return f.ticketOf(t, "<before@example.test>") != nil })
		p.drop()
		f.append(t, plainLetter("a <a@example.test>", "<after@example.test>", "断线后", "正文"))
		waitFor(t, f.ctx, "ticket after the reconnection", func() bool { return f.ticketOf(t, "<after@example.test>") != nil })
	})
	if p.accepted() < 2 {
		t.Errorf("%d connections, want a second one after the drop", p.accepted())
	}
}

// dropProxy forwards TCP connections to a server and can cut them all at once.
type dropProxy struct {
	t     *testing.T
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	n     int
}

func newDropProxy(t *testing.T, target string) *dropProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{t: t, ln: ln}
	t.Cleanup(func() { ln.Close(); p.drop() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.n++
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *dropProxy) addr() string { return p.ln.Addr().String() }

func (p *dropProxy) accepted() int { p.mu.Lock(); defer p.mu.Unlock(); return p.n }

func (p *dropProxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
