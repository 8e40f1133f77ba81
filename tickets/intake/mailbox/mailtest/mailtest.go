// Package mailtest starts a throwaway Dovecot (IMAP) and Exim (SMTP with AUTH) on loopback
// for the mailbox tests: free ports, a temporary folder, a self-signed certificate, a
// passwd file of test users, and Exim delivering into the very Maildirs Dovecot serves, so
// that a reply sent over SMTP can be read back over IMAP.
//
// A test package starts one pair in TestMain (Start) and each test takes its own users
// (NewUser), so tests never see each other's mail. Both daemons need root (they drop to
// their own users); when they cannot run, Start returns an error that the tests turn into
// a skip, or a failure under REXIAN_TEST_REQUIRE_SERVICES=1.
package mailtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Domain is the mail domain of every test user.
const Domain = "example.test"

// Options change the servers started.
type Options struct {
	// IMAPCapability, when set, replaces the capabilities Dovecot announces after login
	// (e.g. without MOVE or IDLE, to exercise fallbacks).
	IMAPCapability string
}

// Server is a running Dovecot and Exim pair.
type Server struct {
	// IMAPAddr answers plain IMAP and offers STARTTLS; IMAPSAddr is implicit TLS.
	IMAPAddr, IMAPSAddr string
	// SMTPAddr answers SMTP with STARTTLS and AUTH PLAIN/LOGIN.
	SMTPAddr string
	// TLS trusts the servers' self-signed certificate.
	TLS *tls.Config

	dir      string
	mailRoot string
	uid, gid int
	procs    []*process
	mu       sync.Mutex
	next     atomic.Int64
	// smtpUser may submit mail; every other user only receives.
	smtpUser, smtpPass string
}

// Binaries reports whether the daemons are installed.
func Binaries() error {
	for _, b := range []string{"dovecot", "exim4"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("%s not installed, or not on PATH (apt-get install dovecot-imapd exim4-daemon-light): %w", b, err)
		}
	}
	return nil
}

// HowToStart tells a developer what the tests need.
const HowToStart = "run as root with the Debian packages dovecot-imapd and exim4-daemon-light installed (scripts/test installs them)"

// Start starts Dovecot and Exim. Stop them with Close.
func Start(opts Options) (_ *Server, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("dovecot and exim need root to start with a throwaway configuration")
	}
	if err := Binaries(); err != nil {
		return nil, err
	}
	eximUser, err := user.Lookup("Debian-exim")
	if err != nil {
		return nil, fmt.Errorf("user Debian-exim: %w", err)
	}
	uid, _ := strconv.Atoi(eximUser.Uid)
	gid, _ := strconv.Atoi(eximUser.Gid)
	dir, err := os.MkdirTemp("", "rexian-mailtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, mailRoot: filepath.Join(dir, "mail"), uid: uid, gid: gid, smtpUser: "rexian@" + Domain, smtpPass: "s3cret-smtp"}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	// Dovecot reads the folder as its own users; Exim, which drops to Debian-exim, writes
	// its spool and the mail. Mail users run as Debian-exim too, so both own the Maildirs.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	for _, d := range []string{"mail", "exim-spool", "exim-log", "run", "state"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{"mail", "exim-spool", "exim-log"} {
		if err := os.Chown(filepath.Join(dir, d), uid, gid); err != nil {
			return nil, err
		}
	}
	certPEM, keyPEM, pool, err := selfSigned()
	if err != nil {
		return nil, err
	}
	s.TLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	for name, b := range map[string][]byte{"cert.pem": certPEM, "key.pem": keyPEM} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o640); err != nil {
			return nil, err
		}
		if err := os.Chown(p, 0, gid); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "users"), nil, 0o644); err != nil {
		return nil, err
	}
	if err := s.addPasswd(s.smtpUser, s.smtpPass); err != nil {
		return nil, err
	}
	// Dovecot looks at the passwd file at most once a second, so users added while it
	// runs may not log in at once: make a supply of them before it starts.
	for i := range poolSize {
		if err := s.addPasswd(poolUser(i), poolPassword(i)); err != nil {
			return nil, err
		}
	}

	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	s.IMAPAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	s.IMAPSAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
	s.SMTPAddr = fmt.Sprintf("127.0.0.1:%d", ports[2])

	dovecotConf := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(dovecotConf, []byte(s.dovecotConfig(ports[0], ports[1], opts)), 0o644); err != nil {
		return nil, err
	}
	eximConf := filepath.Join(dir, "exim.conf")
	if err := os.WriteFile(eximConf, []byte(s.eximConfig(ports[2])), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.Command("exim4", "-C", eximConf, "-bV").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("exim configuration: %v: %s", err, out)
	}
	if err := s.run(filepath.Join(dir, "dovecot.out"), "dovecot", "-F", "-c", dovecotConf); err != nil {
		return nil, err
	}
	if err := s.run(filepath.Join(dir, "exim.out"), "exim4", "-C", eximConf, "-bdf", "-q1m"); err != nil {
		return nil, err
	}
	for _, a := range []string{s.IMAPAddr, s.IMAPSAddr, s.SMTPAddr} {
		if err := waitListening(a, 15*time.Second); err != nil {
			return nil, fmt.Errorf("%w; logs: %s", err, s.Logs())
		}
	}
	return s, nil
}

