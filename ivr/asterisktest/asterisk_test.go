package asterisktest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/ivr/asterisktest"
	"github.com/rexian/rexian/ivr/prompt"
)

func dialplanPrompts() []string {
	var names []string
	for n := range prompt.DialplanTexts() {
		names = append(names, n)
	}
	return names
}

// TestShippedConfigurationStartsClean: deploy/asterisk starts without an ERROR line, ARI
// answers with ari.conf's user, and the trunk and the 14 phones are there.
func TestShippedConfigurationStartsClean(t *testing.T) {
	a := asterisktest.Start(t, asterisktest.Options{})
	if errs := a.Errors(); len(errs) > 0 {
		t.Errorf("Asterisk logged %d ERROR lines at start with deploy/asterisk:\n%s", len(errs), strings.Join(errs, "\n"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := a.CLI(ctx, "pjsip show endpoints")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"trunk", "8001", "8014"} {
		if !strings.Contains(out, "Endpoint:  "+want) {
			t.Errorf("pjsip show endpoints lacks %s:\n%s", want, out)
		}
	}
}

// TestFallbackWhenNothingIsAttached: with no application on Stasis, a citizen hears the
// apology and leaves a voice message that lands in the spool (not in incoming/) with the
// caller's number and the dialled number in its name.
func TestFallbackWhenNothingIsAttached(t *testing.T) {
	a := asterisktest.Start(t, asterisktest.Options{Prompts: dialplanPrompts()})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := a.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{asterisktest.Speak(3 * time.Second)}}, "13800138000")
	if r.Err != nil {
		t.Fatalf("%v\n%s", r.Err, r.Output)
	}
	var files []string
	deadline := time.Now().Add(10 * time.Second)
	for len(files) == 0 && time.Now().Before(deadline) {
		files, _ = filepath.Glob(filepath.Join(a.SpoolDir(), "*_13800138000_12345_*.wav"))
		if len(files) == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if len(files) != 1 {
		entries, _ := os.ReadDir(a.SpoolDir())
		t.Fatalf("spool has %v, want one message of 13800138000", entries)
	}
	fi, err := os.Stat(files[0])
	if err != nil || fi.Size() < 8000 {
		t.Errorf("voice message %s: %v, %d bytes; want about 2 s of speech", files[0], err, fi.Size())
	}
}
