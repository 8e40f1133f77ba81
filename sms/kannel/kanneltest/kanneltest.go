// Package kanneltest runs a real Kannel for tests: bearerbox, smsbox and Kannel's fake
// SMS centre (fakesmsc) on loopback, with a configuration written into a temporary folder
// and free ports. Tests send through smsbox's sendsms, read what the fake SMS centre
// received (parsed from its output), and inject inbound messages as if a phone had sent
// them.
//
// The binaries come from Debian's kannel and kannel-extras packages. When they are
// missing, Start skips the test (or fails it under REXIAN_TEST_REQUIRE_SERVICES=1).
package kanneltest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/rexian/rexian/database/dbtest"
)

// Where Debian installs the binaries.
const (
	Bearerbox = "/usr/sbin/bearerbox"
	Smsbox    = "/usr/sbin/smsbox"
	Fakesmsc  = "/usr/lib/kannel/test/fakesmsc"
)

// HowToInstall is what a skipped test tells the reader.
const HowToInstall = "apt-get install kannel kannel-extras (scripts/test does it)"

// Options shape the Kannel a test gets.
type Options struct {
	// MOURL is the sms-service get-url for inbound messages, e.g.
	// http://127.0.0.1:PORT/sms/kannel/mo?secret=…; the from, to, text, charset, coding,
	// id and ts parameters are appended. Empty: inbound messages are answered by Kannel
	// itself and reach no one.
	MOURL string
	// MORecode is smsbox's mo-recode: true hands UCS-2 inbound text over as UTF-8, false
	// as the raw UTF-16BE bytes.
	MORecode bool
	// LogLevel is bearerbox's and smsbox's log level (0 debug … 4 panic); the default 0
	// keeps everything for a failing test's log, benchmarks set 3.
	LogLevel int
	// Throughput caps the fake SMS centre at this many messages a second (0: no cap).
	Throughput int
	// CallbackRetries is how often smsbox tries a delivery report or inbound callback
	// again, a second apart, when rexian does not answer 200 (default 5). A test that
	// restarts rexian raises it to cover the restart.
	CallbackRetries int
}

// Message is one SMS the fake SMS centre received.
type Message struct {
	From, To string
	// Type is how fakesmsc printed it: "text" (GSM), "data" (8-bit), "ucs-2", or "udh"
	// for any message with a user data header (fakesmsc does not print the coding then).
	Type string
	UDH  []byte
	Data []byte // the message bytes as sent on the air (UTF-16BE for UCS-2)
	// Coding is "gsm", "8bit" or "ucs2"; for "udh" messages it is inferred (see Text).
	Coding string
	// Text is Data decoded: UTF-16BE for UCS-2; for a message with a UDH the bytes are
	// taken as UTF-16BE when they are an even number of valid UTF-16 units and not all
	// printable ASCII, else as text.
	Text string
}

// Concat is the concatenation header of a part: reference, count and sequence number.
// ok is false when the message has no 8-bit concatenation element.
func (m Message) Concat() (ref, count, seq int, ok bool) {
	u := m.UDH
	if len(u) < 1 || int(u[0])+1 > len(u) {
		return 0, 0, 0, false
	}
	u = u[1 : 1+int(u[0])]
	for len(u) >= 2 {
		iei, l := u[0], int(u[1])
		if 2+l > len(u) {
			return 0, 0, 0, false
		}
		if iei == 0x00 && l == 3 {
			return int(u[2]), int(u[3]), int(u[4]), true
		}
		u = u[2+l:]
	}
	return 0, 0, 0, false
}

// Kannel is a running bearerbox + fakesmsc + smsbox.
type Kannel struct {
	dir                                   string
	adminPort, boxPort, smscPort, smsPort int
	user, password, adminPassword         string

	bearerbox, smsbox, fakesmsc *exec.Cmd
	waits                       map[*exec.Cmd]chan struct{}
	moWriter                    *os.File // holds fakesmsc's stdin open; end of input would crash it
	readerDone                  chan struct{}
	injectMu                    sync.Mutex

	mu       sync.Mutex
	received []Message
	sentMO   int // "fakesmsc: sent message N" lines seen
	bad      []string
	changed  chan struct{}
	closed   bool
}

