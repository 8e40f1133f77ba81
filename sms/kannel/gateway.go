package kannel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/rexian/rexian/sms"
)

// Config says where smsbox is and how Kannel reaches rexian back.
type Config struct {
	// URL is smsbox's base URL, e.g. http://127.0.0.1:13013 (cgi-bin/sendsms is added
	// unless the URL already ends with it).
	URL      string
	User     string
	Password string
	// From is the sender number or name (Kannel's from); empty leaves it to the
	// sendsms-user's default-sender.
	From string
	// PublicURL is the base URL at which Kannel reaches rexian, e.g. http://10.0.0.5:8080;
	// delivery reports go to PublicURL + /sms/kannel/dlr.
	PublicURL string
	// CallbackSecret signs the delivery-report URL (see Sign).
	CallbackSecret string
	// Timeout bounds one sendsms call when the caller's context has no earlier deadline
	// (default 10 s).
	Timeout time.Duration
	// MaxConns is how many keep-alive connections to smsbox stay open; it should be at
	// least the outbox's submit concurrency (default 64).
	MaxConns int
}

// DLRMask asks Kannel for every kind of report: delivered (1), failed (2), buffered (4),
// accepted by the SMS centre (8) and rejected by it (16).
const DLRMask = 31

// Gateway submits parts to smsbox. It is safe for concurrent use.
type Gateway struct {
	sendsms   string // sendsms URL without a query
	user      string
	password  string
	from      string
	dlrBase   string // delivery-report URL without a query
	secret    []byte
	timeout   time.Duration
	client    *http.Client
	transport *http.Transport
	log       *slog.Logger
}

var _ sms.Gateway = (*Gateway)(nil)

// New checks cfg and returns a Gateway with its own keep-alive connection pool.
func New(cfg Config, log *slog.Logger) (*Gateway, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, err := url.Parse(strings.TrimSpace(cfg.URL))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("kannel: smsbox URL %q must be an absolute http(s) URL", cfg.URL)
	}
	if base.RawQuery != "" || base.User != nil {
		return nil, fmt.Errorf("kannel: smsbox URL %q must not carry a query or credentials; use the user and password settings", cfg.URL)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	if !strings.HasSuffix(base.Path, "/cgi-bin/sendsms") {
		base.Path += "/cgi-bin/sendsms"
	}
	if cfg.User == "" || cfg.Password == "" {
		return nil, errors.New("kannel: the sendsms user and password are required")
	}
	pub, err := url.Parse(strings.TrimSpace(cfg.PublicURL))
	if err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" {
		return nil, fmt.Errorf("kannel: public URL %q must be an absolute http(s) URL at which Kannel reaches rexian", cfg.PublicURL)
	}
	pub.RawQuery, pub.Fragment = "", ""
	pub.Path = strings.TrimSuffix(pub.Path, "/") + DLRPath
	if cfg.CallbackSecret == "" {
		return nil, errors.New("kannel: a callback secret is required to sign delivery-report URLs")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	conns := cfg.MaxConns
	if conns <= 0 {
		conns = 64
	}
	tr := &http.Transport{
		Proxy:               nil, // smsbox sits next to rexian; a proxy from the environment would only get in the way
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		// smsbox answers within a fraction of a second or not at all.
		ResponseHeaderTimeout: timeout,
	}
	return &Gateway{
		sendsms:   base.String(),
		user:      cfg.User,
		password:  cfg.Password,
		from:      cfg.From,
		dlrBase:   pub.String(),
		secret:    []byte(cfg.CallbackSecret),
		timeout:   timeout,
		client:    &http.Client{Transport: tr, CheckRedirect: noRedirects},
		transport: tr,
		log:       log,
	}, nil
}

// noRedirects keeps the password on the smsbox it was meant for.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Name is the gateway's name in the outbox rows.
func (g *Gateway) Name() string { return "kannel" }

// Close drops the idle connections to smsbox.
func (g *Gateway) Close() { g.transport.CloseIdleConnections() }

