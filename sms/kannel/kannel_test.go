package kannel_test

// End-to-end tests through a real Kannel (bearerbox, smsbox and the fake SMS centre) that
// kanneltest starts per test; they skip without the Kannel binaries.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/sms/kannel"
	"github.com/rexian/rexian/sms/kannel/kanneltest"
)

// statusLog remembers the status of every callback rexian answered, so a test can wait
// for Kannel's call even when it stores nothing.
type statusLog struct {
	mu      sync.Mutex
	seen    map[string]int // "path status" → count
	changed chan struct{}
}

func (l *statusLog) middleware(c *gin.Context) {
	c.Next()
	l.mu.Lock()
	l.seen[fmt.Sprintf("%s %d", c.Request.URL.Path, c.Writer.Status())]++
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *statusLog) wait(ctx context.Context, path string, status, n int) error {
	key := fmt.Sprintf("%s %d", path, status)
	for {
		l.mu.Lock()
		got, ch := l.seen[key], l.changed
		l.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d answers %q, saw %d: %w", n, key, got, ctx.Err())
		}
	}
}

// rig is rexian's side (callbacks on a real port, a Gateway) wired to a real Kannel.
type rig struct {
	kannel   *kanneltest.Kannel
	gateway  *kannel.Gateway
	receiver *recordingReceiver
	statuses *statusLog
	url      string
}

