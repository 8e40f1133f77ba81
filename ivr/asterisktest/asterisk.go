package asterisktest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rexian/rexian/database/dbtest"
)

// Build is the Asterisk build the tests run, relative to the repository root.
const Build = "../shared/asterisk/dist/asterisk-22.10.1-debian12-amd64.tar.xz"

// HowToInstall is what a skipped test tells the reader.
const HowToInstall = "put the Asterisk build at " + Build + " (relative to the repository root) and " +
	"apt-get install libjansson4 libxml2 libxslt1.1 libsqlite3-0 libedit2 libicu72 libsrtp2-1 uuid-runtime " +
	"asterisk-core-sounds-en-gsm asterisk-moh-opsound-gsm sip-tester (scripts/test does it)"

// Options shape the Asterisk a test gets.
type Options struct {
	// ConfigDir is the configuration laid over the build's base: deploy/asterisk of the
	// repository unless set.
	ConfigDir string
	// Prompts are the sound names placed as short tones under sounds/<Language>/<PromptDir>
	// (the controller's prompts, the dialplan's fallback-*, dept-*); Digits those under
	// sounds/<Language>/digits, which digits: and number: playback read.
	Prompts, Digits []string
	// PromptDir and Language say where prompts go ("rexian", "zh": ivr.prompt_dir and
	// ivr.language as shipped).
	PromptDir, Language string
	// PromptLength is how long each placed prompt plays (default 300 ms), so that a call's
	// whole script runs in seconds.
	PromptLength time.Duration
	// NoRecordingFolder removes the spool's recording/ folder after the start, as on a
	// fresh install where no step created it: ARI record then fails.
	NoRecordingFolder bool
	// NoVoicemailSpool leaves out the fallback's spool folder (rexian-voicemail/ and its
	// incoming/), which deploy/asterisk/README.md has the admin create.
	NoVoicemailSpool bool
	// Globals change [globals] of extensions.conf (TRUNK_OUTBOUND_MAX: "2"); each must be
	// there already.
	Globals map[string]string
	// Trunk sets options of the trunk's endpoint in pjsip.conf (from_domain, send_pai),
	// replacing the shipped line (commented out or not) or adding one.
	Trunk map[string]string
}

// Asterisk is one running Asterisk.
type Asterisk struct {
	t        testing.TB
	root     string // ROOT of run-asterisk: etc/, lib/, spool/, log/, run/
	binary   string // sbin/asterisk of the build
	conf     string // ROOT/etc/asterisk.conf
	httpPort int
	sipPort  int
	// carriers are the trunk's SIP ports: where the carrier's SIPp sends from (one SIPp
	// per port; a few, so that calls with different scripts can overlap).
	carriers []int
	busy     map[int]bool // carrier ports a SIPp runs on now
	mu       sync.Mutex
	callee   int // the trunk's contact port: where the carrier's SIPp takes rexian's calls
	ariUser  string
	ariPass  string
	phones   map[string]string // operator phone → its password in pjsip.conf
	opts     Options
	stopOnce sync.Once
}