// Start runs a Kannel for t and stops it when t ends. Without the Kannel binaries the test
// is skipped (or failed, when services are required).
func Start(t testing.TB, opts Options) *Kannel {
	t.Helper()
	if err := Installed(); err != nil {
		dbtest.Unavailable(t, "Kannel", HowToInstall, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := Run(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatalf("start Kannel: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"bearerbox.log", "smsbox.log", "fakesmsc.out"} {
				t.Logf("--- %s (last lines):\n%s", name, k.tail(name, 30))
			}
		}
		if err := k.Close(); err != nil {
			t.Logf("stop Kannel: %v", err)
		}
	})
	return k
}

// Installed says whether the Kannel binaries are there.
func Installed() error {
	for _, p := range []string{Bearerbox, Smsbox, Fakesmsc} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

// Run starts Kannel with its files in dir; Close stops it. It is Start without a test,
// for commands that drive Kannel themselves.
func Run(ctx context.Context, dir string, opts Options) (k *Kannel, err error) {
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	k = &Kannel{
		dir:           dir,
		adminPort:     ports[0],
		boxPort:       ports[1],
		smscPort:      ports[2],
		smsPort:       ports[3],
		user:          "rexian",
		password:      "sendsms-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36),
		adminPassword: "admin-" + strconv.FormatInt(time.Now().UnixNano()%1e8, 36),
		waits:         map[*exec.Cmd]chan struct{}{},
		changed:       make(chan struct{}),
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n--- bearerbox.log:\n%s\n--- smsbox.log:\n%s\n--- fakesmsc.out:\n%s",
				err, k.tail("bearerbox.log", 15), k.tail("smsbox.log", 15), k.tail("fakesmsc.out", 15))
			k.Close()
			k = nil
		}
	}()
	if err := os.MkdirAll(filepath.Join(dir, "store"), 0o755); err != nil {
		return k, err
	}
	conf := filepath.Join(dir, "kannel.conf")
	if err := os.WriteFile(conf, []byte(k.config(opts)), 0o644); err != nil {
		return k, fmt.Errorf("write kannel.conf: %w", err)
	}

	if err := k.startBoxes(ctx, conf); err != nil {
		return k, err
	}
	return k, nil
}

// startBoxes starts bearerbox, the fake SMS centre and smsbox on k's ports and waits
// until smsbox takes sendsms requests.
func (k *Kannel) startBoxes(ctx context.Context, conf string) error {
	var err error
	if k.bearerbox, err = k.spawn("bearerbox", Bearerbox, []string{"-v", "4", conf}, nil, nil); err != nil {
		return err
	}
	if err := k.waitStatus(ctx, func(s string) bool { return strings.Contains(s, "Status: running") }); err != nil {
		return fmt.Errorf("bearerbox did not come up: %w", err)
	}

	// fakesmsc reads inbound lines from stdin and crashes at its end: give it a pipe whose
	// writing end stays open with us for as long as it runs. -i is the pause between
	// inbound lines (default 1 s); above 0.01 s it also logs "sent message N", which
	// InjectLine waits for.
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	k.moWriter = w
	outR, outW, err := os.Pipe()
	if err != nil {
		r.Close()
		return err
	}
	k.fakesmsc, err = k.spawn("fakesmsc", Fakesmsc, []string{"-H", "127.0.0.1", "-r", strconv.Itoa(k.smscPort), "-v", "0", "-i", "0.02"}, r, outW)
	r.Close()
	outW.Close()
	if err != nil {
		outR.Close()
		return err
	}
	k.readerDone = make(chan struct{})
	go func() {
		defer close(k.readerDone)
		k.readFakesmsc(outR)
	}()

	if k.smsbox, err = k.spawn("smsbox", Smsbox, []string{"-v", "4", conf}, nil, nil); err != nil {
		return err
	}
	if err := k.waitStatus(ctx, func(s string) bool {
		box, smsc, _ := strings.Cut(s, "SMSC connections:")
		return strings.Contains(box, "smsbox:") && strings.Contains(smsc, "(online")
	}); err != nil {
		return fmt.Errorf("smsbox or the fake SMS centre did not connect: %w", err)
	}
	// smsbox connects to bearerbox before it opens its sendsms port.
	if err := waitDial(ctx, k.smsPort); err != nil {
		return fmt.Errorf("smsbox's sendsms port did not open: %w", err)
	}
	return nil
}

