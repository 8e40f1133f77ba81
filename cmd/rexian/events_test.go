package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestShutdownEndsEventStreams: a console's open event stream must not hold a shutdown
// (or a restart) for the whole grace period.
func TestShutdownEndsEventStreams(t *testing.T) {
	env := testEnv(t, "")
	code, tok, stderr := runCLI(t, env, "", "tokens", "create", "--name", "wall", "--role", "supervisor", "--scope", "calls:read")
	if code != exitOK {
		t.Fatalf("tokens create: %s", stderr)
	}
	r := startApp(t, testConfig(t, env), withShutdownTimeout(20*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/api/v1/ivr/events", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	start := time.Now()
	r.stop()
	if err := r.wait(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("shutdown took %s with an event stream open; the stream should end at once", took)
	}
}
