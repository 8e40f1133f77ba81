package mailbox

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message"
	// Registers GBK, GB2312, GB18030, Big5 and the rest for bodies and RFC 2047 words.
	_ "github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/rexian/rexian/api"
)

// Letter is what could be read of one letter to the mailbox.
type Letter struct {
	// MessageID is the letter's Message-ID with its angle brackets, or one derived from
	// the header when the letter has none, so that every letter has a stable reference.
	MessageID  string
	FromName   string
	FromAddr   string // the address replies go to: Reply-To when usable, else From
	Subject    string
	Date       time.Time
	References []string // the letter's own References, for threading replies
	Text       string
	// Attachments are the files kept; Dropped says, per file, why one was not kept.
	Attachments []Attachment
	Dropped     []string
	// Problems lists what could not be read; a letter with problems goes to Failed.
	Problems []string
	// Noise, when set, says why this is not a citizen's letter (auto-reply, bounce, list).
	Noise string
}

// Attachment is a file that came with a letter.
type Attachment struct {
	Name        string
	ContentType string // as the letter declared it; the tickets store sniffs the real one
	Data        []byte
}

// Limits bound what one letter may cost to read.
type Limits struct {
	MaxDepth           int   // nesting of multiparts
	MaxParts           int   // parts in the whole letter
	MaxAttachments     int   // files kept
	MaxAttachmentBytes int64 // per file
	MaxTotalBytes      int64 // all files kept together
	MaxTextBytes       int64 // the text read from one body part
}

// DefaultLimits fit a citizen's letter with a few photos and a scanned document.
func DefaultLimits() Limits {
	return Limits{
		MaxDepth:           8,
		MaxParts:           100,
		MaxAttachments:     10,
		MaxAttachmentBytes: 10 << 20,
		MaxTotalBytes:      25 << 20,
		MaxTextBytes:       1 << 20,
	}
}

// ErrBroken is what ParseLetter returns for a letter it could read only in part.
var ErrBroken = errors.New("letter is broken")

// ParseLetter reads a raw letter. It always returns a Letter with what could be read; the
// error, wrapping ErrBroken, lists the Problems when there are any.
func ParseLetter(raw []byte, lim Limits) (l *Letter, err error) {
	l = &Letter{}
	defer func() {
		// A parser bug must cost one letter its body, never the reader its life.
		if r := recover(); r != nil {
			l.Problems = append(l.Problems, fmt.Sprintf("parser failed: %v", r))
			err = l.err()
		}
		if l.MessageID == "" {
			l.MessageID = derivedMessageID(raw)
		}
		// A letter is kept whatever it holds: control characters, direction overrides
		// and bytes that are not UTF-8 are cleaned out (api.CleanText), not refused.
		api.CleanFields(l)
	}()
	br := bufio.NewReader(bytes.NewReader(raw))
	h, herr := textproto.ReadHeader(br)
	if herr != nil {
		l.Problems = append(l.Problems, fmt.Sprintf("header: %v", herr))
	}
	hdr := mail.Header{Header: message.Header{Header: h}}
	l.readHeader(hdr)
	if herr != nil && h.Len() == 0 {
		// Nothing parsed as a header: keep the bytes as text for a person to read.
		l.Text = cleanText(decodeUnlabelled(raw))
		return l, l.err()
	}
	e, eerr := message.New(message.Header{Header: h}, br)
	if eerr != nil {
		l.Problems = append(l.Problems, eerr.Error())
	}
	if e == nil {
		return l, l.err()
	}
	w := &walker{lim: lim, l: l}
	w.walk(e, 0)
	switch {
	case len(w.plain) > 0:
		l.Text = cleanText(strings.Join(w.plain, "\n\n"))
	case len(w.html) > 0:
		l.Text = cleanText(htmlText(strings.Join(w.html, "\n")))
	}
	return l, l.err()
}

// ParseHeader reads only a letter's header, for letters too large to download.
func ParseHeader(rawHeader []byte) *Letter {
	l := &Letter{}
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(rawHeader)))
	if err != nil {
		l.Problems = append(l.Problems, fmt.Sprintf("header: %v", err))
	}
	l.readHeader(mail.Header{Header: message.Header{Header: h}})
	if l.MessageID == "" {
		l.MessageID = derivedMessageID(rawHeader)
	}
	api.CleanFields(l)
	return l
}

func (l *Letter) err() error {
	if len(l.Problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrBroken, strings.Join(l.Problems, "; "))
}

// derivedMessageID stands in for a missing Message-ID: a hash of the header, which holds
// the sender, date and Received lines and so differs between letters but not between two
// reads of one letter.
func derivedMessageID(raw []byte) string {
	head := raw
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		head = raw[:i]
	} else if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		head = raw[:i]
	}
	sum := sha256.Sum256(head)
	return "<" + hex.EncodeToString(sum[:16]) + "@no-message-id.mailbox.rexian>"
}

