package kannel

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/sms"
)

// The paths Kannel calls. They live outside /api/v1: Kannel is not an API client and
// authenticates with the callback secret, not a bearer token.
const (
	DLRPath = "/sms/kannel/dlr"
	MOPath  = "/sms/kannel/mo"
)

// maxCallbackBody bounds a POSTed callback; a concatenated inbound message of the most
// parts Kannel combines is far below it.
const maxCallbackBody = 64 << 10

// Sign returns the signature that authenticates delivery reports for one part: the first
// 128 bits of HMAC-SHA256(secret, "dlr:<message>:<part>"), in hex.
func Sign(secret []byte, messageID, partID uint64) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "dlr:%d:%d", messageID, partID)
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// Callbacks are the HTTP handlers Kannel calls with delivery reports and inbound
// messages.
type Callbacks struct {
	receiver sms.Receiver
	secret   []byte
	log      *slog.Logger
	now      func() time.Time
	loc      *time.Location
}

// NewCallbacks returns the handlers. secret is the callback secret shared with Kannel's
// configuration (the MO get-url carries it; dlr-urls carry a signature made with it).
func NewCallbacks(receiver sms.Receiver, secret string, log *slog.Logger) *Callbacks {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Callbacks{receiver: receiver, secret: []byte(secret), log: log, now: time.Now, loc: time.Local}
}

// Routes mounts the callbacks on r, for GET (what Kannel's dlr-url and get-url use) and
// for POST with a form body.
func (cb *Callbacks) Routes(r gin.IRouter) {
	dlr := api.Handle(cb.log, cb.deliveryReport)
	mo := api.Handle(cb.log, cb.inbound)
	r.GET(DLRPath, dlr)
	r.POST(DLRPath, dlr)
	r.GET(MOPath, mo)
	r.POST(MOPath, mo)
}

// params reads the callback's parameters from the query string and, for a POSTed form,
// from the body. Go's lenient c.Query would drop a malformed pair silently; a callback
// with one is refused instead, so a broken Kannel configuration shows at once.
func params(c *gin.Context) (url.Values, error) {
	v, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil {
		return nil, api.Errorf(api.ErrInvalid, "malformed_query", "malformed query string: %v", err)
	}
	if c.Request.Method != http.MethodPost {
		return v, nil
	}
	ct := c.GetHeader("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, api.Errorf(api.ErrInvalid, "unsupported_content_type", "a POSTed callback must be application/x-www-form-urlencoded, not %q", ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxCallbackBody))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, api.Errorf(api.ErrTooLarge, "body_too_large", "callback body is over the limit of %d bytes", maxCallbackBody)
		}
		return nil, api.Errorf(api.ErrInvalid, "unreadable_body", "callback body could not be read: %v", err)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, api.Errorf(api.ErrInvalid, "malformed_body", "malformed form body: %v", err)
	}
	for k, vs := range form {
		v[k] = append(v[k], vs...)
	}
	return v, nil
}

// single returns the one value of key, "" when absent, and refuses repeats: two values
// for the same key would leave it to chance which one counts.
func single(v url.Values, key string) (string, error) {
	switch vs := v[key]; len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	default:
		return "", api.Errorf(api.ErrInvalid, "repeated_parameter", "parameter %q is given %d times; once is expected", key, len(vs))
	}
}

func (cb *Callbacks) forbidden(c *gin.Context, what, why string) error {
	cb.log.WarnContext(c.Request.Context(), "kannel callback refused", "callback", what, "reason", why, "remote", c.ClientIP())
	return api.Errorf(api.ErrForbidden, "bad_secret", "%s", why)
}