type rigOptions struct {
	moRecode bool
	moSecret string // the secret Kannel's get-url carries (default: the right one)
	password string // the sendsms password the Gateway uses (default: the right one)
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	if err := kanneltest.Installed(); err != nil {
		// Start says the same; checking first avoids starting a server for nothing.
		kanneltest.Start(t, kanneltest.Options{})
	}
	rec := newRecordingReceiver()
	statuses := &statusLog{seen: map[string]int{}, changed: make(chan struct{})}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.Use(statuses.middleware)
	kannel.NewCallbacks(rec, testSecret, slog.New(slog.DiscardHandler)).Routes(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	secret := o.moSecret
	if secret == "" {
		secret = testSecret
	}
	k := kanneltest.Start(t, kanneltest.Options{
		MOURL:    srv.URL + kannel.MOPath + "?secret=" + url.QueryEscape(secret),
		MORecode: o.moRecode,
	})
	password := o.password
	if password == "" {
		password = k.Password()
	}
	g, err := kannel.New(kannel.Config{
		URL:            k.URL(),
		User:           k.User(),
		Password:       password,
		From:           "12345",
		PublicURL:      srv.URL,
		CallbackSecret: testSecret,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("kannel.New: %v", err)
	}
	t.Cleanup(g.Close)
	return &rig{kannel: k, gateway: g, receiver: rec, statuses: statuses, url: srv.URL}
}

// split cuts text into parts of at most 67 UTF-16 units the way the outbox does for a
// long UCS-2 message (the test texts have no characters outside the BMP).
func split(messageID uint64, ref uint8, to, text string) []sms.Part {
	rs := []rune(text)
	if len(rs) <= 70 {
		return []sms.Part{{MessageID: messageID, PartID: messageID*10 + 1, To: to, Coding: sms.CodingUCS2, Text: text, Ref: ref, Seq: 1, Count: 1}}
	}
	var parts []sms.Part
	count := (len(rs) + 66) / 67
	for i := 0; i < count; i++ {
		end := min((i+1)*67, len(rs))
		parts = append(parts, sms.Part{
			MessageID: messageID, PartID: messageID*10 + uint64(i+1), To: to, Coding: sms.CodingUCS2,
			Text: string(rs[i*67 : end]), Ref: ref, Seq: i + 1, Count: count,
		})
	}
	return parts
}

// longChinese is a 150-character survey text.
var longChinese = func() string {
	s := "【12345市民热线】您好，您反映的关于小区供暖不热的问题已经办结，承办单位为市住房和城乡建设局。" +
		"请您对办理结果进行评价：回复1满意，回复2基本满意，回复3不满意。感谢您对政务服务便民热线工作的支持与理解，" +
		"如有其他诉求请拨打12345。祝您生活愉快，身体健康，万事如意，阖家幸福，新年快乐，工作顺利！"
	rs := []rune(s)
	for len(rs) < 150 {
		rs = append(rs, '。')
	}
	return string(rs[:150])
}()

func TestKannelChineseMessage(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	text := "【12345市民热线】您好，您的工单2026112600017已受理，可拨打12345查询进度。"
	part := split(7, 0, "13800138000", text)[0]
	if _, err := r.gateway.Submit(ctx, part); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	got, err := r.kannel.WaitReceived(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := got[0]
	if m.From != "12345" || m.To != "13800138000" || m.Type != "ucs-2" || m.Coding != "ucs2" || len(m.UDH) != 0 {
		t.Errorf("fake SMS centre got from %q to %q type %q coding %q UDH % x; want 12345 → 13800138000, ucs-2, no UDH", m.From, m.To, m.Type, m.Coding, m.UDH)
	}
	if m.Text != text {
		t.Errorf("text on the air = %q, want %q", m.Text, text)
	}
	// Both reports come back for the part: accepted by the SMS centre, then delivered.
	err = r.receiver.waitFor(ctx, func(r *recordingReceiver) bool { return len(r.reports) >= 2 })
	if err != nil {
		t.Fatalf("delivery reports: %v", err)
	}
	reports, _ := r.receiver.snapshot()
	states := map[sms.DeliveryState]bool{}
	for _, rep := range reports {
		if rep.MessageID != 7 || rep.PartID != part.PartID {
			t.Errorf("report for message %d part %d, want message 7 part %d", rep.MessageID, rep.PartID, part.PartID)
		}
		// The fake SMS centre gives no message id of its own (%F is empty).
		if !strings.Contains(rep.Detail, "via fake") {
			t.Errorf("report does not name the SMS centre: %+v", rep)
		}
		states[rep.State] = true
	}
	if !states[sms.DeliveryAccepted] || !states[sms.DeliveryDelivered] {
		t.Errorf("report states %v, want accepted and delivered", states)
	}
}

func TestKannelLongChineseMessage(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	parts := split(9, 0xA7, "13900139000", longChinese)
	if len(parts) != 3 {
		t.Fatalf("150 characters split into %d parts, want 3", len(parts))
	}
	for _, p := range parts {
		if _, err := r.gateway.Submit(ctx, p); err != nil {
			t.Fatalf("Submit part %d: %v", p.Seq, err)
		}
	}
	got, err := r.kannel.WaitReceived(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("fake SMS centre got %d messages, want exactly 3 (Kannel must not split the parts again)", len(got))
	}
	bySeq := map[int]string{}
	for _, m := range got {
		ref, count, seq, ok := m.Concat()
		if !ok || ref != 0xA7 || count != 3 {
			t.Errorf("part has UDH % x (ref %d count %d ok %v), want ref 167 of 3", m.UDH, ref, count, ok)
			continue
		}
		if m.Coding != "ucs2" {
			t.Errorf("part %d went out as %q, want UCS-2", seq, m.Coding)
		}
		if m.Text != parts[seq-1].Text {
			t.Errorf("part %d text = %q, want %q", seq, m.Text, parts[seq-1].Text)
		}
		bySeq[seq] = m.Text
	}
	if whole := bySeq[1] + bySeq[2] + bySeq[3]; whole != longChinese {
		t.Errorf("reassembled text = %q, want %q", whole, longChinese)
	}

	// Each part gets its own delivered report: the outbox counts the message delivered
	// once all three have one.
	err = r.receiver.waitFor(ctx, func(r *recordingReceiver) bool {
		return len(deliveredParts(r.reports, 9)) == 3
	})
	if err != nil {
		reports, _ := r.receiver.snapshot()
		t.Fatalf("delivered reports for parts %v: %v", deliveredParts(reports, 9), err)
	}
}

func deliveredParts(reports []sms.Report, messageID uint64) map[uint64]bool {
	out := map[uint64]bool{}
	for _, rep := range reports {
		if rep.MessageID == messageID && rep.State == sms.DeliveryDelivered {
			out[rep.PartID] = true
		}
	}
	return out
}

func TestKannelInbound(t *testing.T) {
	t.Parallel()
	for _, recode := range []bool{true, false} {
		t.Run(fmt.Sprintf("mo-recode %v", recode), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, rigOptions{moRecode: recode})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			sent := []struct {
				from, text string
				ucs2       bool
			}{
				{"13800138000", "满意，谢谢！", true},
				{"13800138001", "查询 2026112600017", true},
				{"13800138002", "TD", false},
				{"13800138003", "退订😀", true},
				// Bytes that look like ASCII white space inside UTF-16BE: FF0C (form feed),
				// 5F20 (space) at the very end, and the citizen's own double space.
				{"13800138004", "我是小张，地址：中山路  12号\t张", true},
				{"13800138005", "T  D", false},
			}
			for _, s := range sent {
				if err := r.kannel.Inject(ctx, s.from, "12345", s.text, s.ucs2); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.receiver.waitFor(ctx, func(r *recordingReceiver) bool { return len(r.inbound) >= len(sent) }); err != nil {
				t.Fatalf("inbound messages: %v", err)
			}
			_, got := r.receiver.snapshot()
			byFrom := map[string]sms.Inbound{}
			for _, m := range got {
				byFrom[m.From] = m
			}
			for _, s := range sent {
				m, ok := byFrom[s.from]
				if !ok {
					t.Errorf("no inbound message from %s", s.from)
					continue
				}
				if m.Text != s.text || m.To != "12345" || m.GatewayID == "" {
					t.Errorf("inbound from %s = %+v, want text %q to 12345 with Kannel's id", s.from, m, s.text)
				}
			}
		})
	}
}

func TestKannelInboundInvalidUCS2(t *testing.T) {
	t.Parallel()
	// Without mo-recode smsbox hands the phone's bytes over as they are; a lone surrogate
	// and an odd byte count must be refused, not stored half-way.
	r := newRig(t, rigOptions{moRecode: false})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.kannel.InjectUCS2Bytes(ctx, "13800138000", "12345", []byte{0xD8, 0x3D}); err != nil {
		t.Fatal(err)
	}
	if err := r.kannel.InjectUCS2Bytes(ctx, "13800138001", "12345", []byte{0x6E, 0xE1, 0x61}); err != nil {
		t.Fatal(err)
	}
	if err := r.statuses.wait(ctx, kannel.MOPath, 400, 2); err != nil {
		t.Fatal(err)
	}
	if err := r.kannel.Inject(ctx, "13800138002", "12345", "满意", true); err != nil {
		t.Fatal(err)
	}
	if err := r.receiver.waitFor(ctx, func(r *recordingReceiver) bool { return len(r.inbound) >= 1 }); err != nil {
		t.Fatal(err)
	}
	_, got := r.receiver.snapshot()
	for _, m := range got {
		if m.From != "13800138002" {
			t.Errorf("stored an inbound message with invalid UCS-2: %+v", m)
		}
	}
}

func TestKannelRetriesInboundWhenNotStored(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{moRecode: true})
	r.receiver.mu.Lock()
	r.receiver.failNext = 1
	r.receiver.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.kannel.Inject(ctx, "13800138000", "12345", "不满意", true); err != nil {
		t.Fatal(err)
	}
	if err := r.statuses.wait(ctx, kannel.MOPath, 503, 1); err != nil {
		t.Fatal(err)
	}
	// smsbox tries again (http-request-retry) and the second call is stored.
	if err := r.receiver.waitFor(ctx, func(r *recordingReceiver) bool { return len(r.inbound) == 1 }); err != nil {
		t.Fatal(err)
	}
	if _, got := r.receiver.snapshot(); got[0].Text != "不满意" {
		t.Errorf("stored %+v, want 不满意", got[0])
	}
}

func TestKannelWrongSecret(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{moSecret: "not-the-secret"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.kannel.Inject(ctx, "13800138000", "12345", "满意", true); err != nil {
		t.Fatal(err)
	}
	if err := r.statuses.wait(ctx, kannel.MOPath, 403, 1); err != nil {
		t.Fatal(err)
	}
	if _, got := r.receiver.snapshot(); len(got) != 0 {
		t.Errorf("stored %d inbound messages from a caller with the wrong secret", len(got))
	}
}

func TestKannelSubmitFailures(t *testing.T) {
	t.Parallel()
	part := split(3, 0, "13800138000", "您好")[0]

	t.Run("wrong password is a rejection", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, rigOptions{password: "wrong"})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := r.gateway.Submit(ctx, part)
		if !errors.Is(err, sms.ErrRejected) || !strings.Contains(err.Error(), "Authorization failed") {
			t.Fatalf("Submit error = %v, want ErrRejected with Kannel's words", err)
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Errorf("error shows the password: %v", err)
		}
	})

	t.Run("smsbox down is temporary", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, rigOptions{})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := r.gateway.Submit(ctx, part); err != nil {
			t.Fatalf("Submit while smsbox is up: %v", err)
		}
		if err := r.kannel.StopSmsbox(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := r.gateway.Submit(ctx, part)
		if err == nil || errors.Is(err, sms.ErrRejected) {
			t.Fatalf("Submit with smsbox down: error = %v, want a temporary error", err)
		}
	})
}
