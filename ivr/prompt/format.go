package prompt

import (
	"fmt"
	"slices"
	"strings"
)

// Format is an audio file format Asterisk plays, named by its file extension. When one
// prompt exists in several formats Asterisk picks the one cheapest to translate to the
// channel's codec, so a precoded alaw file saves the transcoding on a carrier trunk that
// speaks G.711 A-law (usual in China) at the price of disk space.
type Format string

// Formats Render can write. WAV is always written.
const (
	WAV  Format = "wav"  // 8 kHz 16-bit mono PCM in a WAV container, Asterisk's "wav"
	ALaw Format = "alaw" // raw G.711 A-law, 8 kHz
	ULaw Format = "ulaw" // raw G.711 µ-law, 8 kHz
	SLN  Format = "sln"  // raw 8 kHz 16-bit signed linear
	GSM  Format = "gsm"  // GSM 06.10, the smallest
)

var knownFormats = []Format{WAV, ALaw, ULaw, SLN, GSM}

// ParseFormats reads a comma-separated list such as "wav,alaw".
func ParseFormats(s string) ([]Format, error) {
	var out []Format
	for _, part := range strings.Split(s, ",") {
		f := Format(strings.ToLower(strings.TrimSpace(part)))
		if f == "" {
			continue
		}
		if !slices.Contains(knownFormats, f) {
			return nil, fmt.Errorf("audio format %q is not one of %s", part, strings.Join(formatNames(knownFormats), ", "))
		}
		out = append(out, f)
	}
	return normalizeFormats(out), nil
}

// normalizeFormats adds WAV, removes repeats and sorts, so that the same set always hashes
// the same.
func normalizeFormats(fs []Format) []Format {
	out := append([]Format{WAV}, fs...)
	slices.Sort(out)
	return slices.Compact(out)
}

func formatNames(fs []Format) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}

func (f Format) valid() bool { return slices.Contains(knownFormats, f) }

// file is the file name of prompt name in format f.
func (f Format) file(name string) string { return name + "." + string(f) }

// headerSize is the size of a file of f that holds no sound. sox writes the plain 44-byte
// WAV header for 16-bit mono PCM.
func (f Format) headerSize() int64 {
	if f == WAV {
		return 44
	}
	return 0
}

// soxOutput is the part of a sox command line that describes an output file of f.
func (f Format) soxOutput() []string {
	base := []string{"-r", "8000", "-c", "1"}
	switch f {
	case ALaw:
		return append(base, "-t", "al")
	case ULaw:
		return append(base, "-t", "ul")
	case SLN:
		return append(base, "-b", "16", "-e", "signed-integer", "-t", "raw")
	case GSM:
		return append(base, "-t", "gsm")
	default:
		return append(base, "-b", "16", "-e", "signed-integer", "-t", "wav")
	}
}