// deliveryReport handles Kannel's dlr-url: ?msg=&part=&sig=&type=%d&smsc=%i&reply=%A&ts=%t&fid=%F.
func (cb *Callbacks) deliveryReport(c *gin.Context) error {
	v, err := params(c)
	if err != nil {
		return err
	}
	var vals [8]string
	for i, k := range []string{"msg", "part", "sig", "type", "smsc", "reply", "ts", "fid"} {
		if vals[i], err = single(v, k); err != nil {
			return err
		}
	}
	msgS, partS, sig, typ, smsc, reply, ts, fid := vals[0], vals[1], vals[2], vals[3], vals[4], vals[5], vals[6], vals[7]
	if len(cb.secret) == 0 {
		// An empty key would make every signature computable by anyone.
		return cb.forbidden(c, "dlr", "rexian has no callback secret configured; delivery reports are refused")
	}
	msgID, errM := strconv.ParseUint(msgS, 10, 64)
	partID, errP := strconv.ParseUint(partS, 10, 64)
	// Authenticate before saying anything about the other parameters.
	if sig == "" {
		return cb.forbidden(c, "dlr", "the delivery report carries no signature (sig)")
	}
	if errM != nil || errP != nil || msgID == 0 || partID == 0 {
		return api.Errorf(api.ErrInvalid, "invalid_ids", "msg and part must be positive whole numbers; got msg=%q part=%q", msgS, partS)
	}
	want := Sign(cb.secret, msgID, partID)
	if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) != 1 {
		return cb.forbidden(c, "dlr", "the delivery report's signature does not match its message and part")
	}
	state, ok := deliveryStates[typ]
	if !ok {
		cb.log.WarnContext(c.Request.Context(), "kannel delivery report of unknown type", "message", msgID, "part", partID, "type", typ)
		return api.Errorf(api.ErrInvalid, "unknown_dlr_type", "delivery report type %q is not one of Kannel's 1, 2, 4, 8, 16", typ)
	}
	r := sms.Report{
		MessageID: msgID,
		PartID:    partID,
		State:     state,
		GatewayID: fid,
		Detail:    reportDetail(typ, smsc, reply),
		At:        cb.parseTime(ts),
	}
	if err := cb.receiver.Report(c.Request.Context(), r); err != nil {
		return api.Errorf(api.ErrUnavailable, "not_stored", "delivery report for message %d part %d not stored, try again: %v", msgID, partID, err)
	}
	c.String(http.StatusOK, "ok")
	return nil
}

// deliveryStates maps Kannel's report types (the %d of a dlr-url) to part states.
var deliveryStates = map[string]sms.DeliveryState{
	"1":  sms.DeliveryDelivered, // delivered to the phone
	"2":  sms.DeliveryFailed,    // not delivered to the phone
	"4":  sms.DeliveryBuffered,  // queued by the SMS centre
	"8":  sms.DeliveryAccepted,  // delivered to the SMS centre
	"16": sms.DeliveryFailed,    // not delivered to the SMS centre (rejected)
}

// reportDetail keeps what Kannel said in the operator's words: the type, the SMS centre
// and its reply.
func reportDetail(typ, smsc, reply string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kannel type %s", typ)
	if smsc != "" {
		fmt.Fprintf(&b, " via %s", smsc)
	}
	if reply = strings.TrimSpace(reply); reply != "" {
		if !utf8.ValidString(reply) {
			reply = strings.ToValidUTF8(reply, "\uFFFD")
		}
		if len(reply) > 200 {
			reply = reply[:200]
			reply = strings.ToValidUTF8(reply, "")
		}
		fmt.Fprintf(&b, ": %s", reply)
	}
	return b.String()
}

// parseTime reads Kannel's %t ("2006-01-02 15:04:05" in Kannel's local time) or a Unix
// time; an absent or odd time is replaced by now, since the report itself matters more.
func (cb *Callbacks) parseTime(s string) time.Time {
	if s == "" {
		return cb.now()
	}
	if t, err := time.ParseInLocation(time.DateTime, s, cb.loc); err == nil {
		return t
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return time.Unix(n, 0)
	}
	return cb.now()
}