// Start runs an Asterisk for t and stops it when t ends. It fails t when Asterisk does not
// come up, and skips it (or fails it, when services are required) when the build or SIPp is
// missing.
func Start(t testing.TB, opts Options) *Asterisk {
	t.Helper()
	home, err := unpacked()
	if err != nil {
		dbtest.Unavailable(t, "the Asterisk build", HowToInstall, err)
	}
	if _, err := exec.LookPath("sipp"); err != nil {
		dbtest.Unavailable(t, "SIPp", HowToInstall, err)
	}
	if opts.ConfigDir == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		opts.ConfigDir = filepath.Join(root, "deploy", "asterisk")
	}
	if opts.PromptDir == "" {
		opts.PromptDir = "rexian"
	}
	if opts.Language == "" {
		opts.Language = "zh"
	}
	if opts.PromptLength <= 0 {
		opts.PromptLength = 300 * time.Millisecond
	}
	a := &Asterisk{
		t: t, root: t.TempDir(), binary: filepath.Join(home, "sbin", "asterisk"),
		httpPort: freeTCPPort(t), sipPort: freeUDPPort(t),
		carriers: []int{freeUDPPort(t), freeUDPPort(t), freeUDPPort(t)}, busy: map[int]bool{},
		callee: freeUDPPort(t), opts: opts,
	}
	a.conf = filepath.Join(a.root, "etc", "asterisk.conf")
	overrides := filepath.Join(t.TempDir(), "overrides")
	if err := a.writeOverrides(opts.ConfigDir, overrides); err != nil {
		t.Fatal(err)
	}
	if err := a.placePrompts(opts.PromptDir, opts.Prompts); err != nil {
		t.Fatal(err)
	}
	if err := a.placePrompts("digits", opts.Digits); err != nil {
		t.Fatal(err)
	}
	linkEnglishSounds(a.root)
	if !opts.NoVoicemailSpool {
		if err := os.MkdirAll(filepath.Join(a.SpoolDir(), "incoming"), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(home, "run-asterisk"), a.root, opts.ConfigDir, overrides).CombinedOutput()
	t.Cleanup(a.stop)
	if err != nil {
		t.Fatalf("run-asterisk: %v\n%s\n%s", err, out, a.logTail(40))
	}
	if err := a.waitARI(ctx); err != nil {
		t.Fatalf("Asterisk's ARI did not answer: %v\n%s", err, a.logTail(40))
	}
	// What callers heard ("Playing 'rexian/…'") is logged at verbose level 3; a daemon
	// without a console keeps the level only while a remote console is attached.
	if _, err := a.CLI(ctx, "core set verbose 3"); err != nil {
		t.Fatal(err)
	}
	if opts.NoRecordingFolder {
		if err := os.RemoveAll(filepath.Join(a.root, "spool", "recording")); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// ARIURL is the base URL rexian's REXIAN_ARI_URL takes (http://127.0.0.1:PORT).
func (a *Asterisk) ARIURL() string { return fmt.Sprintf("http://127.0.0.1:%d", a.httpPort) }

// ARIUser and ARIPassword are the ARI credentials of deploy/asterisk/ari.conf.
func (a *Asterisk) ARIUser() string     { return a.ariUser }
func (a *Asterisk) ARIPassword() string { return a.ariPass }

// SIPAddr is where Asterisk takes SIP (UDP).
func (a *Asterisk) SIPAddr() string { return fmt.Sprintf("127.0.0.1:%d", a.sipPort) }

// Root is the folder holding this Asterisk's state (etc/, lib/, spool/, log/).
func (a *Asterisk) Root() string { return a.root }

// SpoolDir is the fallback's voice message folder (REXIAN_SPOOL in extensions.conf:
// rexian-voicemail under Asterisk's spool), which rexian's ivr.spool_dir names.
func (a *Asterisk) SpoolDir() string { return filepath.Join(a.root, "spool", "rexian-voicemail") }

// RecordingDir is where ARI recordings are stored.
func (a *Asterisk) RecordingDir() string { return filepath.Join(a.root, "spool", "recording") }

// CLI runs an Asterisk CLI command (asterisk -rx) and returns its output.
func (a *Asterisk) CLI(ctx context.Context, command string) (string, error) {
	out, err := exec.CommandContext(ctx, a.binary, "-C", a.conf, "-rx", command).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("asterisk -rx %q: %w: %s", command, err, out)
	}
	return string(out), nil
}

// Log is Asterisk's messages.log (notices, warnings, errors and verbose level 3).
func (a *Asterisk) Log() string {
	b, _ := os.ReadFile(filepath.Join(a.root, "log", "messages.log"))
	return string(b)
}

// Errors are the ERROR lines of Asterisk's log.
func (a *Asterisk) Errors() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(a.Log()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), " ERROR[") {
			out = append(out, sc.Text())
		}
	}
	return out
}

