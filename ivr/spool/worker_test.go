package spool

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// now is the tests' clock; files are made older than it as each case needs.
var now = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// wav returns an 8 kHz 16-bit mono WAV holding seconds of silence. headerData overrides
// the data size written in the header (-1: the true size), as Asterisk leaves it 0 when
// it stops before closing the file.
func wav(seconds float64, headerData int) []byte {
	data := int(seconds * 16000)
	if headerData < 0 {
		headerData = data
	}
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + headerData))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1))     // PCM
	le(uint16(1))     // mono
	le(uint32(8000))  // Hz
	le(uint32(16000)) // bytes a second
	le(uint16(2))     // block align
	le(uint16(16))    // bits
	b.WriteString("data")
	le(uint32(headerData))
	b.Write(make([]byte, data))
	return b.Bytes()
}

// fakeRegistrar keeps tickets by reference, as the real one must.
type fakeRegistrar struct {
	mu       sync.Mutex
	tickets  map[string]string
	messages []Message
	created  int
	errs     map[string]error // reference -> error to return
}

var _ Registrar = (*fakeRegistrar)(nil)

func newFakeRegistrar() *fakeRegistrar {
	return &fakeRegistrar{tickets: map[string]string{}, errs: map[string]error{}}
}

func (f *fakeRegistrar) RegisterVoicemail(ctx context.Context, m Message) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := os.Stat(m.Path); err != nil {
		return "", fmt.Errorf("recording not at %s: %w", m.Path, err)
	}
	f.messages = append(f.messages, m)
	if err := f.errs[m.Reference]; err != nil {
		return "", err
	}
	if n, ok := f.tickets[m.Reference]; ok {
		return n, nil
	}
	f.created++
	n := fmt.Sprintf("2026%07d", f.created)
	f.tickets[m.Reference] = n
	return n, nil
}

type spoolFile struct {
	dir  string // "" or IncomingDir
	name string
	data []byte
	age  time.Duration
}

