package dbtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Postgres is a PostgreSQL server of one test's own, on a free port, that the test may
// stop and start again to stand for an outage without disturbing other tests.
type Postgres struct {
	bin, dir string
	port     int
	cred     *syscall.Credential // run as the postgres user when the test runs as root
}

// StartPostgres initialises and starts a throw-away PostgreSQL (the server binaries of
// /usr/lib/postgresql/*/bin), stopped and removed when t ends. It skips (or fails, under
// REXIAN_TEST_REQUIRE_SERVICES=1) where the binaries are not installed.
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		Unavailable(t, "PostgreSQL server binaries", "apt-get install postgresql (scripts/test does)", fmt.Errorf("no /usr/lib/postgresql/*/bin/initdb"))
	}
	sort.Strings(bins)
	p := &Postgres{bin: filepath.Dir(bins[len(bins)-1])}
	// initdb refuses to run as root; t.TempDir's parents are closed to other users.
	dir, err := os.MkdirTemp("", "rexian-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			Unavailable(t, "the postgres user", "apt-get install postgresql", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p.run(t, "initdb", "-D", p.data(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	p.Start(t)
	t.Cleanup(func() {
		// Stopped already, when the test ended in an outage: pg_ctl says so, harmlessly.
		_ = p.ctl("stop", "-m", "immediate")
	})
	return p
}

func (p *Postgres) data() string { return filepath.Join(p.dir, "data") }

// URL is the server's database postgres.
func (p *Postgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// Start starts the server and waits until it accepts connections.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	if err := p.ctl("start", "-w", "-t", "60", "-l", filepath.Join(p.dir, "postgres.log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", p.port, p.dir)); err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "postgres.log"))
		t.Fatalf("start PostgreSQL: %v\n%s", err, log)
	}
}

// Crash stops the server at once, as a power cut or a killed postmaster would: open
// connections are cut and new ones refused.
func (p *Postgres) Crash(t testing.TB) {
	t.Helper()
	if err := p.ctl("stop", "-w", "-m", "immediate"); err != nil {
		t.Fatalf("stop PostgreSQL: %v", err)
	}
}

func (p *Postgres) ctl(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, "pg_ctl"), append([]string{"-D", p.data()}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %v: %w: %s", args, err, out)
	}
	return nil
}

func (p *Postgres) run(t testing.TB, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", name, err, out)
	}
}

// StartStandby makes a hot standby of p (pg_basebackup with streaming replication, on a
// free port of its own), started and read-only, stopped and removed when t ends. Writes
// made on p reach it within moments; the test may pause its replay with
// pg_wal_replay_pause() to stand for a lagging standby.
func (p *Postgres) StartStandby(t testing.TB) *Postgres {
	t.Helper()
	s := &Postgres{bin: p.bin, cred: p.cred}
	dir, err := os.MkdirTemp("", "rexian-pg-standby-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s.dir = dir
	if p.cred != nil {
		if err := os.Chown(dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// -R writes standby.signal and the primary_conninfo; initdb's trust rules allow
	// replication connections from loopback.
	s.run(t, "pg_basebackup", "-D", s.data(), "-R", "-X", "stream", "-h", "127.0.0.1", "-p", strconv.Itoa(p.port), "-U", "postgres", "--no-sync")
	s.Start(t)
	t.Cleanup(func() { _ = s.ctl("stop", "-m", "immediate") })
	return s
}

// Port is the port the server listens on.
func (p *Postgres) Port() int { return p.port }