func (a *Asterisk) logTail(n int) string {
	lines := strings.Split(strings.TrimRight(a.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- Asterisk messages.log (last lines):\n" + strings.Join(lines, "\n")
}

// stop ends Asterisk and waits until its process is gone.
func (a *Asterisk) stop() {
	a.stopOnce.Do(func() {
		if a.t.Failed() {
			a.t.Logf("%s", a.logTail(60))
		}
		pid := a.pid()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if _, err := a.CLI(ctx, "core stop now"); err != nil && pid == 0 {
			return
		}
		for pid > 0 && syscall.Kill(pid, 0) == nil {
			if ctx.Err() != nil {
				a.t.Logf("asterisktest: Asterisk (pid %d) did not stop; killing it", pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func (a *Asterisk) pid() int {
	b, err := os.ReadFile(filepath.Join(a.root, "run", "asterisk.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// waitARI polls ARI until it answers with the configured user.
func (a *Asterisk) waitARI(ctx context.Context) error {
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.ARIURL()+"/ari/asterisk/info", nil)
		req.SetBasicAuth(a.ariUser, a.ariPass)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /ari/asterisk/info: %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return last
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// writeOverrides writes the files that differ from the shipped configuration: the
// HTTP port, the SIP port, and the trunk's addresses and ports (SIPp as the carrier, which
// answers no OPTIONS: qualify off; calls come from one port, rexian's calls go to
// another), and the test's Globals and Trunk options. Every change must find its line
// exactly once, so that a reworded shipped file fails here rather than testing something
// else.
func (a *Asterisk) writeOverrides(confDir, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	match := ""
	for _, p := range append([]int{a.callee}, a.carriers...) {
		match += fmt.Sprintf("match = 127.0.0.1:%d\n", p)
	}
	callee := fmt.Sprintf("127.0.0.1:%d", a.callee)
	edits := map[string][][2]string{
		"http.conf": {{"bindport = 8088\n", fmt.Sprintf("bindport = %d\n", a.httpPort)}},
		"pjsip.conf": {
			{"bind = 0.0.0.0:5060\n", fmt.Sprintf("bind = 127.0.0.1:%d\n", a.sipPort)},
			{"contact = sip:203.0.113.10:5060\nqualify_frequency = 30\n", "contact = sip:" + callee + "\nqualify_frequency = 0\n"},
			{"match = 203.0.113.10:5060\n", match},
		},
	}
	for k, v := range a.opts.Globals {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(k) + ` =.*\n`)
		b, err := os.ReadFile(filepath.Join(confDir, "extensions.conf"))
		if err != nil {
			return err
		}
		old := re.Find(b)
		if old == nil {
			return fmt.Errorf("asterisktest: extensions.conf has no global %s", k)
		}
		edits["extensions.conf"] = append(edits["extensions.conf"], [2]string{string(old), k + " = " + v + "\n"})
	}
	for file, changes := range edits {
		b, err := os.ReadFile(filepath.Join(confDir, file))
		if err != nil {
			return err
		}
		s := string(b)
		for _, c := range changes {
			if n := strings.Count(s, c[0]); n != 1 {
				return fmt.Errorf("asterisktest: %s has %q %d times, want once; update the test overrides with the file", file, strings.TrimSpace(c[0]), n)
			}
			s = strings.Replace(s, c[0], c[1], 1)
		}
		if file == "pjsip.conf" {
			if s, err = trunkOptions(s, a.opts.Trunk); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(s), 0o644); err != nil {
			return err
		}
	}
	ari, err := os.ReadFile(filepath.Join(confDir, "ari.conf"))
	if err != nil {
		return err
	}
	if m := regexp.MustCompile(`(?m)^\[(\w+)\]\ntype = user\n(?:[^\[]*\n)?password = (\S+)`).FindSubmatch(ari); m != nil {
		a.ariUser, a.ariPass = string(m[1]), string(m[2])
	} else {
		return errors.New("asterisktest: ari.conf names no user with a password")
	}
	pjsip, err := os.ReadFile(filepath.Join(confDir, "pjsip.conf"))
	if err != nil {
		return err
	}
	a.phones = map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\[(\d+)\]\(operator-auth\)\nusername = \d+\npassword = (\S+)`).FindAllSubmatch(pjsip, -1) {
		a.phones[string(m[1])] = string(m[2])
	}
	return nil
}

// trunkOptions sets options of the trunk's endpoint section of pjsip.conf.
func trunkOptions(conf string, set map[string]string) (string, error) {
	const head = "[trunk]\ntype = endpoint\n"
	start := strings.Index(conf, head)
	if start < 0 {
		return "", errors.New("asterisktest: pjsip.conf has no [trunk] endpoint")
	}
	end := strings.Index(conf[start:], "\n\n")
	if end < 0 {
		end = len(conf) - start
	}
	section := conf[start : start+end+1]
	for k, v := range set {
		re := regexp.MustCompile(`(?m)^;?` + regexp.QuoteMeta(k) + ` = .*\n`)
		if re.MatchString(section) {
			section = re.ReplaceAllLiteralString(section, k+" = "+v+"\n")
		} else {
			section += k + " = " + v + "\n"
		}
	}
	return conf[:start] + section + conf[start+end+1:], nil
}

// AddPrompts places more prompts (e.g. dept-<code> once the test's departments are
// known); Asterisk plays a new file at once.
func (a *Asterisk) AddPrompts(names ...string) error {
	return a.placePrompts(a.opts.PromptDir, names)
}

// placePrompts writes a short tone for each name under sounds/<language>/<dir>.
func (a *Asterisk) placePrompts(dir string, names []string) error {
	tone := toneWAV(a.opts.PromptLength)
	full := filepath.Join(a.root, "lib", "sounds", a.opts.Language, dir)
	if err := os.MkdirAll(full, 0o755); err != nil {
		return err
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(full, n+".wav"), tone, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// linkEnglishSounds makes Asterisk's English sounds (beep, digits) the fallback of
// every language. Debian's asterisk-core-sounds-en-gsm installs them as
// sounds/en_US_f_Allison and leaves the sounds/en link to the asterisk package, which a
// test machine need not have; run-asterisk links only sounds/en.
func linkEnglishSounds(root string) {
	const debian = "/usr/share/asterisk/sounds"
	if fileExists(filepath.Join(debian, "en")) || !fileExists(filepath.Join(debian, "en_US_f_Allison")) {
		return
	}
	_ = os.MkdirAll(filepath.Join(root, "lib", "sounds"), 0o755)
	_ = os.Symlink(filepath.Join(debian, "en_US_f_Allison"), filepath.Join(root, "lib", "sounds", "en"))
}

// toneWAV is d of a quiet 440 Hz tone as an 8 kHz 16-bit mono WAV, what Asterisk plays
// on any channel.
func toneWAV(d time.Duration) []byte {
	n := int(d.Seconds() * 8000)
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + 2*n))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1))
	le(uint16(1))
	le(uint32(8000))
	le(uint32(16000))
	le(uint16(2))
	le(uint16(16))
	b.WriteString("data")
	le(uint32(2 * n))
	for i := 0; i < n; i++ {
		le(int16(3000 * math.Sin(2*math.Pi*440*float64(i)/8000)))
	}
	return b.Bytes()
}

// ---- the build ----

var unpackOnce struct {
	sync.Once
	dir string
	err error
}

// unpacked returns the folder of the unpacked build (holding run-asterisk), unpacking the
// tarball the first time: into the user's cache folder, named by the tarball's size and
// time, so that test processes share one copy and a new build gets a new folder.
func unpacked() (string, error) {
	unpackOnce.Do(func() { unpackOnce.dir, unpackOnce.err = unpack() })
	return unpackOnce.dir, unpackOnce.err
}

func unpack() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	tarball := buildPath(root)
	info, err := os.Stat(tarball)
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	base := filepath.Join(cache, "rexian-test")
	dir := filepath.Join(base, fmt.Sprintf("asterisk-%d-%d", info.Size(), info.ModTime().Unix()))
	home := filepath.Join(dir, "asterisk-22.10.1")
	if _, err := os.Stat(filepath.Join(home, "run-asterisk")); err == nil {
		return home, nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(base, "unpacking-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.Command("tar", "-xJf", tarball, "-C", tmp).CombinedOutput(); err != nil {
		return "", fmt.Errorf("unpack %s: %w: %s", tarball, err, out)
	}
	// Another test process may have finished first; either copy serves.
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, fs.ErrExist) && !isNotEmpty(err) {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(home, "run-asterisk")); err != nil {
		return "", fmt.Errorf("unpacked build lacks run-asterisk: %w", err)
	}
	return home, nil
}

// buildPath is Build beside the repository: REXIAN_TEST_ASTERISK_BUILD when set, else
// relative to root, or, in a linked git worktree, relative to the main worktree (whose
// folder the shared files sit beside).
func buildPath(root string) string {
	if p := os.Getenv("REXIAN_TEST_ASTERISK_BUILD"); p != "" {
		return p
	}
	p := filepath.Join(root, filepath.FromSlash(Build))
	if _, err := os.Stat(p); err == nil {
		return p
	}
	// A linked worktree's .git is a file: "gitdir: <main>/.git/worktrees/<name>".
	b, err := os.ReadFile(filepath.Join(root, ".git"))
	if gitdir, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir: "); err == nil && ok {
		main := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Clean(gitdir))))
		if q := filepath.Join(main, filepath.FromSlash(Build)); fileExists(q) {
			return q
		}
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}

// repoRoot is the folder of the module's go.mod, found upwards from the working
// directory (a package's folder while testing).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/rexian/rexian\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("asterisktest: repository root (go.mod of github.com/rexian/rexian) not found above the working directory")
		}
		dir = parent
	}
}

// ---- ports ----

// Ports for Asterisk, SIPp and the ear come from above the kernel's ephemeral range
// (32768–60999 by default) and Asterisk's RTP range (5000–31000 without rtp.conf): a
// port the kernel handed out a moment ago to an outgoing connection, or Asterisk to a
// call's audio, is never chosen, which matters when several tests place calls at once.
// SIPp binds its media port and the one two above it (video), so each UDP port comes
// with the three above it free too. Ports are handed out in turn through the range, so
// a port comes round again only after every other has been handed out in this process.
const (
	portLow  = 61000
	portHigh = 65530
)

var ports struct {
	sync.Mutex
	next int
}

// freePort returns a port p such that p to p+span-1 are free to bind on 127.0.0.1
// (TCP or UDP, as network says).
func freePort(t testing.TB, network string, span int) int {
	t.Helper()
	ports.Lock()
	defer ports.Unlock()
	if ports.next == 0 {
		// Processes that run at once start at different places.
		ports.next = portLow + (os.Getpid()*7919)%(portHigh-portLow)
	}
	for range portHigh - portLow {
		p := ports.next
		ports.next += span
		if ports.next+span > portHigh {
			ports.next = portLow
		}
		if bindable(network, p, span) {
			return p
		}
	}
	t.Fatalf("no free %s port between %d and %d", network, portLow, portHigh)
	return 0
}

func bindable(network string, p, span int) bool {
	for i := range span {
		addr := "127.0.0.1:" + strconv.Itoa(p+i)
		if network == "tcp" {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return false
			}
			ln.Close()
			continue
		}
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return false
		}
		c.Close()
	}
	return true
}

func freeTCPPort(t testing.TB) int { return freePort(t, "tcp", 1) }

func freeUDPPort(t testing.TB) int { return freePort(t, "udp", 4) }

// WaitApp waits until the Stasis application app is registered over ARI (rexian's
// controller attached its event socket).
func (a *Asterisk) WaitApp(ctx context.Context, app string) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.ARIURL()+"/ari/applications/"+app, nil)
		req.SetBasicAuth(a.ariUser, a.ariPass)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("application %s not registered: %w", app, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// CPU is the processor time Asterisk has used so far (user and system), from /proc.
func (a *Asterisk) CPU() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", a.pid()))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("asterisktest: /proc stat too short")
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

// Restart restarts Asterisk in place (core restart now: every call is hung up, the
// WebSocket connections drop, what sorcery keeps in memory is lost) and waits until its
// ARI answers again.
func (a *Asterisk) Restart(ctx context.Context) error {
	old := a.pid()
	if _, err := a.CLI(ctx, "core restart now"); err != nil {
		return err
	}
	for a.pid() == old || a.pid() == 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("asterisktest: Asterisk did not restart: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := a.waitARI(ctx); err != nil {
		return err
	}
	_, err := a.CLI(ctx, "core set verbose 3")
	return err
}