func (s *Server) run(logFile, name string, args ...string) error {
	out, err := os.Create(logFile)
	if err != nil {
		return err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	s.procs = append(s.procs, p)
	go func() { _ = cmd.Wait(); out.Close(); close(p.done) }()
	return nil
}

// process is a daemon started by Start; done closes when it has exited.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// Logs returns what the daemons wrote, for a failing test's message.
func (s *Server) Logs() string {
	var b strings.Builder
	for _, f := range []string{"dovecot.out", "dovecot.log", "exim.out", "exim-log/mainlog", "exim-log/paniclog", "exim-log/rejectlog"} {
		if data, err := os.ReadFile(filepath.Join(s.dir, f)); err == nil && len(data) > 0 {
			fmt.Fprintf(&b, "--- %s\n%s\n", f, data)
		}
	}
	return b.String()
}

// Close stops both daemons (their process groups, which they started) and removes the folder.
func (s *Server) Close() {
	for _, p := range s.procs {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range s.procs {
		select {
		case <-p.done:
		case <-time.After(time.Until(deadline)):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// SMTPUser is the account that may submit mail.
func (s *Server) SMTPUser() (user, password string) { return s.smtpUser, s.smtpPass }

// NewUser hands out a mailbox user of its own to a test and returns its address and
// password. The prefix only makes logs easier to read.
func (s *Server) NewUser(t testing.TB, prefix string) (addr, password string) {
	t.Helper()
	n := int(s.next.Add(1)) - 1
	if n >= poolSize {
		t.Fatalf("mailtest: more than %d users asked for; raise poolSize", poolSize)
	}
	t.Logf("mailbox user %s is %s", prefix, poolUser(n))
	return poolUser(n), poolPassword(n)
}

const poolSize = 200

func poolUser(i int) string     { return fmt.Sprintf("user%03d@%s", i, Domain) }
func poolPassword(i int) string { return fmt.Sprintf("pw-%03d", i) }

func (s *Server) addPasswd(addr, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Homes are named by local part: Exim's dsearch lookup of the local part is what
	// makes the delivery path untainted.
	local, _, _ := strings.Cut(addr, "@")
	home := filepath.Join(s.mailRoot, local)
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	if err := os.Chown(home, s.uid, s.gid); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(s.dir, "users"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%s:{PLAIN}%s:%d:%d::%s\n", addr, password, s.uid, s.gid, home); err != nil {
		return err
	}
	return nil
}

func (s *Server) dovecotConfig(imapPort, imapsPort int, opts Options) string {
	capability := ""
	if opts.IMAPCapability != "" {
		capability = "protocol imap {\n  imap_capability = " + opts.IMAPCapability + "\n}\n"
	}
	return fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
instance_name = rexian-mailtest-%[2]d
log_path = %[1]s/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = yes
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
# Failed logins from loopback must not slow the next test's logins (auth penalty).
login_trusted_networks = 127.0.0.0/8
mail_location = maildir:~/Maildir
first_valid_uid = 1
first_valid_gid = 1
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/users
}
userdb {
  driver = passwd-file
  args = username_format=%%u %[1]s/users
}
namespace inbox {
  inbox = yes
  separator = /
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[3]d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[4]d
    ssl = yes
  }
}
%[5]s`, s.dir, os.Getpid(), imapPort, imapsPort, capability)
}

func (s *Server) eximConfig(port int) string {
	return fmt.Sprintf(`primary_hostname = mail.%[2]s
qualify_domain = %[2]s
domainlist local_domains = %[2]s
daemon_smtp_ports = %[3]d
local_interfaces = 127.0.0.1
spool_directory = %[1]s/exim-spool
log_file_path = %[1]s/exim-log/%%slog
tls_advertise_hosts = *
tls_certificate = %[1]s/cert.pem
tls_privatekey = %[1]s/key.pem
auth_advertise_hosts = *
host_lookup =
rfc1413_hosts =
keep_environment =
acl_smtp_rcpt = acl_check_rcpt

begin acl

acl_check_rcpt:
  accept authenticated = *
  deny message = authentication required

begin routers

local_maildir:
  driver = accept
  domains = +local_domains
  local_parts = dsearch;%[4]s
  transport = maildir_delivery

begin transports

maildir_delivery:
  driver = appendfile
  maildir_format
  directory = %[4]s/${local_part_data}/Maildir
  create_directory
  delivery_date_add
  envelope_to_add
  return_path_add
  mode = 0600
  directory_mode = 0700

begin authenticators

plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${if and {{eq{$auth2}{%[5]s}}{eq{$auth3}{%[6]s}}}}
  server_set_id = $auth2

login:
  driver = plaintext
  public_name = LOGIN
  server_prompts = "Username:: : Password::"
  server_condition = ${if and {{eq{$auth1}{%[5]s}}{eq{$auth2}{%[6]s}}}}
  server_set_id = $auth1
`, s.dir, Domain, port, s.mailRoot, s.smtpUser, s.smtpPass)
}

func selfSigned() (certPEM, keyPEM []byte, pool *x509.CertPool, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "mail." + Domain},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost", "mail." + Domain},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), pool, nil
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func waitListening(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing answers on %s after %s: %w", addr, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Dial logs in as addr over plain IMAP on loopback.
func (s *Server) Dial(t testing.TB, addr, password string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(s.IMAPAddr, nil)
	if err != nil {
		t.Fatalf("dial imap: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(addr, password).Wait(); err != nil {
		t.Fatalf("imap login %s: %v", addr, err)
	}
	return c
}

// Append puts a letter into a user's folder, as a mail server delivering it would.
func (s *Server) Append(t testing.TB, addr, password, folder string, raw []byte) {
	t.Helper()
	c := s.Dial(t, addr, password)
	defer c.Logout()
	cmd := c.Append(folder, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		t.Fatalf("append: %v", err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("append: %v", err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("append to %s: %v", folder, err)
	}
}

// Letter is a letter found in a folder.
type Letter struct {
	UID   imap.UID
	Flags []imap.Flag
	Raw   []byte
}

// Folder returns the letters in a user's folder; a missing folder is empty.
func (s *Server) Folder(t testing.TB, addr, password, folder string) []Letter {
	t.Helper()
	c := s.Dial(t, addr, password)
	defer c.Logout()
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		if strings.Contains(err.Error(), "NONEXISTENT") || strings.Contains(err.Error(), "doesn't exist") {
			return nil
		}
		t.Fatalf("select %s: %v", folder, err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{section},
	}).Collect()
	if err != nil {
		t.Fatalf("fetch %s: %v", folder, err)
	}
	var out []Letter
	for _, m := range msgs {
		out = append(out, Letter{UID: m.UID, Flags: m.Flags, Raw: m.FindBodySection(section)})
	}
	return out
}

// WaitFolder polls a folder until cond holds for its letters or ctx ends.
func (s *Server) WaitFolder(ctx context.Context, t testing.TB, addr, password, folder string, cond func([]Letter) bool) []Letter {
	t.Helper()
	for {
		ls := s.Folder(t, addr, password, folder)
		if cond(ls) {
			return ls
		}
		select {
		case <-ctx.Done():
			t.Fatalf("folder %s of %s: condition not met before the deadline; it holds %d letters\n%s", folder, addr, len(ls), s.Logs())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