func (k *Kannel) config(o Options) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# written by kanneltest for one test run")
	p("group = core")
	p("admin-port = %d", k.adminPort)
	p("admin-interface = 127.0.0.1")
	p("admin-password = %q", k.adminPassword)
	p("status-password = %q", k.adminPassword)
	p("admin-allow-ip = \"127.0.0.1\"")
	p("smsbox-port = %d", k.boxPort)
	p("smsbox-interface = 127.0.0.1")
	p("box-allow-ip = \"127.0.0.1\"")
	p("log-file = %q", filepath.Join(k.dir, "bearerbox.log"))
	p("log-level = %d", o.LogLevel)
	p("store-type = file")
	p("store-location = %q", filepath.Join(k.dir, "store", "bearerbox.store"))
	p("dlr-storage = internal")
	p("")
	p("group = smsc")
	p("smsc = fake")
	p("smsc-id = fake")
	p("port = %d", k.smscPort)
	p("connect-allow-ip = \"127.0.0.1\"")
	if o.Throughput > 0 {
		p("throughput = %d", o.Throughput)
	}
	p("")
	p("group = smsbox")
	p("bearerbox-host = 127.0.0.1")
	p("bearerbox-port = %d", k.boxPort)
	p("sendsms-port = %d", k.smsPort)
	p("sendsms-interface = 127.0.0.1")
	p("log-file = %q", filepath.Join(k.dir, "smsbox.log"))
	p("log-level = %d", o.LogLevel)
	p("mo-recode = %t", o.MORecode)
	// A callback answered with anything but 200/202 is tried again, a second later.
	retries := o.CallbackRetries
	if retries <= 0 {
		retries = 5
	}
	p("http-request-retry = %d", retries)
	p("http-queue-delay = 1")
	p("")
	p("group = sendsms-user")
	p("username = %q", k.user)
	p("password = %q", k.password)
	p("default-sender = 12345")
	p("concatenation = true")
	p("max-messages = 1")
	p("")
	p("group = sms-service")
	p("keyword = default")
	p("catch-all = true")
	// No answer goes back to the phone: rexian replies through sendsms when it has to.
	p("max-messages = 0")
	if o.MOURL != "" {
		sep := "?"
		if strings.Contains(o.MOURL, "?") {
			sep = "&"
		}
		// %b, the message as it came: %a would split it into words at every byte that
		// looks like ASCII white space and join them with one space, which corrupts
		// UTF-16BE (the "，" U+FF0C has a form feed byte, "张" U+5F20 a space byte).
		p("get-url = %q", o.MOURL+sep+"from=%p&to=%P&text=%b&charset=%C&coding=%c&id=%I&ts=%t")
	} else {
		p("text = \"\"")
	}
	return b.String()
}

// URL is smsbox's base URL (what REXIAN_SMS_KANNEL_URL names).
func (k *Kannel) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", k.smsPort) }

// SendsmsURL is smsbox's sendsms URL, without a query.
func (k *Kannel) SendsmsURL() string { return k.URL() + "/cgi-bin/sendsms" }

// User and Password are the sendsms-user's credentials.
func (k *Kannel) User() string     { return k.user }
func (k *Kannel) Password() string { return k.password }

// Dir is the folder with kannel.conf and the logs.
func (k *Kannel) Dir() string { return k.dir }

// StatusURL is bearerbox's status page with the admin password.
func (k *Kannel) StatusURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/status.txt?password=%s", k.adminPort, url.QueryEscape(k.adminPassword))
}

// Status is bearerbox's status.txt.
func (k *Kannel) Status(ctx context.Context) (string, error) {
	u := k.StatusURL()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return "", fmt.Errorf("bearerbox status: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("bearerbox status answered %d: %s", resp.StatusCode, body)
	}
	return string(body), err
}

