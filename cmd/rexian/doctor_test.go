package main

import (
	"net"
	"strings"
	"testing"
)

// freeAddr is a loopback address nothing listens on (now: a test may take it later).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// doctorLine finds the checklist line of the named check.
func doctorLine(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 6 && strings.HasPrefix(l[6:], name) {
			return l
		}
	}
	return ""
}

func TestDoctorDatabaseAndLiveStore(t *testing.T) {
	env := testEnv(t, "")

	// A database nobody has migrated yet: reachable, but not migrated.
	code, out, stderr := runCLI(t, env, "", "doctor")
	if code != exitFailure || !strings.HasPrefix(doctorLine(out, "database migrated"), "FAIL") ||
		!strings.Contains(out, "fix: run 'rexian migrate'") || !strings.Contains(stderr, "checks failed") {
		t.Fatalf("doctor before migrate: exit %d\n%s%s", code, out, stderr)
	}
	if l := doctorLine(out, "database reachable"); !strings.HasPrefix(l, "ok") {
		t.Errorf("database reachable: %q", l)
	}

	if code, _, stderr := runCLI(t, env, "", "migrate"); code != exitOK {
		t.Fatalf("migrate: exit %d: %s", code, stderr)
	}
	code, out, stderr = runCLI(t, env, "", "doctor")
	if code != exitOK {
		t.Fatalf("doctor after migrate: exit %d\n%s%s", code, out, stderr)
	}
	for _, name := range []string{"database reachable", "database migrated", "clock", "live store", "data disk"} {
		if l := doctorLine(out, name); !strings.HasPrefix(l, "ok") {
			t.Errorf("%s: %q in\n%s", name, l, out)
		}
	}

	// Each failing on purpose: a database and a Redis where nothing listens, a data
	// folder that does not exist.
	tests := []struct {
		name, env, check, fix string
	}{
		{"database down", "REXIAN_DATABASE_URL=postgres://rexian@" + freeAddr(t) + "/rexian?sslmode=disable&connect_timeout=2",
			"database reachable", "correct database_url"},
		{"redis down", "REXIAN_REDIS_URL=redis://" + freeAddr(t) + "/0", "live store (Redis)", "start Redis"},
		{"no data folder", "REXIAN_DATA_DIR=" + t.TempDir() + "/missing", "data disk", "create the data folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, _ := runCLI(t, append(append([]string{}, env...), tt.env), "", "doctor")
			l := doctorLine(out, tt.check)
			if code != exitFailure || !strings.HasPrefix(l, "FAIL") || !strings.Contains(out, tt.fix) {
				t.Errorf("exit %d, %q; want FAIL with %q in\n%s", code, l, tt.fix, out)
			}
		})
	}
}
