package spool

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Folders inside the spool.
const (
	IncomingDir = "incoming"
	DoneDir     = "done"
	FailedDir   = "failed"
)

// Message is one voice message left while rexian was down.
type Message struct {
	// Reference is the file name, unique per message (it holds Asterisk's unique id of
	// the call): the ticket's external reference.
	Reference string
	// Caller is the caller's number, "" when it was withheld.
	Caller string
	// Dialled is the hotline number the caller dialled, "" when unknown.
	Dialled string
	// At is when the message began (UTC, to the second).
	At time.Time
	// CallID is Asterisk's UNIQUEID of the call, "" when the name has none.
	CallID string
	// Path is the recording while RegisterVoicemail runs. It is moved to done/Reference
	// afterwards: copy it during the call to keep it elsewhere.
	Path     string
	Format   string // Asterisk format name, e.g. wav
	Size     int64
	Duration time.Duration
	// Empty is a message without sound (the caller hung up at the beep, or a 44-byte
	// header-only WAV): still a citizen who called and is owed a call back, so it is
	// registered, and the ticket should say "empty message". Empty messages from an
	// unknown caller are not registered: nobody could act on them.
	Empty bool
}

// ErrRejected is wrapped by a Registrar for a message that can never become a ticket;
// its file goes to failed/. Any other error leaves the file for the next run.
var ErrRejected = errors.New("voice message rejected")

// Registrar turns a voice message into a ticket (source voicemail, caller, line,
// recording) in the central desk's inbox.
type Registrar interface {
	// RegisterVoicemail registers m and returns the ticket's number. It must be
	// idempotent on m.Reference: when a ticket with that external reference exists it
	// returns that ticket's number and creates nothing, because the Worker calls it
	// again for a message whose file it could not move to done/ (a crash, a full disk)
	// and because two rexian instances may share one spool. Errors wrapping
	// ErrRejected send the file to failed/; other errors are retried on the next run.
	RegisterVoicemail(ctx context.Context, m Message) (ticketNumber string, err error)
}

// Registered is a message that became (or already was) a ticket.
type Registered struct {
	File   string
	Ticket string
}

// Result is what one RunOnce did, each list in file-name (time) order.
type Result struct {
	Registered []Registered
	Failed     []string // moved to failed/
	Pending    []string // left for the next run after a Registrar error
}

// Worker imports the spool. Schedule RunOnce; the zero settings are sensible.
type Worker struct {
	Dir       string
	Registrar Registrar
	Log       *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Settle: a file changed more recently than this is left for the next run, in case
	// something is still copying it into the folder (default 5s). The dialplan itself
	// renames finished files into place, which is atomic.
	Settle time.Duration
	// Abandoned: a file in incoming/ unchanged for this long is imported as well; its
	// hang-up handler never ran because Asterisk stopped mid-call (default 15m, well
	// beyond the dialplan's call limit of 5 minutes).
	Abandoned time.Duration

	mu sync.Mutex // one pass at a time
}

// NewWorker returns a Worker for the spool folder dir.
func NewWorker(dir string, r Registrar, log *slog.Logger) *Worker {
	return &Worker{Dir: dir, Registrar: r, Log: log}
}

// candidate is a file RunOnce looks at.
type candidate struct {
	name, path string
}

