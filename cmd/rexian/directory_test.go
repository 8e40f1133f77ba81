package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/tickets"
)

// TestStartRefusesCategoriesTheDirectoryLacks: a configuration naming a category the
// directory lacks (or no longer uses) stops rexian at start-up, naming the key, instead
// of failing every ticket of that channel later.
func TestStartRefusesCategoriesTheDirectoryLacks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := append(testEnv(t, ""), "REXIAN_ARI_URL=http://127.0.0.1:1")

	// A fresh install: no directory yet. It starts (the directory is built in the console).
	app, err := NewApp(ctx, testConfig(t, env), testLogger(t))
	if err != nil {
		t.Fatalf("a fresh install with an empty directory did not start: %v", err)
	}
	app.Close()

	tests := []struct {
		name, key, value, want string
	}{
		{"unknown voice-message category", "REXIAN_IVR_VOICEMAIL_CATEGORY", "NOPE", `ivr.voicemail.category: unknown category "NOPE"`},
		{"unknown survey category", "REXIAN_CALLBACK_CATEGORY_SAMPLE", "ZX=0.5,XX=0.2", `callback.category_sample: unknown category "XX"`},
		{"category no longer in use", "REXIAN_IVR_VOICEMAIL_CATEGORY", "QZ-OLD", `ivr.voicemail.category: category "QZ-OLD" (旧留言) is no longer in use`},
	}
	// The demo city, with a category that was retired.
	app, err = NewApp(ctx, testConfig(t, env), testLogger(t), WithDemo())
	if err != nil {
		t.Fatal(err)
	}
	on, off := true, false
	for _, active := range []*bool{&on, &off} {
		if _, err := app.domains.tickets.SaveCategory(ctx, tickets.CategoryInput{Code: "QZ-OLD", Name: "旧留言", Parent: "QZ", Active: active}); err != nil {
			t.Fatal(err)
		}
	}
	app.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app, err := NewApp(ctx, testConfig(t, append(env, tc.key+"="+tc.value)), testLogger(t))
			if err == nil {
				app.Close()
				t.Fatalf("rexian started with %s=%s", tc.key, tc.value)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
	// As configured by default, the demo city starts.
	app, err = NewApp(ctx, testConfig(t, env), testLogger(t))
	if err != nil {
		t.Fatalf("the demo city with the default categories: %v", err)
	}
	app.Close()
}