func (k *Kannel) waitStatus(ctx context.Context, ok func(string) bool) error {
	var last error
	for {
		s, err := k.Status(ctx)
		if err == nil && ok(s) {
			return nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("status so far:\n%s", s)
		}
		if err := k.exited(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%v)", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// exited reports a Kannel process that ended on its own.
func (k *Kannel) exited() error {
	for _, c := range []*exec.Cmd{k.bearerbox, k.fakesmsc, k.smsbox} {
		if c == nil {
			continue
		}
		select {
		case <-k.waits[c]:
			return fmt.Errorf("%s exited: %v", filepath.Base(c.Path), c.ProcessState)
		default:
		}
	}
	return nil
}

func waitDial(ctx context.Context, port int) error {
	for {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (k *Kannel) spawn(name, path string, args []string, stdin *os.File, stdout *os.File) (*exec.Cmd, error) {
	cmd := exec.Command(path, args...)
	cmd.Dir = k.dir
	if stdout == nil {
		f, err := os.Create(filepath.Join(k.dir, name+".out"))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		stdout = f
	}
	cmd.Stdout, cmd.Stderr = stdout, stdout
	if stdin != nil {
		cmd.Stdin = stdin
	}
	// Its own process group, so that a signal to the test's terminal does not reach it
	// before the clean-up does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	done := make(chan struct{})
	k.waits[cmd] = done
	go func() {
		cmd.Wait()
		close(done)
	}()
	return cmd, nil
}

// StopSmsbox stops smsbox (for tests of a gateway that is down) and waits for it.
func (k *Kannel) StopSmsbox(ctx context.Context) error {
	return k.stop(ctx, k.smsbox, syscall.SIGTERM)
}

// StartSmsbox starts smsbox again after StopSmsbox, on the same ports, and waits until
// bearerbox sees it and its sendsms port takes requests.
func (k *Kannel) StartSmsbox(ctx context.Context) error {
	if k.smsbox != nil {
		select {
		case <-k.waits[k.smsbox]:
		default:
			return errors.New("smsbox is still running")
		}
	}
	c, err := k.spawn("smsbox", Smsbox, []string{"-v", "4", filepath.Join(k.dir, "kannel.conf")}, nil, nil)
	if err != nil {
		return err
	}
	k.smsbox = c
	if err := k.waitStatus(ctx, func(s string) bool {
		box, _, _ := strings.Cut(s, "SMSC connections:")
		return strings.Contains(box, "smsbox:")
	}); err != nil {
		return fmt.Errorf("smsbox did not connect to bearerbox again: %w", err)
	}
	if err := waitDial(ctx, k.smsPort); err != nil {
		return fmt.Errorf("smsbox's sendsms port did not open again: %w", err)
	}
	return nil
}

// StopBearerbox stops the whole gateway as an operator or a crash of bearerbox would:
// bearerbox and the smsbox that depends on it (SIGTERM to both, as bearerbox waits for
// its boxes), then the fake SMS centre, whose link to bearerbox is gone. It waits for all
// three. What the fake SMS centre received so far is kept.
func (k *Kannel) StopBearerbox(ctx context.Context) error {
	err := k.stopAll(ctx)
	// Stopped on purpose: not "exited" to waitStatus while the gateway starts again.
	k.bearerbox, k.smsbox, k.fakesmsc, k.moWriter = nil, nil, nil, nil
	return err
}

// stopAll stops both boxes at once (bearerbox waits for its boxes to go before it exits),
// then the fake SMS centre, and waits for the reader of its output.
func (k *Kannel) stopAll(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, c := range []*exec.Cmd{k.smsbox, k.bearerbox} {
		wg.Go(func() { errs[i] = k.stop(ctx, c, syscall.SIGTERM) })
	}
	wg.Wait()
	if k.fakesmsc != nil && k.fakesmsc.Process != nil {
		_ = k.fakesmsc.Process.Kill()
		<-k.waits[k.fakesmsc]
	}
	if k.moWriter != nil {
		k.moWriter.Close()
	}
	// The reader writes fakesmsc.out until the pipe ends; the folder may go after that.
	if k.readerDone != nil {
		<-k.readerDone
	}
	return errors.Join(errs...)
}

// StartBearerbox starts the gateway again after StopBearerbox, on the same ports and with
// the same store, and waits until smsbox takes sendsms requests.
func (k *Kannel) StartBearerbox(ctx context.Context) error {
	for _, c := range []*exec.Cmd{k.bearerbox, k.smsbox, k.fakesmsc} {
		if c == nil {
			continue
		}
		select {
		case <-k.waits[c]:
		default:
			return fmt.Errorf("%s is still running", filepath.Base(c.Path))
		}
	}
	return k.startBoxes(ctx, filepath.Join(k.dir, "kannel.conf"))
}

func (k *Kannel) stop(ctx context.Context, c *exec.Cmd, sig syscall.Signal) error {
	if c == nil || c.Process == nil {
		return nil
	}
	done := k.waits[c]
	select {
	case <-done:
		return nil
	default:
	}
	_ = c.Process.Signal(sig)
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	_ = c.Process.Kill()
	<-done
	return fmt.Errorf("%s did not stop on %v in time; killed", filepath.Base(c.Path), sig)
}

// Close stops smsbox and bearerbox (SIGTERM, then SIGKILL after 5 s) and the fake SMS
// centre (which aborts on a clean shutdown anyway), and waits for all of them.
func (k *Kannel) Close() error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return k.stopAll(ctx)
}

func (k *Kannel) tail(name string, n int) string {
	b, err := os.ReadFile(filepath.Join(k.dir, name))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// readFakesmsc parses fakesmsc's output into received messages and counts the inbound
// lines it has passed on, keeping a copy in fakesmsc.out.
func (k *Kannel) readFakesmsc(r io.ReadCloser) {
	defer r.Close()
	// Appended to: a restarted fake SMS centre (StartBearerbox) keeps the earlier lines.
	logf, _ := os.OpenFile(filepath.Join(k.dir, "fakesmsc.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if logf != nil {
		defer logf.Close()
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if logf != nil {
			logf.WriteString(line + "\n")
		}
		k.mu.Lock()
		if i := strings.Index(line, "Got message "); i >= 0 {
			if m, err := ParseLine(line[i:]); err == nil {
				k.received = append(k.received, m)
			} else {
				k.bad = append(k.bad, fmt.Sprintf("%v: %s", err, line))
			}
			k.notifyLocked()
		} else if strings.Contains(line, "fakesmsc: sent message ") {
			k.sentMO++
			k.notifyLocked()
		}
		k.mu.Unlock()
	}
}

func (k *Kannel) notifyLocked() {
	close(k.changed)
	k.changed = make(chan struct{})
}

// ParseLine parses one "Got message N: <FROM TO TYPE …>" line of fakesmsc's output.
func ParseLine(line string) (Message, error) {
	_, rest, ok := strings.Cut(line, ": <")
	if !ok || !strings.HasSuffix(rest, ">") {
		return Message{}, errors.New("not a received-message line")
	}
	rest = strings.TrimSuffix(rest, ">")
	f := strings.SplitN(rest, " ", 4)
	if len(f) < 3 {
		return Message{}, errors.New("fewer than three fields")
	}
	m := Message{From: f[0], To: f[1], Type: f[2]}
	payload := ""
	if len(f) == 4 {
		payload = f[3]
	}
	var err error
	switch m.Type {
	case "text":
		m.Data, m.Coding, m.Text = []byte(payload), "gsm", payload
	case "data":
		if m.Data, err = unescape(payload); err != nil {
			return m, err
		}
		m.Coding, m.Text = "8bit", string(m.Data)
	case "ucs-2":
		if m.Data, err = unescape(payload); err != nil {
			return m, err
		}
		m.Coding = "ucs2"
		if m.Text, err = fromUTF16BE(m.Data); err != nil {
			return m, err
		}
	case "udh":
		udh, data, ok := strings.Cut(payload, " data ")
		if !ok {
			return m, errors.New("udh message without data")
		}
		if m.UDH, err = unescape(udh); err != nil {
			return m, err
		}
		if m.Data, err = unescape(data); err != nil {
			return m, err
		}
		if t, err := fromUTF16BE(m.Data); err == nil && !printableASCII(m.Data) {
			m.Coding, m.Text = "ucs2", t
		} else {
			m.Coding, m.Text = "gsm", string(m.Data)
		}
	default:
		return m, fmt.Errorf("unknown message type %q", m.Type)
	}
	return m, nil
}

// unescape undoes Kannel's URL encoding, where a 0x20 byte is a '+'.
func unescape(s string) ([]byte, error) {
	u, err := url.QueryUnescape(s)
	return []byte(u), err
}

func printableASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

func fromUTF16BE(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", errors.New("odd number of UCS-2 bytes")
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	for i := 0; i < len(u); i++ {
		if u[i] >= 0xD800 && u[i] < 0xDC00 && i+1 < len(u) && u[i+1] >= 0xDC00 && u[i+1] <= 0xDFFF {
			i++
			continue
		}
		if u[i] >= 0xD800 && u[i] <= 0xDFFF {
			return "", errors.New("unpaired surrogate")
		}
	}
	return string(utf16.Decode(u)), nil
}

// ToUTF16BE encodes s as UCS-2/UTF-16BE bytes, as a phone sends Chinese.
func ToUTF16BE(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c>>8), byte(c)
	}
	return b
}

// Received returns what the fake SMS centre has received so far, in order.
func (k *Kannel) Received() []Message {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]Message(nil), k.received...)
}

// Count is how many messages the fake SMS centre has received.
func (k *Kannel) Count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.received)
}

