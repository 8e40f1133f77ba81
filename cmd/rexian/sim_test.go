package main

import (
	"strings"
	"testing"
)

func TestSimCommand(t *testing.T) {
	env := testEnv(t, "")
	code, out, stderr := runCLI(t, env, "", "sim", "--calls", "6", "--rate", "0", "--operators", "6", "--answer-after", "10ms", "--talk", "20ms")
	if code != exitOK {
		t.Fatalf("sim: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"calls 6  bridged to an operator 6", "ARI event → REST answer:  p50", "controller goroutines: before the calls 2, after 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("sim output lacks %q:\n%s", want, out)
		}
	}
	if code, _, stderr := runCLI(t, env, "", "sim", "--calls", "0"); code == exitOK || !strings.Contains(stderr, "--calls") {
		t.Errorf("sim --calls 0: exit %d, %s", code, stderr)
	}
}
