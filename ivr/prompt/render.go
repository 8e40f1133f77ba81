package prompt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options say how prompts are spoken and written. The zero value is the verified
// set-up: Mandarin voice cmn-latn-pinyin, espeak-ng's default speed, WAV only.
type Options struct {
	// Voice is the espeak-ng voice. The default, cmn-latn-pinyin, is Mandarin; plain
	// cmn reads Chinese characters as English in espeak-ng 1.51 and is refused (see
	// ErrVoiceReadsEnglish).
	Voice string
	// Speed is espeak-ng's speed in words per minute (-s); 0 keeps espeak-ng's default
	// (175). Slower helps older callers, at the price of longer prompts.
	Speed int
	// Volume scales the audio (sox vol); 0 means 0.9, which keeps resampled speech from
	// clipping.
	Volume float64
	// Formats are written besides WAV, e.g. ALaw for an A-law trunk.
	Formats []Format
	// Force renders every prompt even when its files are up to date.
	Force bool
	// Parallel is how many prompts are rendered at once; 0 means one per CPU.
	Parallel int
	// ESpeakPath and SoxPath name the programs when they are not espeak-ng and sox on
	// the PATH.
	ESpeakPath string
	SoxPath    string
	// Log gets one line per failed prompt and a debug line per rendered one.
	Log *slog.Logger
	// Now stamps the manifest; time.Now when nil.
	Now func() time.Time
}

// DefaultVoice is the espeak-ng voice that speaks Mandarin correctly in espeak-ng 1.51.
const DefaultVoice = "cmn-latn-pinyin"

func (o Options) withDefaults() Options {
	if o.Voice == "" {
		o.Voice = DefaultVoice
	}
	if o.Volume == 0 {
		o.Volume = 0.9
	}
	o.Formats = normalizeFormats(o.Formats)
	if o.Parallel <= 0 {
		o.Parallel = runtime.NumCPU()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Report says what a Render did, each list sorted by name.
type Report struct {
	Dir      string
	Rendered []string
	Skipped  []string // up to date
	Failed   []Failure
}

// Failure is a prompt that could not be rendered.
type Failure struct {
	Name string
	Err  error
}

// Summary is one line for people: "3 rendered, 40 up to date, 1 failed (menu-main)".
func (r Report) Summary() string {
	s := fmt.Sprintf("%d rendered, %d up to date, %d failed", len(r.Rendered), len(r.Skipped), len(r.Failed))
	if len(r.Failed) > 0 {
		names := make([]string, len(r.Failed))
		for i, f := range r.Failed {
			names[i] = f.Name
		}
		s += " (" + strings.Join(names, ", ") + ")"
	}
	return s
}

// Render writes <dir>/<name>.wav (and the other formats of opts) for every prompt in
// texts whose files are missing or say another text, and skips the rest. The error is
// ErrToolMissing (wrapped) when something must be rendered and espeak-ng or sox is not
// installed; otherwise it names every prompt that failed, and the Report lists them
// too. Prompts rendered before a failure or a cancelled ctx are kept and remembered.
func Render(ctx context.Context, texts map[string]string, dir string, opts Options) (Report, error) {
	r := renderer{opts: opts.withDefaults()}
	r.tools = func() (produceFunc, error) {
		tc, err := findTools(ctx, r.opts)
		if err != nil {
			return nil, err
		}
		return tc.produce, nil
	}
	return r.render(ctx, texts, dir)
}

// renderer is Render with the audio programs behind a function, so that tests of the
// naming and manifest logic need no audio tools.
type renderer struct {
	opts  Options
	tools func() (produceFunc, error)
}

func (r renderer) render(ctx context.Context, texts map[string]string, dir string) (Report, error) {
	rep := Report{Dir: dir}
	for _, f := range r.opts.Formats {
		if !f.valid() {
			return rep, fmt.Errorf("render prompts: audio format %q is not one of %s", f, strings.Join(formatNames(knownFormats), ", "))
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return rep, fmt.Errorf("render prompts: create the output folder: %w", err)
	}
	m, err := loadManifest(dir)
	if err != nil {
		r.opts.Log.Warn("prompt manifest ignored", "dir", dir, "err", err)
	}

	type job struct{ name, text, hash string }
	var todo []job
	for _, name := range slices.Sorted(maps.Keys(texts)) {
		text := strings.TrimSpace(texts[name])
		switch {
		case ValidName(name) != nil:
			rep.Failed = append(rep.Failed, Failure{Name: name, Err: ValidName(name)})
			continue
		case text == "":
			rep.Failed = append(rep.Failed, Failure{Name: name, Err: errors.New("the text is empty")})
			continue
		}
		hash := promptHash(text, r.opts)
		if !r.opts.Force && m.upToDate(dir, name, hash, r.opts.Formats) {
			rep.Skipped = append(rep.Skipped, name)
			continue
		}
		todo = append(todo, job{name: name, text: text, hash: hash})
	}
	if len(todo) == 0 {
		return rep, rep.err()
	}

	produce, err := r.tools()
	if err != nil {
		return rep, fmt.Errorf("render prompts: %w", err)
	}
	// Files are made in a scratch folder inside dir and renamed into place, so that
	// Asterisk never plays a half-written prompt and the rename stays on one file system.
	scratch, err := os.MkdirTemp(dir, ".render-")
	if err != nil {
		return rep, fmt.Errorf("render prompts: scratch folder: %w", err)
	}
	defer os.RemoveAll(scratch)

	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, r.opts.Parallel)
	)
	for _, j := range todo {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			mu.Lock()
			rep.Failed = append(rep.Failed, Failure{Name: j.name, Err: ctx.Err()})
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			files, err := r.renderOne(ctx, produce, scratch, dir, j.name, j.text)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.opts.Log.Warn("prompt not rendered", "prompt", j.name, "err", err)
				rep.Failed = append(rep.Failed, Failure{Name: j.name, Err: err})
				return
			}
			r.opts.Log.Debug("prompt rendered", "prompt", j.name)
			rep.Rendered = append(rep.Rendered, j.name)
			m.Prompts[j.name] = manifestEntry{Hash: j.hash, Text: j.text, Files: files, RenderedAt: r.opts.Now().UTC()}
		}()
	}
	wg.Wait()

	slices.Sort(rep.Rendered)
	slices.SortFunc(rep.Failed, func(a, b Failure) int { return strings.Compare(a.Name, b.Name) })
	if len(rep.Rendered) > 0 {
		if err := m.save(dir); err != nil {
			// The files are in place; without the manifest the next run renders them
			// again, which costs time but plays the right words.
			return rep, errors.Join(fmt.Errorf("render prompts: %w", err), rep.err())
		}
	}
	return rep, rep.err()
}

