package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rexian/rexian/database"
)

// TestIdempotencyKeySurvivesKill9 runs the real binary, sends creating POSTs with
// Idempotency-Keys from several clients at once, kills the process with SIGKILL in the
// middle, starts it again and retries every request whose answer was lost: each key must
// have made exactly one ticket. It also checks the replay and the refusal of a reused key.
func TestIdempotencyKeySurvivesKill9(t *testing.T) {
	t.Parallel()
	env, tokens := seedWithTokens(t, []string{"operator"})
	bin := filepath.Join(t.TempDir(), "rexian")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr
	serveEnv := append(append(os.Environ(), env...), "REXIAN_ADDR="+addr, "REXIAN_LOG_LEVEL=warn")
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve")
		cmd.Env = serveEnv
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		eventually(t, "rexian serve to answer", func() bool {
			resp, err := http.Get(base + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
		return cmd
	}
	body := func(key string) string {
		return `{"citizen":{"name":"王先生","phone":"13912345678"},"content":"小区路灯不亮，请尽快修理","category":"TS-GN","external_ref":"` + key + `"}`
	}
	client := &http.Client{Timeout: 20 * time.Second}
	post := func(key, b string) (int, http.Header, string, error) {
		req, _ := http.NewRequest("POST", base+"/api/v1/tickets", strings.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", tokens["operator"])
		req.Header.Set("Idempotency-Key", key)
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, "", err
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(out), err
	}

	first := start()
	const clients, perClient = 8, 40
	var answered atomic.Int64
	lost := make(chan string, clients*perClient)
	firstAnswers := sync.Map{} // key → body
	var wg sync.WaitGroup
	killed := make(chan struct{})
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				key := fmt.Sprintf("k-%d-%d", c, i)
				select {
				case <-killed:
					lost <- key // never sent, or sent into a dead server: retried below
					continue
				default:
				}
				status, _, got, err := post(key, body(key))
				if err != nil || status != http.StatusCreated {
					lost <- key
					continue
				}
				firstAnswers.Store(key, got)
				answered.Add(1)
			}
		}()
	}
	eventually(t, "a quarter of the tickets to be answered", func() bool { return answered.Load() >= clients*perClient/4 })
	first.Process.Signal(syscall.SIGKILL)
	close(killed)
	wg.Wait()
	first.Wait()
	close(lost)
	var retry []string
	for k := range lost {
		retry = append(retry, k)
	}
	if len(retry) == 0 {
		t.Fatal("the kill lost no answer; nothing was tested")
	}
	t.Logf("%d answered before the kill, %d to retry", answered.Load(), len(retry))

	start()
	deadline := time.Now().Add(90 * time.Second)
	for _, key := range retry {
		for {
			status, header, got, err := post(key, body(key))
			if err == nil && status == http.StatusCreated {
				break
			}
			if err == nil && status != http.StatusConflict && status != http.StatusServiceUnavailable {
				t.Fatalf("retry %s = %d %s", key, status, got)
			}
			if time.Now().After(deadline) {
				t.Fatalf("retry %s still %d %v after 90s", key, status, err)
			}
			wait, _ := strconv.Atoi(header.Get("Retry-After"))
			<-time.After(time.Duration(max(wait, 1)) * time.Second / 4) // honour Retry-After
		}
	}

	// One ticket per key, counted in the database.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	db, err := database.Open(ctx, testConfig(t, env).DatabaseURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	var dup []struct {
		ExternalRef string
		N           int
	}
	db.WithContext(ctx).Raw(`SELECT external_ref, count(*) AS n FROM tickets WHERE external_ref LIKE 'k-%' GROUP BY external_ref HAVING count(*) <> 1`).Scan(&dup)
	var total int64
	db.WithContext(ctx).Table("tickets").Where("external_ref LIKE ?", "k-%").Count(&total)
	if len(dup) > 0 || total != clients*perClient {
		t.Errorf("tickets per key: %d keys with other than one (%v); %d tickets for %d keys", len(dup), dup, total, clients*perClient)
	}

	// A key answered before the kill gets the same answer again; with another body, 422.
	firstAnswers.Range(func(k, v any) bool {
		status, header, got, err := post(k.(string), body(k.(string)))
		if err != nil || status != http.StatusCreated || got != v.(string) || header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay of %s = %d %v, replayed %q; body equal %v", k, status, err, header.Get("Idempotent-Replayed"), got == v.(string))
		}
		status, _, got, _ = post(k.(string), body("other"))
		if status != http.StatusUnprocessableEntity || !strings.Contains(got, "idempotency_key_reused") {
			t.Errorf("reused key %s with another body = %d %s; want 422", k, status, got)
		}
		return false // one is enough
	})
}