// Submit sends one part through sendsms and returns when smsbox has accepted or refused
// it. A refusal (4xx, or a part the driver cannot send as one SMS) wraps sms.ErrRejected;
// anything else (5xx, connection refused, timeout) is temporary.
func (g *Gateway) Submit(ctx context.Context, p sms.Part) (sms.Submitted, error) {
	q, err := g.query(p)
	if err != nil {
		return sms.Submitted{}, fmt.Errorf("kannel: message %d part %d: %w", p.MessageID, p.PartID, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	// smsbox 1.4.5 reads sendsms parameters from the query string only (a form POST is
	// refused with "Invalid content-type"), so the request is a GET.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.sendsms+"?"+q, nil)
	if err != nil {
		return sms.Submitted{}, fmt.Errorf("kannel: message %d part %d: build request: %w", p.MessageID, p.PartID, err)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		// The *url.Error carries the whole URL, password included: keep only its cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return sms.Submitted{}, fmt.Errorf("kannel: message %d part %d: sendsms at %s: %w", p.MessageID, p.PartID, g.sendsms, err)
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	// Drain what is left so the connection goes back to the pool.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	answer := strings.TrimSpace(string(body))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		if readErr != nil {
			// The status line is the answer; a body cut short does not undo acceptance.
			g.log.WarnContext(ctx, "sendsms answer body unreadable", "message", p.MessageID, "part", p.PartID, "err", readErr)
		}
		// 202 "0: Accepted for delivery" or "3: Queued for later delivery"; smsbox gives no
		// message id (the report URL names the part instead).
		return sms.Submitted{}, nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests:
		return sms.Submitted{}, fmt.Errorf("kannel: message %d part %d: sendsms answered %d %q (will retry)", p.MessageID, p.PartID, resp.StatusCode, answer)
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return sms.Submitted{}, fmt.Errorf("kannel: message %d part %d: sendsms answered %d %q: %w", p.MessageID, p.PartID, resp.StatusCode, answer, sms.ErrRejected)
	default:
		return sms.Submitted{}, fmt.Errorf("kannel: message %d part %d: sendsms answered %d %q (will retry)", p.MessageID, p.PartID, resp.StatusCode, answer)
	}
}

// query builds the sendsms parameters for p, or says why p cannot go out as one SMS.
func (g *Gateway) query(p sms.Part) (string, error) {
	if p.MessageID == 0 || p.PartID == 0 {
		return "", fmt.Errorf("message and part ids are required for the delivery report: %w", sms.ErrRejected)
	}
	if p.To == "" {
		return "", fmt.Errorf("no recipient: %w", sms.ErrRejected)
	}
	if p.Text == "" {
		return "", fmt.Errorf("empty text: %w", sms.ErrRejected)
	}
	if p.Count < 1 || p.Count > 255 || p.Seq < 1 || p.Seq > p.Count {
		return "", fmt.Errorf("part %d of %d is not a valid position (1..count, count 1..255): %w", p.Seq, p.Count, sms.ErrRejected)
	}
	long := p.Count > 1
	var coding string
	switch p.Coding {
	case sms.CodingUCS2:
		coding = "2"
		n, limit := len(utf16.Encode([]rune(p.Text))), 70
		if long {
			limit = 67
		}
		if n > limit {
			return "", fmt.Errorf("UCS-2 text of %d units is over the %d that fit in one SMS; Kannel would split it: %w", n, limit, sms.ErrRejected)
		}
	case sms.CodingGSM7:
		coding = "0"
		n, bad := gsmSeptets(p.Text)
		if bad != 0 {
			return "", fmt.Errorf("character %q is not in the GSM 7-bit alphabet; send the part as UCS-2: %w", bad, sms.ErrRejected)
		}
		limit := 160
		if long {
			limit = 153
		}
		if n > limit {
			return "", fmt.Errorf("GSM text of %d septets is over the %d that fit in one SMS; Kannel would split it: %w", n, limit, sms.ErrRejected)
		}
	default:
		return "", fmt.Errorf("unknown coding %q: %w", p.Coding, sms.ErrRejected)
	}
	v := url.Values{}
	v.Set("username", g.user)
	v.Set("password", g.password)
	v.Set("to", p.To)
	if g.from != "" {
		v.Set("from", g.from)
	}
	v.Set("text", p.Text)
	v.Set("charset", "UTF-8")
	v.Set("coding", coding)
	if long {
		// IEI 0x00 (concatenation, 8-bit reference), length 3, ref, count, seq. With a UDH
		// present Kannel sends the part as it is, without splitting it again.
		v.Set("udh", string([]byte{0x05, 0x00, 0x03, p.Ref, byte(p.Count), byte(p.Seq)}))
	}
	v.Set("dlr-mask", strconv.Itoa(DLRMask))
	v.Set("dlr-url", g.dlrURL(p.MessageID, p.PartID))
	return v.Encode(), nil
}

// dlrURL is the delivery-report URL for one part. Kannel replaces the %-escapes when it
// calls it: %d the report type, %i the SMSC id, %A the SMSC's reply, %t the time, %F the
// SMSC's message id.
func (g *Gateway) dlrURL(messageID, partID uint64) string {
	// The escapes must reach Kannel as they are, so the query is written by hand rather
	// than with url.Values (which would turn % into %25).
	return fmt.Sprintf("%s?msg=%d&part=%d&sig=%s&type=%%d&smsc=%%i&reply=%%A&ts=%%t&fid=%%F",
		g.dlrBase, messageID, partID, Sign(g.secret, messageID, partID))
}