// renderOne speaks one prompt into scratch and moves its files into dir.
func (r renderer) renderOne(ctx context.Context, produce produceFunc, scratch, dir, name, text string) ([]string, error) {
	outputs := make([]output, len(r.opts.Formats))
	files := make([]string, len(r.opts.Formats))
	for i, f := range r.opts.Formats {
		files[i] = f.file(name)
		outputs[i] = output{Format: f, Path: filepath.Join(scratch, files[i])}
	}
	if err := produce(ctx, text, outputs); err != nil {
		return nil, err
	}
	for _, o := range outputs {
		info, err := os.Stat(o.Path)
		if err != nil {
			return nil, fmt.Errorf("no %s file was written: %w", o.Format, err)
		}
		if info.Size() <= o.Format.headerSize() {
			return nil, fmt.Errorf("the %s file holds no sound (%d bytes)", o.Format, info.Size())
		}
	}
	for i, o := range outputs {
		// Readable by Asterisk, which usually runs as another user.
		if err := os.Chmod(o.Path, 0o644); err != nil {
			return nil, fmt.Errorf("set permissions of %s: %w", files[i], err)
		}
		if err := os.Rename(o.Path, filepath.Join(dir, files[i])); err != nil {
			return nil, fmt.Errorf("move %s into place: %w", files[i], err)
		}
	}
	return files, nil
}

// err is nil when nothing failed, else one error naming every failed prompt.
func (rep Report) err() error {
	if len(rep.Failed) == 0 {
		return nil
	}
	errs := make([]error, len(rep.Failed))
	for i, f := range rep.Failed {
		errs[i] = fmt.Errorf("prompt %s: %w", f.Name, f.Err)
	}
	return fmt.Errorf("render prompts into %s: %d of %d failed: %w", rep.Dir, len(rep.Failed),
		len(rep.Failed)+len(rep.Rendered)+len(rep.Skipped), errors.Join(errs...))
}
