package kannel_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/sms/kannel"
)

// fakeSmsbox answers sendsms with a fixed status and body and keeps the queries it got.
type fakeSmsbox struct {
	mu      sync.Mutex
	queries []url.Values
	status  int
	body    string
	block   chan struct{} // when set, requests wait for it to close
}

func (f *fakeSmsbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/cgi-bin/sendsms" || r.Method != http.MethodGet {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	f.mu.Lock()
	f.queries = append(f.queries, r.URL.Query())
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-r.Context().Done():
			return
		}
	}
	w.WriteHeader(f.status)
	w.Write([]byte(f.body))
}

func newGateway(t *testing.T, smsboxURL string) *kannel.Gateway {
	t.Helper()
	g, err := kannel.New(kannel.Config{
		URL:            smsboxURL,
		User:           "rexian",
		Password:       "pa ss&word",
		From:           "12345",
		PublicURL:      "http://rexian.test:8080/",
		CallbackSecret: testSecret,
	}, nil)
	if err != nil {
		t.Fatalf("kannel.New: %v", err)
	}
	t.Cleanup(g.Close)
	return g
}

func TestSubmitQuery(t *testing.T) {
	chinese67 := strings.Repeat("热", 67)
	tests := []struct {
		name string
		part sms.Part
		want url.Values
	}{
		{
			name: "one Chinese message, no header",
			part: sms.Part{MessageID: 41, PartID: 7, To: "13800138000", Coding: sms.CodingUCS2, Text: "您好，您的工单已受理", Ref: 9, Seq: 1, Count: 1},
			want: url.Values{"text": {"您好，您的工单已受理"}, "coding": {"2"}},
		},
		{
			name: "second of three parts carries the concatenation header",
			part: sms.Part{MessageID: 41, PartID: 8, To: "13800138000", Coding: sms.CodingUCS2, Text: chinese67, Ref: 200, Seq: 2, Count: 3},
			want: url.Values{"text": {chinese67}, "coding": {"2"}, "udh": {"\x05\x00\x03\xc8\x03\x02"}},
		},
		{
			name: "GSM text",
			part: sms.Part{MessageID: 5, PartID: 6, To: "13800138000", Coding: sms.CodingGSM7, Text: "TD to stop {1}", Seq: 1, Count: 1},
			want: url.Values{"text": {"TD to stop {1}"}, "coding": {"0"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			box := &fakeSmsbox{status: http.StatusAccepted, body: "0: Accepted for delivery"}
			srv := httptest.NewServer(box)
			t.Cleanup(srv.Close)
			g := newGateway(t, srv.URL)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := g.Submit(ctx, tt.part); err != nil {
				t.Fatalf("Submit: %v", err)
			}
			if len(box.queries) != 1 {
				t.Fatalf("smsbox got %d requests, want 1", len(box.queries))
			}
			q := box.queries[0]
			want := url.Values{
				"username": {"rexian"},
				"password": {"pa ss&word"},
				"from":     {"12345"},
				"to":       {tt.part.To},
				"charset":  {"UTF-8"},
				"dlr-mask": {"31"},
				"dlr-url": {"http://rexian.test:8080/sms/kannel/dlr?msg=" + itoa(tt.part.MessageID) + "&part=" + itoa(tt.part.PartID) +
					"&sig=" + kannel.Sign([]byte(testSecret), tt.part.MessageID, tt.part.PartID) +
					"&type=%d&smsc=%i&reply=%A&ts=%t&fid=%F"},
			}
			for k, v := range tt.want {
				want[k] = v
			}
			if diff := cmp.Diff(want, q); diff != "" {
				t.Errorf("sendsms query (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSubmitAnswers(t *testing.T) {
	part := sms.Part{MessageID: 1, PartID: 1, To: "13800138000", Coding: sms.CodingUCS2, Text: "您好", Seq: 1, Count: 1}
	tests := []struct {
		name         string
		status       int
		body         string
		wantErr      bool
		wantRejected bool
		wantInErr    string
	}{
		{name: "accepted", status: 202, body: "0: Accepted for delivery"},
		{name: "queued for later", status: 202, body: "3: Queued for later delivery"},
		{name: "wrong password", status: 403, body: "Authorization failed for sendsms", wantErr: true, wantRejected: true, wantInErr: "Authorization failed for sendsms"},
		{name: "bad request", status: 400, body: "Sender missing and no global set, rejected", wantErr: true, wantRejected: true, wantInErr: "Sender missing"},
		{name: "queue full", status: 503, body: "Temporal failure, try again later.", wantErr: true, wantInErr: "Temporal failure"},
		{name: "server error", status: 500, body: "oops", wantErr: true, wantInErr: "500"},
		{name: "too many requests is temporary", status: 429, body: "slow down", wantErr: true, wantInErr: "429"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(&fakeSmsbox{status: tt.status, body: tt.body})
			t.Cleanup(srv.Close)
			g := newGateway(t, srv.URL)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := g.Submit(ctx, part)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Submit error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			if got := errors.Is(err, sms.ErrRejected); got != tt.wantRejected {
				t.Errorf("errors.Is(err, ErrRejected) = %v, want %v (err %v)", got, tt.wantRejected, err)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantInErr)
			}
			if strings.Contains(err.Error(), "pa ss") || strings.Contains(err.Error(), "pa+ss") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestSubmitRefusesPartsKannelWouldSplit(t *testing.T) {
	box := &fakeSmsbox{status: 202, body: "0: Accepted for delivery"}
	srv := httptest.NewServer(box)
	t.Cleanup(srv.Close)
	g := newGateway(t, srv.URL)
	// part returns a valid part changed by edit.
	part := func(edit func(*sms.Part)) sms.Part {
		p := sms.Part{MessageID: 3, PartID: 4, To: "13800138000", Coding: sms.CodingUCS2, Text: "热", Seq: 1, Count: 1}
		edit(&p)
		return p
	}
	tests := []struct {
		name string
		part sms.Part
		want string
	}{
		{"71 Chinese characters alone", part(func(p *sms.Part) { p.Text = strings.Repeat("热", 71) }), "over the 70"},
		{"68 Chinese characters in a part", part(func(p *sms.Part) { p.Text, p.Count = strings.Repeat("热", 68), 2 }), "over the 67"},
		{"emoji count two UTF-16 units", part(func(p *sms.Part) { p.Text = strings.Repeat("热", 69) + "😀" }), "71 units"},
		{"161 GSM characters", part(func(p *sms.Part) { p.Coding, p.Text = sms.CodingGSM7, strings.Repeat("a", 161) }), "over the 160"},
		{"extension characters take two septets", part(func(p *sms.Part) {
			p.Coding, p.Text, p.Count = sms.CodingGSM7, strings.Repeat("a", 150)+"€€", 2
		}), "154 septets"},
		{"Chinese as GSM", part(func(p *sms.Part) { p.Coding, p.Text = sms.CodingGSM7, "满意" }), "not in the GSM 7-bit alphabet"},
		{"unknown coding", part(func(p *sms.Part) { p.Coding = "utf8" }), "unknown coding"},
		{"seq beyond count", part(func(p *sms.Part) { p.Seq, p.Count = 3, 2 }), "not a valid position"},
		{"count zero", part(func(p *sms.Part) { p.Seq, p.Count = 0, 0 }), "not a valid position"},
		{"empty text", part(func(p *sms.Part) { p.Text = "" }), "empty text"},
		{"no recipient", part(func(p *sms.Part) { p.To = "" }), "no recipient"},
		{"no part id", part(func(p *sms.Part) { p.PartID = 0 }), "ids are required"},
		{"no message id", part(func(p *sms.Part) { p.MessageID = 0 }), "ids are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := g.Submit(context.Background(), tt.part)
			if !errors.Is(err, sms.ErrRejected) {
				t.Fatalf("Submit error = %v, want ErrRejected", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
	if len(box.queries) != 0 {
		t.Errorf("smsbox got %d requests for parts that should have been refused", len(box.queries))
	}
	// The limits themselves go through.
	for _, p := range []sms.Part{
		part(func(p *sms.Part) { p.Text = strings.Repeat("热", 70) }),
		part(func(p *sms.Part) { p.Text, p.Seq, p.Count = strings.Repeat("热", 67), 2, 2 }),
		part(func(p *sms.Part) { p.Coding, p.Text = sms.CodingGSM7, strings.Repeat("a", 160) }),
		part(func(p *sms.Part) { p.Coding, p.Text, p.Count = sms.CodingGSM7, strings.Repeat("a", 151)+"€", 2 }),
	} {
		if _, err := g.Submit(context.Background(), p); err != nil {
			t.Errorf("Submit(%d %s characters, count %d): %v", len([]rune(p.Text)), p.Coding, p.Count, err)
		}
	}
}

func TestSubmitTemporaryFailures(t *testing.T) {
	part := sms.Part{MessageID: 1, PartID: 1, To: "13800138000", Coding: sms.CodingUCS2, Text: "您好", Seq: 1, Count: 1}

	t.Run("smsbox not listening", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		g := newGateway(t, "http://"+addr)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = g.Submit(ctx, part)
		if err == nil || errors.Is(err, sms.ErrRejected) {
			t.Fatalf("Submit error = %v, want a temporary error", err)
		}
		if strings.Contains(err.Error(), "password") {
			t.Errorf("error leaks the sendsms query: %v", err)
		}
	})

	t.Run("context cancelled while smsbox hangs", func(t *testing.T) {
		box := &fakeSmsbox{status: 202, body: "0: Accepted for delivery", block: make(chan struct{})}
		srv := httptest.NewServer(box)
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(box.block) })
		g := newGateway(t, srv.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := g.Submit(ctx, part)
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sms.ErrRejected) {
			t.Fatalf("Submit error = %v, want the context's deadline, not a rejection", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Submit returned after %v; the context said 200ms", d)
		}
	})
}

func TestNewRefusesBadConfig(t *testing.T) {
	good := kannel.Config{URL: "http://127.0.0.1:13013", User: "u", Password: "p", PublicURL: "http://127.0.0.1:8080", CallbackSecret: "s"}
	tests := []struct {
		name string
		edit func(*kannel.Config)
		want string
	}{
		{"relative smsbox URL", func(c *kannel.Config) { c.URL = "127.0.0.1:13013" }, "absolute http(s)"},
		{"credentials in the URL", func(c *kannel.Config) { c.URL = "http://u:p@127.0.0.1:13013" }, "must not carry"},
		{"no user", func(c *kannel.Config) { c.User = "" }, "user and password"},
		{"no password", func(c *kannel.Config) { c.Password = "" }, "user and password"},
		{"no public URL", func(c *kannel.Config) { c.PublicURL = "" }, "public URL"},
		{"no secret", func(c *kannel.Config) { c.CallbackSecret = "" }, "callback secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			_, err := kannel.New(cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := kannel.New(good, nil); err != nil {
		t.Fatalf("New(good config): %v", err)
	}
}
