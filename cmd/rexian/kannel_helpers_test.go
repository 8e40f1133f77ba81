package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/sms/kannel/kanneltest"
)

// kannelPlatform is rexian running as `serve` does with the real Kannel and its fake SMS
// centre, the demo city seeded, and a bearer token per role asked for.
type kannelPlatform struct {
	r      *running
	kannel *kanneltest.Kannel
	tokens map[string]string // role → "Bearer …"
}

const testCallbackSecret = "kannel-callback-secret-0123"

// startKannelPlatform starts Kannel and rexian wired to each other. rexian's address must
// be known before Kannel starts (Kannel posts inbound messages to it) and Kannel's before
// rexian starts, so a free port is taken first. extraEnv and mod adjust the configuration.
func startKannelPlatform(t *testing.T, roles []string, extraEnv []string, mod func(*config.Config)) *kannelPlatform {
	t.Helper()
	addr := freeAddr(t)
	k := kanneltest.Start(t, kanneltest.Options{
		MOURL: "http://" + addr + "/sms/kannel/mo?secret=" + testCallbackSecret, MORecode: true, LogLevel: 3,
	})
	env, tokens := seedWithTokens(t, roles)
	p := &kannelPlatform{kannel: k, tokens: tokens}
	cfg := testConfig(t, append(append(env,
		"REXIAN_ADDR="+addr,
		"REXIAN_PUBLIC_URL=http://"+addr,
		"REXIAN_SMS_KANNEL_URL="+k.URL(),
		"REXIAN_SMS_KANNEL_USER="+k.User(),
		"REXIAN_SMS_KANNEL_PASSWORD="+k.Password(),
		"REXIAN_SMS_CALLBACK_SECRET="+testCallbackSecret,
		"REXIAN_SMS_POLL_INTERVAL=50ms",
	), extraEnv...))
	if mod != nil {
		mod(&cfg)
	}
	p.r = startApp(t, cfg)
	return p
}

// call sends a JSON request to the API as role and fails the test on anything but 2xx.
func (p *kannelPlatform) call(t *testing.T, role, method, path, body string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, p.r.base+"/api/v1"+path, bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", p.tokens[role])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, out)
	}
	var m map[string]any
	_ = json.Unmarshal(out, &m)
	return m
}
