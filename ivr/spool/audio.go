package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// formats are the recording formats Asterisk's Record() writes that the spool accepts,
// with the bytes per second of the raw ones. 0 marks a RIFF WAVE file, whose header says.
var formats = map[string]int64{
	"wav":   0, // "wav" is 8 kHz 16-bit PCM, "WAV" is GSM in a WAV container (wav49)
	"wav16": 0,
	"gsm":   1650, // 33-byte frames, 50 a second
	"sln":   16000,
	"sln16": 32000,
	"ulaw":  8000,
	"alaw":  8000,
	"ul":    8000,
	"al":    8000,
	"g722":  8000,
}

// sound is what a recording holds.
type sound struct {
	Size     int64
	Duration time.Duration
}

// measure reads how long the recording at path is. A WAV whose header was never
// finished (Asterisk stopped while recording: it writes the sizes on close) is measured
// by its file size rather than rejected, because the citizen's words are in it.
func measure(path, format string) (sound, error) {
	f, err := os.Open(path)
	if err != nil {
		return sound{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return sound{}, err
	}
	s := sound{Size: info.Size()}
	rate, ok := formats[strings.ToLower(format)]
	if !ok {
		return s, errNotAudio
	}
	if s.Size == 0 {
		return s, nil
	}
	if rate > 0 {
		s.Duration = bytesToDuration(s.Size, rate)
		return s, nil
	}
	data, byteRate, err := wavData(f, s.Size)
	if err != nil {
		return s, err
	}
	s.Duration = bytesToDuration(data, byteRate)
	return s, nil
}

func bytesToDuration(n, perSecond int64) time.Duration {
	if perSecond <= 0 {
		return 0
	}
	return time.Duration(n * int64(time.Second) / perSecond)
}

// wavData returns the size of a WAVE file's sound data and its bytes per second.
func wavData(r io.ReaderAt, size int64) (data, byteRate int64, err error) {
	var riff [12]byte
	if _, err := r.ReadAt(riff[:], 0); err != nil || string(riff[0:4]) != "RIFF" || string(riff[8:12]) != "WAVE" {
		return 0, 0, errors.New("not a RIFF WAVE file")
	}
	off := int64(12)
	for off+8 <= size {
		var ch [8]byte
		if _, err := r.ReadAt(ch[:], off); err != nil {
			return 0, 0, fmt.Errorf("read WAV chunk at %d: %w", off, err)
		}
		id, n := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:8]))
		body := off + 8
		switch id {
		case "fmt ":
			var fmtc [12]byte
			if _, err := r.ReadAt(fmtc[:], body); err != nil {
				return 0, 0, fmt.Errorf("read WAV format: %w", err)
			}
			byteRate = int64(binary.LittleEndian.Uint32(fmtc[8:12]))
		case "data":
			if byteRate == 0 {
				return 0, 0, errors.New("WAV data before its format")
			}
			rest := size - body
			if n == 0 || n > rest {
				n = rest // header never finished, or the file was cut short
			}
			return n, byteRate, nil
		}
		off = body + n + n%2
	}
	return 0, 0, errors.New("WAV file without a data chunk")
}
