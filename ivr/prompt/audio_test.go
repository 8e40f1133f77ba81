package prompt

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/database/dbtest"
)

// TestRenderRealAudio speaks two prompts with the installed espeak-ng and sox and checks
// that Asterisk would get what it plays: 8 kHz, mono, 16-bit PCM WAV with seconds of
// sound in it.
func TestRenderRealAudio(t *testing.T) {
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			dbtest.Unavailable(t, "espeak-ng and sox", "apt-get install espeak-ng sox", err)
		}
	}
	dir := t.TempDir()
	texts := map[string]string{
		"welcome-mayor": "您好，欢迎致电市长热线，我们二十四小时为您服务。",
		"dept-dsq":      "东胜区人民政府",
	}
	rep, err := Render(testContext(t), texts, dir, Options{Formats: []Format{ALaw}})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if len(rep.Rendered) != 2 {
		t.Fatalf("rendered %v, want both", rep.Rendered)
	}
	for name := range texts {
		data, err := os.ReadFile(filepath.Join(dir, name+".wav"))
		if err != nil {
			t.Fatal(err)
		}
		h, err := parseWAVHeader(data)
		if err != nil {
			t.Fatalf("%s.wav: %v", name, err)
		}
		if h.format != 1 || h.channels != 1 || h.rate != 8000 || h.bits != 16 {
			t.Errorf("%s.wav is format %d, %d channel(s), %d Hz, %d bit; want PCM, mono, 8000 Hz, 16 bit", name, h.format, h.channels, h.rate, h.bits)
		}
		// 8000 samples of 2 bytes a second: a short department name still lasts most of
		// a second, the welcome several seconds.
		if secs := float64(h.dataSize) / 16000; secs < 0.5 || int(h.dataSize) > len(data) {
			t.Errorf("%s.wav holds %.2f s of sound (%d of %d bytes)", name, secs, h.dataSize, len(data))
		}
		alaw, err := os.Stat(filepath.Join(dir, name+".alaw"))
		if err != nil || alaw.Size() < 4000 {
			t.Errorf("%s.alaw: %v, %d bytes", name, err, sizeOf(alaw))
		}
	}
	// The second run finds them up to date and does not start the tools.
	again, err := Render(testContext(t), texts, dir, Options{Formats: []Format{ALaw}})
	if err != nil || len(again.Skipped) != 2 {
		t.Errorf("second run: %+v, %v", again, err)
	}
}

func sizeOf(fi os.FileInfo) int64 {
	if fi == nil {
		return 0
	}
	return fi.Size()
}

type wavHeader struct {
	format, channels, bits uint16
	rate, dataSize         uint32
}

// parseWAVHeader reads the fmt and data chunks of a RIFF WAVE file.
func parseWAVHeader(b []byte) (wavHeader, error) {
	var h wavHeader
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return h, errors.New("not a RIFF WAVE file")
	}
	for off := 12; off+8 <= len(b); {
		id, size := string(b[off:off+4]), int(binary.LittleEndian.Uint32(b[off+4:off+8]))
		body := b[off+8:]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return h, errors.New("short fmt chunk")
			}
			h.format = binary.LittleEndian.Uint16(body[0:2])
			h.channels = binary.LittleEndian.Uint16(body[2:4])
			h.rate = binary.LittleEndian.Uint32(body[4:8])
			h.bits = binary.LittleEndian.Uint16(body[14:16])
		case "data":
			h.dataSize = uint32(size)
			return h, nil
		}
		off += 8 + size + size%2
	}
	return h, errors.New("no data chunk")
}

// TestDefaultWelcomesAreShort: the default welcomes last under 4 s as espeak-ng speaks
// them, so that a caller pressing 1 at once reaches a ringing phone within seconds.
func TestDefaultWelcomesAreShort(t *testing.T) {
	for _, tool := range []string{"espeak-ng", "sox"} {
		if _, err := exec.LookPath(tool); err != nil {
			dbtest.Unavailable(t, "espeak-ng and sox", "apt-get install espeak-ng sox", err)
		}
	}
	all := config.DefaultPrompts()
	texts := map[string]string{}
	for _, h := range config.DefaultIVR().Hotlines {
		texts[h.Welcome] = all[h.Welcome]
	}
	dir := t.TempDir()
	if _, err := Render(testContext(t), texts, dir, Options{}); err != nil {
		t.Fatalf("Render: %v", err)
	}
	for name := range texts {
		data, err := os.ReadFile(filepath.Join(dir, name+".wav"))
		if err != nil {
			t.Fatal(err)
		}
		h, err := parseWAVHeader(data)
		if err != nil {
			t.Fatal(err)
		}
		secs := float64(h.dataSize) / float64(h.rate*uint32(h.channels)*uint32(h.bits/8))
		t.Logf("%s lasts %.2f s", name, secs)
		if secs >= 4 {
			t.Errorf("%s lasts %.2f s, want under 4 s", name, secs)
		}
	}
}