func (l *Letter) readHeader(h mail.Header) {
	if id, err := h.MessageID(); err == nil && id != "" {
		l.MessageID = "<" + safeHeader(id) + ">"
	} else if v := strings.TrimSpace(h.Get("Message-Id")); v != "" {
		// Malformed but present: keep it as the reference so duplicates still match.
		l.MessageID = "<" + strings.Trim(safeHeader(v), "<>") + ">"
	}
	if len(l.MessageID) > 250 {
		l.MessageID = derivedMessageID([]byte(l.MessageID))
	}
	subject, err := h.Subject()
	if err != nil {
		l.Problems = append(l.Problems, fmt.Sprintf("subject: %v", err))
	}
	l.Subject = oneLine(subject)
	if d, err := h.Date(); err == nil {
		l.Date = d
	}
	if refs, err := h.MsgIDList("References"); err == nil {
		for _, r := range refs {
			l.References = append(l.References, "<"+safeHeader(r)+">")
		}
	}
	from, err := h.AddressList("From")
	if err != nil {
		l.Problems = append(l.Problems, fmt.Sprintf("from: %v", err))
	}
	if len(from) > 0 {
		l.FromName, l.FromAddr = oneLine(from[0].Name), from[0].Address
	}
	if rt, err := h.AddressList("Reply-To"); err == nil && len(rt) == 1 && validAddress(rt[0].Address) {
		l.FromAddr = rt[0].Address
	}
	if !validAddress(l.FromAddr) {
		l.FromAddr = ""
	}
	l.Noise = noise(h, from)
}

var addressRE = regexp.MustCompile(`^[^\s@<>()",;:\\\[\]]{1,64}@[A-Za-z0-9.-]{1,252}\.[A-Za-z0-9-]{2,63}$`)

func validAddress(a string) bool { return len(a) <= 254 && addressRE.MatchString(a) }

// noise says why a letter is not a citizen's: RFC 3834 auto-replies, bounces (null return
// path, MAILER-DAEMON, delivery reports) and list or bulk mail. Empty for a real letter.
func noise(h mail.Header, from []*mail.Address) string {
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && v != "no" {
		return "auto-submitted: " + v
	}
	for _, k := range []string{"X-Autoreply", "X-Autorespond"} {
		if h.Has(k) {
			return "auto-reply header " + k
		}
	}
	if v := strings.ToLower(strings.TrimSpace(h.Get("Precedence"))); v == "bulk" || v == "junk" || v == "list" || v == "auto_reply" {
		return "precedence: " + v
	}
	if h.Has("List-Id") || h.Has("List-Unsubscribe") || h.Has("List-Post") {
		return "mailing list"
	}
	if rp := strings.TrimSpace(h.Get("Return-Path")); rp == "<>" {
		return "null sender (bounce)"
	}
	for _, a := range from {
		local, _, _ := strings.Cut(strings.ToLower(a.Address), "@")
		if local == "mailer-daemon" || local == "postmaster" {
			return "bounce from " + a.Address
		}
	}
	if t, params, err := h.ContentType(); err == nil && t == "multipart/report" && strings.EqualFold(params["report-type"], "delivery-status") {
		return "delivery status report (bounce)"
	}
	return ""
}

// walker collects text and attachments from a MIME tree within the limits.
type walker struct {
	lim   Limits
	l     *Letter
	parts int
	total int64
	plain []string
	html  []string
}

func (w *walker) walk(e *message.Entity, depth int) {
	w.parts++
	if w.parts > w.lim.MaxParts {
		if w.parts == w.lim.MaxParts+1 {
			w.l.Dropped = append(w.l.Dropped, fmt.Sprintf("超过%d个部分的内容未读取", w.lim.MaxParts))
		}
		return
	}
	if mr := e.MultipartReader(); mr != nil {
		if depth >= w.lim.MaxDepth {
			w.l.Problems = append(w.l.Problems, fmt.Sprintf("multiparts nested deeper than %d", w.lim.MaxDepth))
			return
		}
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil && p == nil {
				w.l.Problems = append(w.l.Problems, fmt.Sprintf("multipart: %v", err))
				return
			}
			if err != nil {
				w.l.Problems = append(w.l.Problems, err.Error())
			}
			w.walk(p, depth+1)
			if w.parts > w.lim.MaxParts {
				return
			}
		}
	}
	ctype, _, _ := e.Header.ContentType()
	if ctype == "" {
		ctype = "text/plain"
	}
	disp, _, _ := e.Header.ContentDisposition()
	ah := mail.AttachmentHeader{Header: e.Header}
	name, _ := ah.Filename()
	isText := ctype == "text/plain" || ctype == "text/html"
	if isText && disp != "attachment" && name == "" {
		b, err := io.ReadAll(io.LimitReader(e.Body, w.lim.MaxTextBytes+1))
		if err != nil {
			w.l.Problems = append(w.l.Problems, fmt.Sprintf("%s part: %v", ctype, err))
		}
		if int64(len(b)) > w.lim.MaxTextBytes {
			b = b[:w.lim.MaxTextBytes]
			w.l.Dropped = append(w.l.Dropped, fmt.Sprintf("正文超过%d字节的部分未读取", w.lim.MaxTextBytes))
		}
		s := decodeUnlabelled(b)
		if ctype == "text/html" {
			w.html = append(w.html, s)
		} else {
			w.plain = append(w.plain, s)
		}
		return
	}
	w.attachment(e, ctype, name)
}

