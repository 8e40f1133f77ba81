package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/ivr"
)

// requireAudioTools skips (or fails under REXIAN_TEST_REQUIRE_SERVICES=1) when the
// prompt renderer's programs are not installed.
func requireAudioTools(t *testing.T) {
	t.Helper()
	for _, name := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(name); err != nil {
			dbtest.Unavailable(t, "espeak-ng and sox", "apt-get install espeak-ng sox", err)
		}
	}
}

func TestPromptsRendersConfigDialplanAndDepartments(t *testing.T) {
	requireAudioTools(t)
	env := testEnv(t, "")
	if code, _, stderr := runCLI(t, env, "", "seed", "--demo"); code != exitOK {
		t.Fatalf("seed --demo: exit %d: %s", code, stderr)
	}
	out := filepath.Join(t.TempDir(), "sounds")
	code, stdout, stderr := runCLI(t, env, "", "prompts", "--departments", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !regexp.MustCompile(`prompts in .*sounds: [1-9][0-9]* rendered, 0 up to date, 0 failed\n`).MatchString(stdout) {
		t.Errorf("summary missing:\n%s", stdout)
	}
	for _, want := range []string{"/var/lib/asterisk/sounds/zh/rexian/", "/var/lib/asterisk/sounds/zh/digits/"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("no install hint for %s:\n%s", want, stdout)
		}
	}
	// Mandarin digits for digits: and number: playback.
	for _, name := range []string{"0", "9", "hundred", "wan"} {
		if fi, err := os.Stat(filepath.Join(out, "digits", name+".wav")); err != nil || fi.Size() < 1000 {
			t.Errorf("digits/%s.wav: %v (%d bytes)", name, err, size(fi))
		}
	}
	// One configured prompt, one the dialplan plays, one department of the demo city.
	for _, name := range []string{"welcome-mayor", "menu-main", "fallback-sorry", "fallback-thanks", "dept-dsq", "dept-dsq-zjj"} {
		fi, err := os.Stat(filepath.Join(out, name+".wav"))
		if err != nil || fi.Size() < 4000 {
			t.Errorf("%s.wav: %v (%d bytes)", name, err, size(fi))
		}
	}

	// Nothing changed: nothing is rendered again.
	code, stdout, stderr = runCLI(t, env, "", "prompts", "--departments", "--out", out)
	if code != exitOK || strings.Contains(stdout, "rendered:") || !regexp.MustCompile(`: 0 rendered, [1-9][0-9]* up to date, 0 failed\n`).MatchString(stdout) {
		t.Errorf("second run: exit %d\n%s%s", code, stdout, stderr)
	}
	// A changed text is rendered alone.
	texts := config.DefaultPrompts()
	texts["welcome-mayor"] = "您好，这里是市长热线。"
	doc, err := yaml.Marshal(map[string]any{"ivr": map[string]any{"prompts": texts}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "rexian.yaml")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, env, "", "prompts", "--out", out, "--config", file)
	if code != exitOK || !strings.Contains(stdout, "rendered: welcome-mayor\n") || !strings.Contains(stdout, ": 1 rendered, ") {
		t.Errorf("after changing one text: exit %d\n%s%s", code, stdout, stderr)
	}

	// A text the administrator reworded (saved in the database) replaces the configured
	// one; --configured-only leaves it out.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := testConfig(t, env)
	db, err := openDatabase(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	prompts, err := ivr.NewPrompts(db, cfg.IVR.Prompts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := prompts.Save(ctx, &auth.Principal{Name: "adm", Role: auth.RoleAdmin}, map[string]string{"menu-main": "咨询请按1，投诉请按2。"}); err != nil {
		t.Fatal(err)
	}
	if err := database.Close(db); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, env, "", "prompts", "--out", out)
	if code != exitOK || !strings.Contains(stdout, "reworded on the admin page: menu-main\n") || !regexp.MustCompile(`rendered: .*menu-main`).MatchString(stdout) {
		t.Errorf("after a rewording on the admin page: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, env, "", "prompts", "--out", out, "--configured-only")
	if code != exitOK || strings.Contains(stdout, "reworded") || !strings.Contains(stdout, "rendered: menu-main\n") {
		t.Errorf("--configured-only: exit %d\n%s%s", code, stdout, stderr)
	}
}

func size(fi os.FileInfo) int64 {
	if fi == nil {
		return 0
	}
	return fi.Size()
}

func TestPromptsWithoutAudioTools(t *testing.T) {
	// No espeak-ng or sox on the PATH; not parallel, because it changes the process's
	// environment.
	t.Setenv("PATH", t.TempDir())
	env := testEnv(t, "")
	dataDir := strings.TrimPrefix(env[0], "REXIAN_DATA_DIR=")
	code, stdout, stderr := runCLI(t, env, "", "prompts")
	if code != exitFailure {
		t.Fatalf("exit %d, want %d; stderr %s", code, exitFailure, stderr)
	}
	for _, want := range []string{"apt-get install espeak-ng", "apt-get install sox"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	// The default folder is <data_dir>/prompts.
	if want := "prompts in " + filepath.Join(dataDir, "prompts") + ": 0 rendered"; !strings.Contains(stdout, want) {
		t.Errorf("stdout lacks %q:\n%s", want, stdout)
	}
}

func TestPromptsUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown format", []string{"prompts", "--formats", "mp3"}, `--formats: audio format "mp3"`},
		{"stray argument", []string{"prompts", "now"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, testEnv(t, ""), "", tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, tt.want)
			}
		})
	}
}

// TestPromptsDepartmentsRefusesAnEmptyDirectory: without rexian's own configuration the
// command would read an empty database and render no department names; it says so and
// fails instead, before rendering anything.
func TestPromptsDepartmentsRefusesAnEmptyDirectory(t *testing.T) {
	env := testEnv(t, "")
	out := filepath.Join(t.TempDir(), "sounds")
	code, stdout, stderr := runCLI(t, env, "", "prompts", "--departments", "--out", out)
	if code == exitOK || !strings.Contains(stderr, "has no departments") || !strings.Contains(stderr, "--config or --data") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("%s was written although the run was refused", out)
	}
}
