package main

import (
	"regexp"
	"strings"
	"testing"
)

// controllerGoroutines is the sim's line on the controller's own goroutines: as many
// after the calls as before (none left behind by a call), and no call held.
var controllerGoroutines = regexp.MustCompile(`controller goroutines: before the calls (\d+), after (\d+); calls held at the end: false`)

func TestSimCommand(t *testing.T) {
	env := testEnv(t, "")
	code, out, stderr := runCLI(t, env, "", "sim", "--calls", "6", "--rate", "0", "--operators", "6", "--answer-after", "10ms", "--talk", "20ms")
	if code != exitOK {
		t.Fatalf("sim: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"calls 6  bridged to an operator 6", "ARI event → REST answer:  p50"} {
		if !strings.Contains(out, want) {
			t.Errorf("sim output lacks %q:\n%s", want, out)
		}
	}
	// The controller keeps a few goroutines of its own for as long as it runs (the
	// event loop, the state-spell writer, …); calls must add none that outlive them.
	if m := controllerGoroutines.FindStringSubmatch(out); m == nil || m[1] != m[2] {
		t.Errorf("controller goroutines left behind by the calls, or a call still held:\n%s", out)
	}
	if code, _, stderr := runCLI(t, env, "", "sim", "--calls", "0"); code == exitOK || !strings.Contains(stderr, "--calls") {
		t.Errorf("sim --calls 0: exit %d, %s", code, stderr)
	}
}
