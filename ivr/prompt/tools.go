package prompt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrToolMissing is returned when espeak-ng or sox cannot be found; the message names the
// Debian package to install.
var ErrToolMissing = errors.New("prompt renderer missing")

// output is one file a rendering writes.
type output struct {
	Format Format
	Path   string
}

// produceFunc speaks text into every output. Tests replace it so that the naming and
// manifest logic runs without audio tools.
type produceFunc func(ctx context.Context, text string, outputs []output) error

// toolchain is the pair of programs that make the audio.
type toolchain struct {
	espeak, sox string
	opts        Options
}

// findTools resolves espeak-ng and sox, reporting every missing one at once with the
// package that provides it, and checks that a Mandarin voice really speaks Mandarin.
func findTools(ctx context.Context, o Options) (toolchain, error) {
	find := func(given, name, pkg string) (string, error) {
		if given == "" {
			given = name
		}
		path, err := exec.LookPath(given)
		if err != nil {
			return "", fmt.Errorf("%w: %s not found (%v); install the Debian package %s: apt-get install %s", ErrToolMissing, given, err, pkg, pkg)
		}
		return path, nil
	}
	espeak, err1 := find(o.ESpeakPath, "espeak-ng", "espeak-ng")
	sox, err2 := find(o.SoxPath, "sox", "sox")
	if err := errors.Join(err1, err2); err != nil {
		return toolchain{}, err
	}
	tc := toolchain{espeak: espeak, sox: sox, opts: o}
	if err := tc.checkVoice(ctx); err != nil {
		return toolchain{}, err
	}
	return tc, nil
}

// ErrVoiceReadsEnglish is returned for a Mandarin voice that reads Chinese characters as
// English words. espeak-ng 1.51 (Debian 12) does this with voice cmn: it looks 好 up as
// the pinyin "hao3" and then reads that as the English "hao three". Its sibling
// cmn-latn-pinyin, the default here, reads the same pinyin as Mandarin.
var ErrVoiceReadsEnglish = errors.New("espeak-ng voice reads Chinese as English")

// checkVoice asks espeak-ng for the phonemes of a short Chinese text and refuses a
// Chinese voice whose answer switches to English, since every prompt would come out as
// gibberish of the right length, which no test of file sizes notices.
func (t toolchain) checkVoice(ctx context.Context) error {
	v := strings.ToLower(t.opts.Voice)
	if !strings.HasPrefix(v, "cmn") && !strings.HasPrefix(v, "zh") {
		return nil
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, t.espeak, "-v", t.opts.Voice, "-q", "-x", "--stdin")
	cmd.Stdin = strings.NewReader("您好")
	cmd.Stdout = &out
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("espeak-ng voice %s: %w: %s", t.opts.Voice, err, strings.TrimSpace(stderr.String()))
	}
	if strings.Contains(out.String(), "(en)") {
		return fmt.Errorf("%w: voice %s gives %q for 您好; use the voice cmn-latn-pinyin", ErrVoiceReadsEnglish, t.opts.Voice, strings.TrimSpace(out.String()))
	}
	return nil
}

// produce runs espeak-ng once (it speaks at 22,050 Hz) and sox once per format to
// resample to 8 kHz mono. The volume is lowered a little because espeak-ng's output
// clips once resampled (sox warns otherwise).
func (t toolchain) produce(ctx context.Context, text string, outputs []output) error {
	if len(outputs) == 0 {
		return nil
	}
	speech := strings.TrimSuffix(outputs[0].Path, filepath.Ext(outputs[0].Path)) + ".speech.wav"
	args := []string{"-v", t.opts.Voice}
	if t.opts.Speed > 0 {
		args = append(args, "-s", strconv.Itoa(t.opts.Speed))
	}
	// The text goes through stdin rather than argv so that a text starting with '-' is
	// not taken for an option.
	args = append(args, "--stdin", "-w", speech)
	if err := run(ctx, strings.NewReader(text), t.espeak, args...); err != nil {
		return fmt.Errorf("espeak-ng voice %s: %w", t.opts.Voice, err)
	}
	vol := strconv.FormatFloat(t.opts.Volume, 'f', -1, 64)
	for _, out := range outputs {
		args := append([]string{"-q", speech}, out.Format.soxOutput()...)
		args = append(args, out.Path, "vol", vol)
		if err := run(ctx, nil, t.sox, args...); err != nil {
			return fmt.Errorf("sox to %s: %w", out.Format, err)
		}
	}
	return nil
}

// run runs a program and turns a failure into an error carrying its stderr.
func run(ctx context.Context, stdin *strings.Reader, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return fmt.Errorf("%s: %w: %s", filepath.Base(name), err, msg)
		}
		return fmt.Errorf("%s: %w", filepath.Base(name), err)
	}
	return nil
}
