package prompt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeAudio stands in for espeak-ng and sox: it writes the text into every output,
// padded past the WAV header size, and remembers which texts it spoke.
type fakeAudio struct {
	mu     sync.Mutex
	spoken []string
	fail   map[string]error // text -> error
	empty  map[string]bool  // text -> write a header-only file
}

func (f *fakeAudio) produce(ctx context.Context, text string, outputs []output) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spoken = append(f.spoken, text)
	if err := f.fail[text]; err != nil {
		return err
	}
	for _, o := range outputs {
		body := []byte(fmt.Sprintf("%-64s", "FAKE "+string(o.Format)+" "+text))
		if f.empty[text] {
			body = body[:o.Format.headerSize()]
		}
		if err := os.WriteFile(o.Path, body, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func fakeRenderer(f *fakeAudio, o Options) renderer {
	o.Now = func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }
	return renderer{opts: o.withDefaults(), tools: func() (produceFunc, error) { return f.produce, nil }}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func failedNames(r Report) []string {
	var out []string
	for _, f := range r.Failed {
		out = append(out, f.Name)
	}
	return out
}

func TestRenderSkipsWhatIsUpToDate(t *testing.T) {
	first := map[string]string{"welcome": "您好", "menu": "请按1", "bye": "再见"}
	tests := []struct {
		name string
		// change is applied between a first run of first with default options and the
		// second run, which gets the returned texts and options.
		change       func(t *testing.T, dir string) (map[string]string, Options)
		wantRendered []string
		wantSkipped  []string
	}{
		{
			name:        "nothing changed",
			change:      func(*testing.T, string) (map[string]string, Options) { return first, Options{} },
			wantSkipped: []string{"bye", "menu", "welcome"},
		},
		{
			name: "one text changed",
			change: func(*testing.T, string) (map[string]string, Options) {
				return map[string]string{"welcome": "您好，欢迎", "menu": "请按1", "bye": "再见"}, Options{}
			},
			wantRendered: []string{"welcome"},
			wantSkipped:  []string{"bye", "menu"},
		},
		{
			name: "surrounding spaces are not a change",
			change: func(*testing.T, string) (map[string]string, Options) {
				return map[string]string{"welcome": " 您好\n", "menu": "请按1", "bye": "再见"}, Options{}
			},
			wantSkipped: []string{"bye", "menu", "welcome"},
		},
		{
			name: "a new prompt",
			change: func(*testing.T, string) (map[string]string, Options) {
				return map[string]string{"welcome": "您好", "menu": "请按1", "bye": "再见", "dept-a": "甲局"}, Options{}
			},
			wantRendered: []string{"dept-a"},
			wantSkipped:  []string{"bye", "menu", "welcome"},
		},
		{
			name:         "another voice renders everything",
			change:       func(*testing.T, string) (map[string]string, Options) { return first, Options{Voice: "yue"} },
			wantRendered: []string{"bye", "menu", "welcome"},
		},
		{
			name:         "another speed renders everything",
			change:       func(*testing.T, string) (map[string]string, Options) { return first, Options{Speed: 140} },
			wantRendered: []string{"bye", "menu", "welcome"},
		},
		{
			name:         "another format renders everything",
			change:       func(*testing.T, string) (map[string]string, Options) { return first, Options{Formats: []Format{ALaw}} },
			wantRendered: []string{"bye", "menu", "welcome"},
		},
		{
			name:         "force",
			change:       func(*testing.T, string) (map[string]string, Options) { return first, Options{Force: true} },
			wantRendered: []string{"bye", "menu", "welcome"},
		},
		{
			name: "a file deleted by hand",
			change: func(t *testing.T, dir string) (map[string]string, Options) {
				if err := os.Remove(filepath.Join(dir, "menu.wav")); err != nil {
					t.Fatal(err)
				}
				return first, Options{}
			},
			wantRendered: []string{"menu"},
			wantSkipped:  []string{"bye", "welcome"},
		},
		{
			name: "a file cut to its header",
			change: func(t *testing.T, dir string) (map[string]string, Options) {
				if err := os.Truncate(filepath.Join(dir, "bye.wav"), 44); err != nil {
					t.Fatal(err)
				}
				return first, Options{}
			},
			wantRendered: []string{"bye"},
			wantSkipped:  []string{"menu", "welcome"},
		},
		{
			name: "a damaged manifest renders everything",
			change: func(t *testing.T, dir string) (map[string]string, Options) {
				if err := os.WriteFile(filepath.Join(dir, ManifestFile), []byte("{not json"), 0o644); err != nil {
					t.Fatal(err)
				}
				return first, Options{}
			},
			wantRendered: []string{"bye", "menu", "welcome"},
		},
		{
			name: "a prompt left out is kept, not deleted",
			change: func(t *testing.T, dir string) (map[string]string, Options) {
				return map[string]string{"welcome": "您好"}, Options{}
			},
			wantSkipped: []string{"welcome"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			dir := t.TempDir()
			audio := &fakeAudio{}
			if _, err := fakeRenderer(audio, Options{}).render(ctx, first, dir); err != nil {
				t.Fatalf("first run: %v", err)
			}
			texts, opts := tt.change(t, dir)
			rep, err := fakeRenderer(audio, opts).render(ctx, texts, dir)
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			if diff := cmp.Diff(tt.wantRendered, rep.Rendered); diff != "" {
				t.Errorf("rendered (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSkipped, rep.Skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
			// Every prompt of the first run is still playable, with its newest text.
			for name := range first {
				want := first[name]
				if t2, ok := texts[name]; ok {
					want = strings.TrimSpace(t2)
				}
				data, err := os.ReadFile(filepath.Join(dir, name+".wav"))
				if err != nil || !strings.Contains(string(data), want) {
					t.Errorf("%s.wav = %q, %v; want it to say %q", name, data, err, want)
				}
			}
			// A third run with the same input renders nothing: the manifest was saved.
			opts.Force = false
			again, err := fakeRenderer(audio, opts).render(ctx, texts, dir)
			if err != nil || len(again.Rendered) != 0 {
				t.Errorf("third run rendered %v (err %v); want nothing", again.Rendered, err)
			}
		})
	}
}

func TestRenderFailures(t *testing.T) {
	boom := errors.New("espeak-ng: exit status 1: Failed to read voice")
	tests := []struct {
		name         string
		texts        map[string]string
		audio        *fakeAudio
		wantRendered []string
		wantFailed   []string
		wantErr      []string
	}{
		{
			name:         "bad name and empty text fail alone",
			texts:        map[string]string{"Bad Name": "你好", "empty": "  ", "ok": "好"},
			audio:        &fakeAudio{},
			wantRendered: []string{"ok"},
			wantFailed:   []string{"Bad Name", "empty"},
			wantErr:      []string{"2 of 3 failed", `prompt Bad Name`, "prompt empty: the text is empty"},
		},
		{
			name:         "the synthesizer fails for one prompt",
			texts:        map[string]string{"a": "甲", "b": "乙"},
			audio:        &fakeAudio{fail: map[string]error{"乙": boom}},
			wantRendered: []string{"a"},
			wantFailed:   []string{"b"},
			wantErr:      []string{"prompt b: espeak-ng: exit status 1"},
		},
		{
			name:         "silence is a failure",
			texts:        map[string]string{"a": "甲", "b": "乙"},
			audio:        &fakeAudio{empty: map[string]bool{"甲": true}},
			wantRendered: []string{"b"},
			wantFailed:   []string{"a"},
			wantErr:      []string{"prompt a: the wav file holds no sound (44 bytes)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rep, err := fakeRenderer(tt.audio, Options{}).render(testContext(t), tt.texts, dir)
			if diff := cmp.Diff(tt.wantRendered, rep.Rendered); diff != "" {
				t.Errorf("rendered (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantFailed, failedNames(rep)); diff != "" {
				t.Errorf("failed (-want +got):\n%s", diff)
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not contain %q", err, w)
				}
			}
			// A failed prompt leaves no file behind for Asterisk to play.
			for _, name := range tt.wantFailed {
				if _, err := os.Stat(filepath.Join(dir, name+".wav")); err == nil {
					t.Errorf("%s.wav exists after its rendering failed", name)
				}
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".render-") {
					t.Errorf("scratch folder %s left behind", e.Name())
				}
			}
		})
	}
}

func TestRenderNeedsToolsOnlyForWork(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	texts := map[string]string{"a": "甲"}
	if _, err := fakeRenderer(&fakeAudio{}, Options{}).render(ctx, texts, dir); err != nil {
		t.Fatal(err)
	}
	missing := renderer{opts: Options{}.withDefaults(), tools: func() (produceFunc, error) {
		return nil, fmt.Errorf("%w: espeak-ng not found; install the Debian package espeak-ng", ErrToolMissing)
	}}
	// Up to date: a machine without the tools can still run it.
	if rep, err := missing.render(ctx, texts, dir); err != nil || len(rep.Skipped) != 1 {
		t.Errorf("up-to-date run without tools: %+v, %v", rep, err)
	}
	// Something to do: the error says what to install.
	_, err := missing.render(ctx, map[string]string{"b": "乙"}, dir)
	if !errors.Is(err, ErrToolMissing) || !strings.Contains(err.Error(), "espeak-ng") {
		t.Errorf("err = %v, want ErrToolMissing naming espeak-ng", err)
	}
}

func TestFindToolsNamesThePackages(t *testing.T) {
	_, err := findTools(testContext(t), Options{ESpeakPath: "/nonexistent/espeak-ng", SoxPath: "/nonexistent/sox"})
	if !errors.Is(err, ErrToolMissing) {
		t.Fatalf("err = %v, want ErrToolMissing", err)
	}
	for _, w := range []string{"apt-get install espeak-ng", "apt-get install sox"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

func TestRenderCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	rep, err := fakeRenderer(&fakeAudio{}, Options{Parallel: 1}).render(ctx, map[string]string{"a": "甲", "b": "乙"}, dir)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if len(rep.Rendered) != 0 || len(rep.Failed) != 2 {
		t.Errorf("report = %+v, want both failed", rep)
	}
}

func TestReportSummary(t *testing.T) {
	rep := Report{Rendered: []string{"a"}, Skipped: []string{"b", "c"}, Failed: []Failure{{Name: "d"}, {Name: "e"}}}
	if got, want := rep.Summary(), "1 rendered, 2 up to date, 2 failed (d, e)"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}

// TestCheckVoice runs the voice check against stand-in espeak-ng scripts that print what
// espeak-ng 1.51 prints for 您好 with each voice.
func TestCheckVoice(t *testing.T) {
	tests := []struct {
		name, voice, phonemes string
		wantErr               error
	}{
		{"cmn in espeak-ng 1.51 reads pinyin as English", "cmn", `(en)nI55nt'u:55_| h,eI55@55Tr'i:55(cmn)_|`, ErrVoiceReadsEnglish},
		{"cmn-latn-pinyin speaks Mandarin", "cmn-latn-pinyin", `n'i35n_| X'Au214_|`, nil},
		{"another language is not checked", "en", `(en)anything`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script := filepath.Join(t.TempDir(), "espeak-ng")
			body := "#!/bin/sh\ncat >/dev/null\nprintf '%s\\n' \"" + tt.phonemes + "\"\n"
			if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			tc := toolchain{espeak: script, opts: Options{Voice: tt.voice}.withDefaults()}
			err := tc.checkVoice(testContext(t))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("checkVoice = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil && !strings.Contains(err.Error(), "cmn-latn-pinyin") {
				t.Errorf("error %q does not name the voice to use", err)
			}
		})
	}
}