// RunOnce imports every finished message in the spool once. The error is non-nil when
// the spool cannot be read or some message could not be dealt with; the Result says
// which.
func (w *Worker) RunOnce(ctx context.Context) (Result, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	log := w.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("spool", w.Dir)
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	settle, abandoned := cmp.Or(w.Settle, 5*time.Second), cmp.Or(w.Abandoned, 15*time.Minute)

	var res Result
	if w.Registrar == nil {
		return res, errors.New("voice-message spool: no registrar")
	}
	// The spool itself is not created: a missing one is a wrong path or a shared mount
	// that is not mounted, and importing from an empty stand-in would hide that.
	if info, err := os.Stat(w.Dir); err != nil || !info.IsDir() {
		if err == nil {
			err = errors.New("not a folder")
		}
		return res, fmt.Errorf("voice-message spool %s: %w", w.Dir, err)
	}
	for _, d := range []string{DoneDir, FailedDir} {
		if err := os.MkdirAll(filepath.Join(w.Dir, d), 0o775); err != nil {
			return res, fmt.Errorf("voice-message spool %s: %w", w.Dir, err)
		}
	}
	ready, err := w.list(w.Dir, now().Add(-settle))
	if err != nil {
		return res, err
	}
	stale, err := w.list(filepath.Join(w.Dir, IncomingDir), now().Add(-abandoned))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, err
	}
	for _, c := range stale {
		log.Warn("importing a voice message left in incoming: its call never finished normally", "file", c.name)
	}
	all := append(ready, stale...)
	slices.SortFunc(all, func(a, b candidate) int { return strings.Compare(a.name, b.name) })

	var errs []error
	for _, c := range all {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		ticket, outcome, err := w.importOne(ctx, log, c)
		switch outcome {
		case registered:
			res.Registered = append(res.Registered, Registered{File: c.name, Ticket: ticket})
		case failed:
			res.Failed = append(res.Failed, c.name)
		case pending:
			res.Pending = append(res.Pending, c.name)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(res.Registered) > 0 || len(res.Failed) > 0 {
		log.Info("voice-message spool imported", "registered", len(res.Registered), "failed", len(res.Failed), "pending", len(res.Pending))
	}
	return res, errors.Join(errs...)
}

// list returns the audio files in dir last changed before cutoff. Hidden files, folders
// and other files (a README) are left alone.
func (w *Worker) list(dir string, cutoff time.Time) ([]candidate, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("voice-message spool: read %s: %w", dir, err)
	}
	var out []candidate
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !e.Type().IsRegular() {
			continue
		}
		ext := strings.ToLower(filepath.Ext(name))
		if _, ok := formats[strings.TrimPrefix(ext, ".")]; !ok {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone meanwhile: taken by another instance
		}
		if info.ModTime().After(cutoff) {
			continue
		}
		out = append(out, candidate{name: name, path: filepath.Join(dir, name)})
	}
	return out, nil
}

type outcome int

const (
	skipped outcome = iota
	registered
	failed
	pending
)

// importOne registers one file and moves it to done/, or moves it to failed/ with a log
// line saying why.
func (w *Worker) importOne(ctx context.Context, log *slog.Logger, c candidate) (string, outcome, error) {
	log = log.With("file", c.name)
	fail := func(reason string, cause error) (string, outcome, error) {
		args := []any{"reason", reason}
		if cause != nil {
			args = append(args, "err", cause)
		}
		log.Error("voice message not registered, moved to "+FailedDir, args...)
		if err := w.move(c, FailedDir); err != nil {
			return "", skipped, err
		}
		return "", failed, nil
	}
	h, err := parseName(c.name)
	if err != nil {
		return fail("file name not understood", err)
	}
	snd, err := measure(c.path, h.Format)
	if errors.Is(err, fs.ErrNotExist) {
		return "", skipped, nil // taken by another instance
	}
	if err != nil {
		return fail("recording not readable", err)
	}
	m := Message{
		Reference: c.name,
		Caller:    h.Caller,
		Dialled:   h.Dialled,
		At:        h.At,
		CallID:    h.CallID,
		Path:      c.path,
		Format:    h.Format,
		Size:      snd.Size,
		Duration:  snd.Duration,
		Empty:     snd.Duration == 0,
	}
	if m.Empty && m.Caller == "" {
		return fail("empty message from an unknown caller", nil)
	}
	ticket, err := w.Registrar.RegisterVoicemail(ctx, m)
	if errors.Is(err, ErrRejected) {
		return fail("rejected", err)
	}
	if err != nil {
		if _, statErr := os.Stat(c.path); errors.Is(statErr, fs.ErrNotExist) {
			// Another instance sharing the spool registered it meanwhile and moved it
			// away while this one was reading it.
			return "", skipped, nil
		}
		log.Warn("voice message not registered yet; retrying on the next run", "err", err)
		return "", pending, fmt.Errorf("register voice message %s: %w", c.name, err)
	}
	if err := w.move(c, DoneDir); err != nil {
		// Registered, but the file stays: the next run registers it again and the
		// Registrar returns the same ticket.
		return ticket, registered, err
	}
	log.Info("voice message registered", "ticket", ticket, "caller", m.Caller, "dialled", m.Dialled,
		"duration", m.Duration.Round(time.Second), "empty", m.Empty)
	return ticket, registered, nil
}

// move renames the file into a sub-folder of the spool. A file already gone was moved by
// another instance sharing the spool.
func (w *Worker) move(c candidate, sub string) error {
	err := os.Rename(c.path, filepath.Join(w.Dir, sub, c.name))
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("voice-message spool: move %s to %s: %w", c.name, sub, err)
}