// Unparsed returns fakesmsc output lines that looked like received messages but could not
// be parsed.
func (k *Kannel) Unparsed() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.bad...)
}

// WaitReceived waits until the fake SMS centre has received at least n messages and
// returns all it has.
func (k *Kannel) WaitReceived(ctx context.Context, n int) ([]Message, error) {
	for {
		k.mu.Lock()
		got, ch := len(k.received), k.changed
		if got >= n {
			out := append([]Message(nil), k.received...)
			k.mu.Unlock()
			return out, nil
		}
		k.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return k.Received(), fmt.Errorf("fake SMS centre received %d of %d messages: %w", got, n, ctx.Err())
		}
	}
}

// Inject makes the fake SMS centre deliver an inbound message from a phone: as UCS-2 when
// ucs2 is set (how a phone sends Chinese), else as GSM text.
func (k *Kannel) Inject(ctx context.Context, from, to, text string, ucs2 bool) error {
	if ucs2 {
		return k.InjectUCS2Bytes(ctx, from, to, ToUTF16BE(text))
	}
	if strings.ContainsAny(text, "\r\n") {
		return errors.New("kanneltest: an inbound GSM text cannot hold a line break")
	}
	return k.InjectLine(ctx, fmt.Sprintf("%s %s text %s", from, to, text))
}