func (w *walker) attachment(e *message.Entity, ctype, name string) {
	name = safeFileName(name)
	if name == "" {
		name = fmt.Sprintf("附件%d", len(w.l.Attachments)+len(w.l.Dropped)+1)
		if ext, ok := commonExt[ctype]; ok {
			name += ext
		} else if exts, _ := mime.ExtensionsByType(ctype); len(exts) > 0 {
			name += exts[0]
		}
	}
	if len(w.l.Attachments) >= w.lim.MaxAttachments {
		w.l.Dropped = append(w.l.Dropped, fmt.Sprintf("%s（附件超过%d个）", name, w.lim.MaxAttachments))
		return
	}
	b, err := io.ReadAll(io.LimitReader(e.Body, w.lim.MaxAttachmentBytes+1))
	if err != nil {
		w.l.Problems = append(w.l.Problems, fmt.Sprintf("attachment %q: %v", name, err))
		w.l.Dropped = append(w.l.Dropped, fmt.Sprintf("%s（无法读取）", name))
		return
	}
	switch {
	case len(b) == 0:
		w.l.Dropped = append(w.l.Dropped, fmt.Sprintf("%s（空文件）", name))
	case int64(len(b)) > w.lim.MaxAttachmentBytes:
		w.l.Dropped = append(w.l.Dropped, fmt.Sprintf("%s（超过%s）", name, humanBytes(w.lim.MaxAttachmentBytes)))
	case w.total+int64(len(b)) > w.lim.MaxTotalBytes:
		w.l.Dropped = append(w.l.Dropped, fmt.Sprintf("%s（附件合计超过%s）", name, humanBytes(w.lim.MaxTotalBytes)))
	default:
		w.total += int64(len(b))
		w.l.Attachments = append(w.l.Attachments, Attachment{Name: name, ContentType: ctype, Data: b})
	}
}

// commonExt names unnamed parts of the usual types; mime.ExtensionsByType would answer
// .jfif for a JPEG, which nobody can open.
var commonExt = map[string]string{
	"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
	"application/pdf": ".pdf", "text/plain": ".txt", "audio/amr": ".amr", "audio/mpeg": ".mp3", "audio/wav": ".wav",
}

func humanBytes(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMB", n>>20)
	}
	return fmt.Sprintf("%dKB", n>>10)
}

// decodeUnlabelled returns b as UTF-8. Text that is not UTF-8 by now came without a usable
// charset label; in a Chinese mailbox that is almost always GB18030 (a superset of GBK
// and GB2312), so try it before giving up on the odd bytes.
func decodeUnlabelled(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	if d, err := simplifiedchinese.GB18030.NewDecoder().Bytes(b); err == nil && utf8.Valid(d) && !bytes.ContainsRune(d, utf8.RuneError) {
		return string(d)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// cleanText normalises line ends, drops control characters and runs of blank lines.
func cleanText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if unicode.IsControl(r) || r == '\u200b' || r == '\ufeff' {
			return -1
		}
		if r == '\u00a0' {
			return ' '
		}
		return r
	}, s)
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	blank := 0
	for _, ln := range lines {
		ln = strings.TrimRightFunc(ln, unicode.IsSpace)
		if ln == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, ln)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

// oneLine makes header text safe to show and to echo in a reply header: no line breaks,
// no control characters.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	return strings.Join(strings.Fields(s), " ")
}

// safeHeader keeps a message id usable in a reply's In-Reply-To: printable ASCII only.
func safeHeader(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' || r == '<' || r == '>' {
			return -1
		}
		return r
	}, s)
}

// safeFileName keeps a file's base name, without path or control characters.
func safeFileName(name string) string {
	name = oneLine(strings.ReplaceAll(name, `\`, "/"))
	name = path.Base(name)
	if name == "." || name == "/" || name == ".." {
		return ""
	}
	if len(name) > 200 {
		ext := path.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		r := []rune(strings.TrimSuffix(name, ext))
		for len(string(r))+len(ext) > 200 {
			r = r[:len(r)-1]
		}
		name = string(r) + ext
	}
	return name
}
