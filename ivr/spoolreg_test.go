package ivr

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/ivr/spool"
	"github.com/rexian/rexian/tickets"
)

// wav returns an 8 kHz 16-bit mono WAV of d silence.
func wav(d time.Duration) []byte {
	n := int(d / time.Second * 16000)
	b := make([]byte, 44+n)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+n))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1)
	binary.LittleEndian.PutUint16(b[22:], 1)
	binary.LittleEndian.PutUint32(b[24:], 8000)
	binary.LittleEndian.PutUint32(b[28:], 16000)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(n))
	return b
}

func TestSpooledVoiceMessagesBecomeTickets(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	at := time.Date(2026, 11, 26, 2, 30, 0, 0, time.UTC)
	msg := spool.FileName(at, "13800138000", "12345", "1795720916.93", "wav")
	empty := spool.FileName(at, "13900000000", "8393000", "1795720916.95", "wav")
	for name, data := range map[string][]byte{msg: wav(3 * time.Second), empty: wav(0)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reg := NewSpoolRegistrar(h.store, h.opts.Settings, shanghai)
	w := spool.NewWorker(dir, reg, testLogger(t))
	w.Now = func() time.Time { return time.Now().Add(time.Minute) } // the files have settled
	res, err := w.RunOnce(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Registered) != 2 {
		t.Fatalf("registered %+v, want both messages", res)
	}
	list, _, err := h.store.List(h.ctx, desk, tickets.Filter{Channel: tickets.ChannelVoicemail}, pageOne)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("%d voice-message tickets, want 2", len(list))
	}
	for _, s := range list {
		v, err := h.store.Find(h.ctx, desk, s.Number)
		if err != nil {
			t.Fatal(err)
		}
		switch v.Citizen.Phone {
		case "13800138000":
			if len(v.Attachments) != 1 || !strings.Contains(v.Content, "3 秒") || !strings.Contains(v.Title, "市长热线") {
				t.Errorf("message ticket: %d attachments, content %q, title %q", len(v.Attachments), v.Content, v.Title)
			}
		case "13900000000":
			if len(v.Attachments) != 0 || !strings.Contains(v.Content, "留言为空") || !strings.Contains(v.Title, "政务服务热线") {
				t.Errorf("empty message ticket: %d attachments, content %q, title %q", len(v.Attachments), v.Content, v.Title)
			}
		default:
			t.Errorf("ticket for %q", v.Citizen.Phone)
		}
	}
	// A crash after registering but before the file moved: the same file again makes no
	// second ticket.
	if err := os.WriteFile(filepath.Join(dir, msg), wav(3*time.Second), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := w.RunOnce(h.ctx); err != nil {
		t.Fatal(err)
	}
	list, _, _ = h.store.List(h.ctx, desk, tickets.Filter{Channel: tickets.ChannelVoicemail}, pageOne)
	if len(list) != 2 {
		t.Fatalf("%d tickets after importing the same message again, want still 2", len(list))
	}
}
