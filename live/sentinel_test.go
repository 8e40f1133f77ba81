package live_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/live"
)

func TestParseSentinelURL(t *testing.T) {
	type want struct {
		Master, Password, Username, SentinelPassword string
		Sentinels                                    []string
		DB                                           int
		TLS                                          bool
	}
	for _, tc := range []struct {
		url  string
		want want
		err  string
	}{
		{url: "redis-sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3/mymaster",
			want: want{Master: "mymaster", Sentinels: []string{"10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"}}},
		{url: "redis-sentinel://:s3cret@s1:26380/hotline/2?sentinel_password=sp&dial_timeout=1s",
			want: want{Master: "hotline", Password: "s3cret", SentinelPassword: "sp", Sentinels: []string{"s1:26380"}, DB: 2}},
		{url: "rediss-sentinel://rexian:pw@s1:26379/m",
			want: want{Master: "m", Username: "rexian", Password: "pw", Sentinels: []string{"s1:26379"}, TLS: true}},
		{url: "redis-sentinel://s1:26379", err: "no master name"},
		{url: "redis-sentinel://s1:26379/m/x", err: `database "x" is not a number`},
		{url: "redis-sentinel://s1:26379/m/0/1", err: "want /MASTER or /MASTER/DB"},
		{url: "redis-sentinel:///m", err: "no sentinel addresses"},
		{url: "redis-sentinel://s1/m?bogus=1", err: "unexpected option: bogus"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			o, err := live.ParseSentinelURL(tc.url)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := want{Master: o.MasterName, Password: o.Password, Username: o.Username, SentinelPassword: o.SentinelPassword,
				Sentinels: o.SentinelAddrs, DB: o.DB, TLS: o.TLSConfig != nil}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("options (-want +got):\n%s", d)
			}
		})
	}
}

// TestSentinelFailover runs a real Redis master, its replica and a sentinel, connects
// through the sentinel, kills the master with SIGKILL and checks that the client follows
// the promoted replica: writes fail only while the sentinels fail over, then work again
// without a reconnect by hand, on the former replica.
func TestSentinelFailover(t *testing.T) {
	server, err := exec.LookPath("redis-server")
	if err != nil {
		dbtest.Unavailable(t, "redis-server", "apt-get install redis-server", err)
	}
	sentinelBin, err := exec.LookPath("redis-sentinel")
	if err != nil {
		dbtest.Unavailable(t, "redis-sentinel", "apt-get install redis-sentinel (scripts/test does)", err)
	}
	dir := t.TempDir()
	ports := freePorts(t, 3)
	master := startProcess(t, dir, "master", server, "--bind", "127.0.0.1", "--port", fmt.Sprint(ports[0]),
		"--dir", dir, "--save", "", "--appendonly", "no", "--dbfilename", "master.rdb")
	startProcess(t, dir, "replica", server, "--bind", "127.0.0.1", "--port", fmt.Sprint(ports[1]),
		"--dir", dir, "--save", "", "--appendonly", "no", "--dbfilename", "replica.rdb",
		"--replicaof", "127.0.0.1", fmt.Sprint(ports[0]))
	conf := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`bind 127.0.0.1
port %d
dir %s
sentinel monitor hotline 127.0.0.1 %d 1
sentinel down-after-milliseconds hotline 1000
sentinel failover-timeout hotline 10000
sentinel parallel-syncs hotline 1
`, ports[2], dir, ports[0])), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, dir, "sentinel", sentinelBin, conf)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url := fmt.Sprintf("redis-sentinel://127.0.0.1:%d/hotline/0", ports[2])
	var s *live.Store
	// The sentinel needs a moment to learn of the master and its replica.
	waitFor(t, ctx, "the sentinel to name the master", func() error {
		var err error
		s, err = live.Open(ctx, url, nil)
		return err
	})
	t.Cleanup(func() { s.Close() })
	if err := s.Set(ctx, "before", "1", 0).Err(); err != nil {
		t.Fatalf("write through the sentinel: %v", err)
	}
	waitFor(t, ctx, "the replica to be in sync", func() error {
		n, err := s.Do(ctx, "WAIT", 1, 1000).Int()
		if err == nil && n < 1 {
			err = errors.New("no replica acknowledged")
		}
		return err
	})

	// The sentinel learns the replica's link state from INFO every few seconds; a failover
	// started before it has seen the link up waits for a replica it believes unsynced.
	sentinel := redis.NewSentinelClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", ports[2])})
	t.Cleanup(func() { sentinel.Close() })
	waitFor(t, ctx, "the sentinel to see the replica in sync", func() error {
		rs, err := sentinel.Replicas(ctx, "hotline").Result()
		if err != nil {
			return err
		}
		for _, r := range rs {
			if r["master-link-status"] == "ok" && r["flags"] == "slave" {
				return nil
			}
		}
		return fmt.Errorf("replicas: %v", rs)
	})

	if err := master.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var failures, writes int
	var lastErr error
	for recovered := 0; recovered < 20; {
		if ctx.Err() != nil {
			t.Fatalf("no failover after %s: %d writes failed, the last with %v", time.Since(killed).Round(time.Millisecond), failures, lastErr)
		}
		wctx, wcancel := context.WithTimeout(ctx, 3*time.Second)
		err := s.Incr(wctx, "after").Err()
		wcancel()
		writes++
		if err != nil {
			failures++
			lastErr = err
			recovered = 0
			time.Sleep(100 * time.Millisecond) // a client retrying at a human pace
			continue
		}
		recovered++
	}
	t.Logf("failover: %d writes, %d failed, working again %s after the master was killed", writes, failures,
		time.Since(killed).Round(time.Millisecond))
	if got, err := s.Get(ctx, "before").Result(); err != nil || got != "1" {
		t.Errorf("key written before the failover = %q, %v; want 1 (it was replicated)", got, err)
	}
	role, err := s.Do(ctx, "ROLE").Slice()
	if err != nil || len(role) == 0 || role[0] != "master" {
		t.Errorf("ROLE of the server now written to = %v, %v; want master", role, err)
	}
	info, err := s.Info(ctx, "server").Result()
	if err != nil || !strings.Contains(info, fmt.Sprintf("tcp_port:%d", ports[1])) {
		t.Errorf("the client writes to a server other than the promoted replica on port %d", ports[1])
	}
}

func startProcess(t *testing.T, dir, name, bin string, args ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s log:\n%s", name, tail(string(b), 40))
		}
	})
	return cmd
}

func tail(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func waitFor(t *testing.T, ctx context.Context, what string, f func() error) {
	t.Helper()
	var err error
	for ctx.Err() == nil {
		if err = f(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: %v", what, err)
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