// InjectUCS2Bytes injects an inbound UCS-2 message with the given bytes, which need not
// be valid UTF-16 (for tests of what rexian does with broken input).
func (k *Kannel) InjectUCS2Bytes(ctx context.Context, from, to string, b []byte) error {
	return k.InjectLine(ctx, fmt.Sprintf("%s %s ucs2 %s", from, to, escapeAll(b)))
}

func escapeAll(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		fmt.Fprintf(&s, "%%%02X", c)
	}
	return s.String()
}

// InjectLine writes one line in fakesmsc's input format ("SENDER RECEIVER TYPE DATA")
// and waits until fakesmsc has passed it to bearerbox. One line at a time: fakesmsc
// handles one line per wake-up of its input, so lines written together would wait.
func (k *Kannel) InjectLine(ctx context.Context, line string) error {
	if strings.ContainsAny(line, "\r\n") {
		return errors.New("kanneltest: an inbound line cannot hold a line break")
	}
	k.injectMu.Lock()
	defer k.injectMu.Unlock()
	k.mu.Lock()
	want := k.sentMO + 1
	k.mu.Unlock()
	if _, err := io.WriteString(k.moWriter, line+"\n"); err != nil {
		return fmt.Errorf("kanneltest: write to fakesmsc: %w", err)
	}
	for {
		k.mu.Lock()
		done, ch := k.sentMO >= want, k.changed
		k.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("kanneltest: fakesmsc did not pass on %q: %w", line, ctx.Err())
		}
	}
}

// freePorts asks the kernel for n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