func writeSpool(t *testing.T, root string, files []spoolFile) {
	t.Helper()
	for _, f := range files {
		dir := filepath.Join(root, f.dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
		mtime := now.Add(-f.age)
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// tree lists the files under root as "folder/name".
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func testWorker(t *testing.T, dir string, r Registrar) *Worker {
	w := NewWorker(dir, r, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	w.Now = func() time.Time { return now }
	return w
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

const (
	msgName   = "20261126T203015Z_13800138000_12345_1795720916.93.wav"
	msgAnon   = "20261126T203015Z_unknown_12345_1795720916.94.wav"
	msgLater  = "20261126T210000Z_13900139000_8393000_1795722600.7.wav"
	minute    = time.Minute
	oldEnough = 10 * time.Second
)

func TestRunOnce(t *testing.T) {
	at := time.Date(2026, 11, 26, 20, 30, 15, 0, time.UTC)
	tests := []struct {
		name        string
		files       []spoolFile
		regErr      error
		want        Result
		wantErr     bool
		wantTree    []string
		wantMessage *Message // the first message the registrar saw, Path left out
	}{
		{
			name:     "a message becomes a ticket and its file goes to done",
			files:    []spoolFile{{name: msgName, data: wav(2, -1), age: minute}},
			want:     Result{Registered: []Registered{{File: msgName, Ticket: "20260000001"}}},
			wantTree: []string{"done/" + msgName},
			wantMessage: &Message{Reference: msgName, Caller: "13800138000", Dialled: "12345", At: at,
				CallID: "1795720916.93", Format: "wav", Size: 44 + 32000, Duration: 2 * time.Second},
		},
		{
			name:  "messages are taken in time order",
			files: []spoolFile{{name: msgLater, data: wav(1, -1), age: minute}, {name: msgName, data: wav(1, -1), age: minute}},
			want: Result{Registered: []Registered{
				{File: msgName, Ticket: "20260000001"}, {File: msgLater, Ticket: "20260000002"},
			}},
			wantTree: []string{"done/" + msgName, "done/" + msgLater},
		},
		{
			name:     "a header-only WAV from a known caller is an empty message, still registered",
			files:    []spoolFile{{name: msgName, data: wav(0, -1), age: minute}},
			want:     Result{Registered: []Registered{{File: msgName, Ticket: "20260000001"}}},
			wantTree: []string{"done/" + msgName},
			wantMessage: &Message{Reference: msgName, Caller: "13800138000", Dialled: "12345", At: at,
				CallID: "1795720916.93", Format: "wav", Size: 44, Empty: true},
		},
		{
			name:     "a 0-byte file from a known caller is an empty message",
			files:    []spoolFile{{name: msgName, age: minute}},
			want:     Result{Registered: []Registered{{File: msgName, Ticket: "20260000001"}}},
			wantTree: []string{"done/" + msgName},
		},
		{
			name:     "an empty message from an unknown caller fails",
			files:    []spoolFile{{name: msgAnon, data: wav(0, -1), age: minute}},
			want:     Result{Failed: []string{msgAnon}},
			wantTree: []string{"failed/" + msgAnon},
		},
		{
			name:     "a message with sound from an unknown caller is registered",
			files:    []spoolFile{{name: msgAnon, data: wav(3, -1), age: minute}},
			want:     Result{Registered: []Registered{{File: msgAnon, Ticket: "20260000001"}}},
			wantTree: []string{"done/" + msgAnon},
		},
		{
			name:  "an unfinished WAV header is measured by the file size",
			files: []spoolFile{{name: msgName, data: wav(1.5, 0), age: minute}},
			want:  Result{Registered: []Registered{{File: msgName, Ticket: "20260000001"}}},
			wantMessage: &Message{Reference: msgName, Caller: "13800138000", Dialled: "12345", At: at,
				CallID: "1795720916.93", Format: "wav", Size: 44 + 24000, Duration: 1500 * time.Millisecond},
			wantTree: []string{"done/" + msgName},
		},
		{
			name: "names it cannot read and unreadable recordings fail",
			files: []spoolFile{
				{name: "message.wav", data: wav(1, -1), age: minute},
				{name: "20261126T203015Z_alice_12345_1.wav", data: wav(1, -1), age: minute},
				{name: msgName, data: []byte("this is no WAV file at all, just text"), age: minute},
			},
			want:     Result{Failed: []string{"20261126T203015Z_13800138000_12345_1795720916.93.wav", "20261126T203015Z_alice_12345_1.wav", "message.wav"}},
			wantTree: []string{"failed/20261126T203015Z_13800138000_12345_1795720916.93.wav", "failed/20261126T203015Z_alice_12345_1.wav", "failed/message.wav"},
		},
		{
			name: "other files, hidden files and folders are left alone",
			files: []spoolFile{
				{name: "README.txt", data: []byte("spool"), age: minute},
				{name: ".rsync-tmp.wav", data: wav(1, -1), age: minute},
				{dir: "archive", name: msgName, data: wav(1, -1), age: minute},
			},
			wantTree: []string{".rsync-tmp.wav", "README.txt", "archive/" + msgName},
		},
		{
			name:     "a file changed a moment ago waits for the next run",
			files:    []spoolFile{{name: msgName, data: wav(1, -1), age: time.Second}},
			wantTree: []string{msgName},
		},
		{
			name:     "a message still being recorded is left in incoming",
			files:    []spoolFile{{dir: IncomingDir, name: msgName, data: wav(1, 0), age: oldEnough}},
			wantTree: []string{"incoming/" + msgName},
		},
		{
			name:     "a message abandoned in incoming is imported",
			files:    []spoolFile{{dir: IncomingDir, name: msgName, data: wav(1, 0), age: time.Hour}},
			want:     Result{Registered: []Registered{{File: msgName, Ticket: "20260000001"}}},
			wantTree: []string{"done/" + msgName},
		},
		{
			name:     "a registrar failure leaves the file for the next run",
			files:    []spoolFile{{name: msgName, data: wav(1, -1), age: minute}},
			regErr:   errors.New("database is down"),
			want:     Result{Pending: []string{msgName}},
			wantErr:  true,
			wantTree: []string{msgName},
		},
		{
			name:     "a rejected message fails",
			files:    []spoolFile{{name: msgName, data: wav(1, -1), age: minute}},
			regErr:   fmt.Errorf("dialled number 12345 is no hotline: %w", ErrRejected),
			want:     Result{Failed: []string{msgName}},
			wantTree: []string{"failed/" + msgName},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeSpool(t, dir, tt.files)
			reg := newFakeRegistrar()
			if tt.regErr != nil {
				for _, f := range tt.files {
					reg.errs[f.name] = tt.regErr
				}
			}
			got, err := testWorker(t, dir, reg).RunOnce(testContext(t))
			if (err != nil) != tt.wantErr {
				t.Errorf("RunOnce error = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantTree, tree(t, dir)); diff != "" {
				t.Errorf("files afterwards (-want +got):\n%s", diff)
			}
			if tt.wantMessage != nil {
				if len(reg.messages) == 0 {
					t.Fatal("the registrar saw no message")
				}
				m := reg.messages[0]
				m.Path = ""
				if diff := cmp.Diff(*tt.wantMessage, m); diff != "" {
					t.Errorf("message (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestRunOnceAfterCrash: rexian registered a message and died before moving its file.
// The next run hands the registrar the same reference, which returns the same ticket.
func TestRunOnceAfterCrash(t *testing.T) {
	dir := t.TempDir()
	data := wav(2, -1)
	writeSpool(t, dir, []spoolFile{{name: msgName, data: data, age: minute}})
	reg := newFakeRegistrar()
	w := testWorker(t, dir, reg)
	first, err := w.RunOnce(testContext(t))
	if err != nil || len(first.Registered) != 1 {
		t.Fatalf("first run: %+v, %v", first, err)
	}
	// The crash: the file is back where it was before the move.
	if err := os.Remove(filepath.Join(dir, DoneDir, msgName)); err != nil {
		t.Fatal(err)
	}
	writeSpool(t, dir, []spoolFile{{name: msgName, data: data, age: minute}})

	second, err := w.RunOnce(testContext(t))
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("second run differs (-first +second):\n%s", diff)
	}
	if reg.created != 1 || len(reg.messages) != 2 || reg.messages[0].Reference != reg.messages[1].Reference {
		t.Errorf("created %d tickets from %d calls; want 1 ticket, 2 calls with one reference", reg.created, len(reg.messages))
	}
	if diff := cmp.Diff([]string{"done/" + msgName}, tree(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	// A third run finds nothing.
	third, err := w.RunOnce(testContext(t))
	if err != nil || len(third.Registered)+len(third.Failed)+len(third.Pending) != 0 {
		t.Errorf("third run: %+v, %v", third, err)
	}
}

// TestTwoInstancesShareASpool: two rexian instances import one shared folder at once; the
// registrar's idempotency keeps it at one ticket per message and neither reports an error.
func TestTwoInstancesShareASpool(t *testing.T) {
	dir := t.TempDir()
	var files []spoolFile
	for i := range 20 {
		files = append(files, spoolFile{name: FileName(now.Add(-time.Hour+time.Duration(i)*time.Second), "13800138000", "12345", fmt.Sprint(i), "wav"), data: wav(0.5, -1), age: minute})
	}
	writeSpool(t, dir, files)
	reg := newFakeRegistrar()
	a, b := testWorker(t, dir, reg), testWorker(t, dir, reg)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, w := range []*Worker{a, b} {
		wg.Go(func() { _, errs[i] = w.RunOnce(testContext(t)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Errorf("RunOnce: %v", err)
	}
	if reg.created != len(files) {
		t.Errorf("%d tickets for %d messages", reg.created, len(files))
	}
	if got := tree(t, dir); len(got) != len(files) || got[0] != "done/"+files[0].name {
		t.Errorf("files afterwards: %v", got)
	}
}

func TestRunOnceWithoutSpool(t *testing.T) {
	tests := []struct {
		name     string
		dir      func(t *testing.T) string
		notExist bool
	}{
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "not-mounted") }, true},
		{"a file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "spool")
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			_, err := testWorker(t, dir, newFakeRegistrar()).RunOnce(testContext(t))
			if err == nil || errors.Is(err, fs.ErrNotExist) != tt.notExist {
				t.Errorf("RunOnce(%s) = %v; want an error (not exist: %v)", dir, err, tt.notExist)
			}
			if _, statErr := os.Stat(filepath.Join(dir, DoneDir)); statErr == nil {
				t.Errorf("RunOnce created %s in a spool that is not there", DoneDir)
			}
		})
	}
}

func TestRunOnceStopsWhenCancelled(t *testing.T) {
	dir := t.TempDir()
	writeSpool(t, dir, []spoolFile{{name: msgName, data: wav(1, -1), age: minute}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := testWorker(t, dir, newFakeRegistrar()).RunOnce(ctx)
	if !errors.Is(err, context.Canceled) || len(got.Registered) != 0 {
		t.Errorf("RunOnce = %+v, %v; want nothing done and context.Canceled", got, err)
	}
	if diff := cmp.Diff([]string{msgName}, tree(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}
