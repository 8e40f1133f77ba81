package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// controllerGoroutines is the sim's line on the controller's own goroutines: no more
// after the calls than before (none left behind by a call), and no call held.
var controllerGoroutines = regexp.MustCompile(`controller goroutines: before the calls (\d+), after (\d+); calls held at the end: false`)

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

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
	// event loop, the state-spell writer, …), and one from its start may still be ending
	// when the sim counts "before"; calls must add none that outlive them.
	if m := controllerGoroutines.FindStringSubmatch(out); m == nil || atoi(t, m[2]) > atoi(t, m[1]) {
		t.Errorf("controller goroutines left behind by the calls, or a call still held:\n%s", out)
	}
	if code, _, stderr := runCLI(t, env, "", "sim", "--calls", "0"); code == exitOK || !strings.Contains(stderr, "--calls") {
		t.Errorf("sim --calls 0: exit %d, %s", code, stderr)
	}
}