// inbound handles the sms-service get-url:
// ?secret=&from=%p&to=%P&text=%a&charset=%C&coding=%c&id=%I&ts=%t.
func (cb *Callbacks) inbound(c *gin.Context) error {
	v, err := params(c)
	if err != nil {
		return err
	}
	secret, err := single(v, "secret")
	if err != nil {
		return err
	}
	if len(cb.secret) == 0 {
		return cb.forbidden(c, "mo", "rexian has no callback secret configured; inbound messages are refused")
	}
	if secret == "" {
		return cb.forbidden(c, "mo", "the inbound callback carries no secret")
	}
	if subtle.ConstantTimeCompare([]byte(secret), cb.secret) != 1 {
		return cb.forbidden(c, "mo", "the inbound callback's secret is wrong")
	}
	var vals [6]string
	for i, k := range []string{"from", "to", "text", "charset", "coding", "id"} {
		if vals[i], err = single(v, k); err != nil {
			return err
		}
	}
	from, to, raw, charset, coding, id := vals[0], vals[1], vals[2], vals[3], vals[4], vals[5]
	ts, err := single(v, "ts")
	if err != nil {
		return err
	}
	if !validNumber(from) {
		return api.Errorf(api.ErrInvalid, "invalid_sender", "sender (from) must be a phone number of up to 20 digits, with an optional leading +; got %q", from)
	}
	if to == "" || len(to) > 32 || !utf8.ValidString(to) {
		return api.Errorf(api.ErrInvalid, "invalid_receiver", "receiver (to) must be the service number, up to 32 characters; got %q", to)
	}
	text, err := decodeText([]byte(raw), charset, coding)
	if err != nil {
		cb.log.WarnContext(c.Request.Context(), "kannel inbound message undecodable", "from", from, "to", to, "id", id,
			"charset", charset, "coding", coding, "bytes", len(raw), "err", err)
		return api.Errorf(api.ErrInvalid, "undecodable_text", "inbound message from %s: %v", from, err)
	}
	m := sms.Inbound{From: from, To: to, Text: text, GatewayID: id, At: cb.parseTime(ts)}
	if err := cb.receiver.Receive(c.Request.Context(), m); err != nil {
		return api.Errorf(api.ErrUnavailable, "not_stored", "inbound message from %s not stored, try again: %v", from, err)
	}
	// smsbox turns a text/plain answer into a reply SMS to the citizen unless the service
	// says max-messages = 0; an empty one is safe either way. (Any other content type
	// would become Kannel's reply-couldnotrepresent text.)
	c.String(http.StatusOK, "")
	return nil
}

func validNumber(s string) bool {
	digits := strings.TrimPrefix(s, "+")
	if digits == "" || len(digits) > 20 {
		return false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// decodeText turns an inbound message's bytes into UTF-8. Two forms reach us from
// smsbox: with mo-recode = true, UCS-2 arrives already recoded to UTF-8 (coding=0,
// charset=UTF-8); with mo-recode = false, it arrives as the raw UTF-16BE bytes
// (coding=2, charset=UTF-16BE). Bytes that cannot be what they claim are refused whole.
func decodeText(b []byte, charset, coding string) (string, error) {
	cs := strings.ToUpper(strings.TrimSpace(charset))
	switch coding {
	case "", "0", "2":
	case "1":
		return "", errors.New("8-bit binary messages (coding=1) are not text and are not accepted")
	default:
		return "", fmt.Errorf("coding %q is not one of Kannel's 0 (GSM), 1 (8-bit), 2 (UCS-2)", coding)
	}
	switch cs {
	case "UTF-16BE", "UTF-16", "UCS-2", "UCS-2BE", "UTF16BE", "UCS2":
		return decodeUTF16BE(b)
	case "", "UTF-8", "UTF8":
		if coding == "2" && cs == "" {
			return decodeUTF16BE(b)
		}
		if !utf8.Valid(b) {
			return "", fmt.Errorf("text is not valid UTF-8 (charset %q, coding %q)", charset, coding)
		}
		return string(b), nil
	case "US-ASCII", "ASCII":
		for _, c := range b {
			if c >= 0x80 {
				return "", fmt.Errorf("text has byte 0x%02X, which is not ASCII", c)
			}
		}
		return string(b), nil
	case "ISO-8859-1", "LATIN1", "ISO8859-1":
		rs := make([]rune, len(b))
		for i, c := range b {
			rs[i] = rune(c)
		}
		return string(rs), nil
	default:
		return "", fmt.Errorf("charset %q is not supported (UTF-8, UTF-16BE, ISO-8859-1 are)", charset)
	}
}

// decodeUTF16BE decodes UCS-2/UTF-16BE strictly: an odd number of bytes or a surrogate
// without its partner is an error, not a replacement character.
func decodeUTF16BE(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", fmt.Errorf("UCS-2 text has an odd number of bytes (%d)", len(b))
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	for i := 0; i < len(u); i++ {
		switch {
		case utf16.IsSurrogate(rune(u[i])) && u[i] < 0xDC00: // high surrogate
			if i+1 >= len(u) || u[i+1] < 0xDC00 || u[i+1] > 0xDFFF {
				return "", fmt.Errorf("UCS-2 text has an unpaired high surrogate 0x%04X at byte %d", u[i], 2*i)
			}
			i++
		case u[i] >= 0xDC00 && u[i] <= 0xDFFF:
			return "", fmt.Errorf("UCS-2 text has an unpaired low surrogate 0x%04X at byte %d", u[i], 2*i)
		}
	}
	return string(utf16.Decode(u)), nil
}
