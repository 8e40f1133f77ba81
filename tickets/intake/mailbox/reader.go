package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-sasl"
)

// ReaderOptions configure a Reader.
type ReaderOptions struct {
	// Endpoint is the IMAP server and the folder letters arrive in.
	Endpoint Endpoint
	// TLS, when set, replaces the system's roots (tests trust their own certificate).
	TLS *tls.Config
	// Folders letters are moved to, created when missing.
	ProcessedFolder, FailedFolder, IgnoredFolder string
	// PollInterval is how often the folder is looked at when the server has no IDLE; with
	// IDLE it is how soon a letter left for later (the database was down) is retried.
	PollInterval time.Duration
	// MaxLetterBytes: a larger letter is not downloaded; its ticket says so and it goes
	// to the failed folder.
	MaxLetterBytes int64
	// MaxBackoff bounds the wait between reconnections.
	MaxBackoff time.Duration
	Log        *slog.Logger
}

// Reader reads the mailbox over IMAP and hands each letter to the Intake.
type Reader struct {
	intake *Intake
	opts   ReaderOptions
	// processed counts letters moved out of the inbox, for tests and metrics.
	processed atomic.Int64
	// lastPoll is the Unix time of the last complete look at the inbox.
	lastPoll atomic.Int64
}

// NewReader returns a reader feeding intake.
func NewReader(intake *Intake, opts ReaderOptions) *Reader {
	if opts.ProcessedFolder == "" {
		opts.ProcessedFolder = "Processed"
	}
	if opts.FailedFolder == "" {
		opts.FailedFolder = "Failed"
	}
	if opts.IgnoredFolder == "" {
		opts.IgnoredFolder = "Ignored"
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Minute
	}
	if opts.MaxLetterBytes <= 0 {
		opts.MaxLetterBytes = 25 << 20
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	opts.Log = opts.Log.With("imap", opts.Endpoint.Addr, "folder", opts.Endpoint.Folder)
	return &Reader{intake: intake, opts: opts}
}

// LastPoll is when the reader last looked through the whole inbox without an error (the
// zero time before the first time): a reader stuck on a dead connection stops moving it.
func (r *Reader) LastPoll() time.Time {
	if t := r.lastPoll.Load(); t != 0 {
		return time.Unix(t, 0)
	}
	return time.Time{}
}

// Processed is how many letters the reader has moved out of the inbox since it started.
func (r *Reader) Processed() int64 { return r.processed.Load() }

// Run reads the mailbox until ctx ends: connect, take every waiting letter, then wait
// for new ones (IDLE when offered, else polling). A lost connection is re-established
// with a growing, jittered backoff.
func (r *Reader) Run(ctx context.Context) error {
	backoff := time.Second
	for {
		start := time.Now()
		err := r.serve(ctx, true)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > time.Minute {
			backoff = time.Second // the connection worked for a while: start the backoff over
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		r.opts.Log.WarnContext(ctx, "mailbox connection lost; reconnecting", "err", err, "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, r.opts.MaxBackoff)
	}
}

// RunOnce connects, takes every waiting letter once and logs out: one pass, for tests
// and for running from a scheduler.
func (r *Reader) RunOnce(ctx context.Context) error {
	return r.serve(ctx, false)
}

// errRetryLater is a pass that left letters behind because something outside the mailbox
// (the database) failed.
var errRetryLater = errors.New("letters left in the inbox to retry")

// serve makes one connection: log in, make the folders, take the waiting letters, and,
// when wait is set, keep waiting for new ones until the connection fails or ctx ends.
func (r *Reader) serve(ctx context.Context, wait bool) error {
	newMail := make(chan struct{}, 1)
	opts := &imapclient.Options{
		TLSConfig:   r.opts.Endpoint.tlsConfig(r.opts.TLS),
		WordDecoder: &mime.WordDecoder{CharsetReader: charset.Reader},
		Dialer:      &net.Dialer{Timeout: 30 * time.Second},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					select {
					case newMail <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	c, err := r.dial(opts)
	if err != nil {
		return err
	}
	defer c.Close()
	// Closing the connection is what unblocks a command waiting on a dead server.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	if err := r.login(c); err != nil {
		return err
	}
	if err := r.ensureFolders(c); err != nil {
		return err
	}
	if _, err := c.Select(r.opts.Endpoint.Folder, nil).Wait(); err != nil {
		return fmt.Errorf("select %s: %w", r.opts.Endpoint.Folder, err)
	}
	r.opts.Log.InfoContext(ctx, "mailbox connected", "idle", c.Caps().Has(imap.CapIdle), "move", c.Caps().Has(imap.CapMove))
	retry := r.opts.PollInterval
	for {
		err := r.drain(ctx, c)
		if err == nil {
			r.lastPoll.Store(time.Now().Unix())
		}
		if !wait {
			if errors.Is(err, errRetryLater) {
				return nil // the letters stay; the next pass takes them
			}
			if err == nil {
				_ = c.Logout().Wait()
			}
			return err
		}
		delay := r.opts.PollInterval
		switch {
		case errors.Is(err, errRetryLater):
			delay = min(retry, r.opts.MaxBackoff)
			retry *= 2
		case err != nil:
			return err
		default:
			retry = r.opts.PollInterval
		}
		if err := r.waitForMail(ctx, c, newMail, delay); err != nil {
			return err
		}
		if ctx.Err() != nil {
			_ = c.Logout().Wait()
			return nil
		}
	}
}

func (r *Reader) dial(opts *imapclient.Options) (*imapclient.Client, error) {
	e := r.opts.Endpoint
	var (
		c   *imapclient.Client
		err error
	)
	switch e.Security {
	case ImplicitTLS:
		c, err = imapclient.DialTLS(e.Addr, opts)
	case StartTLS:
		c, err = imapclient.DialStartTLS(e.Addr, opts)
	default:
		c, err = imapclient.DialInsecure(e.Addr, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s (%s): %w", e.Addr, e.Security, err)
	}
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting from %s: %w", e.Addr, err)
	}
	return c, nil
}

// login authenticates with SASL PLAIN or LOGIN, whichever the server offers, and falls
// back to the IMAP LOGIN command for servers that offer neither.
func (r *Reader) login(c *imapclient.Client) error {
	e := r.opts.Endpoint
	caps := c.Caps()
	var err error
	switch {
	case caps.Has(imap.Cap("AUTH=PLAIN")):
		err = c.Authenticate(sasl.NewPlainClient("", e.User, e.Password))
	case caps.Has(imap.Cap("AUTH=LOGIN")):
		err = c.Authenticate(sasl.NewLoginClient(e.User, e.Password))
	case !caps.Has(imap.CapLoginDisabled):
		err = c.Login(e.User, e.Password).Wait()
	default:
		return fmt.Errorf("log in to %s as %s: the server offers neither AUTH=PLAIN nor AUTH=LOGIN", e.Addr, e.User)
	}
	if err != nil {
		return fmt.Errorf("log in to %s as %s: %w", e.Addr, e.User, err)
	}
	return nil
}

// Check connects, logs in, opens the inbox folder and lists the folders, changing
// nothing (rexian doctor). It returns which of the reader's own folders are missing: the
// reader creates them when it starts.
func (r *Reader) Check(ctx context.Context) (missing []string, err error) {
	c, err := r.dial(&imapclient.Options{Dialer: &net.Dialer{Timeout: 30 * time.Second}, TLSConfig: r.opts.Endpoint.tlsConfig(r.opts.TLS)})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := r.login(c); err != nil {
		return nil, err
	}
	if _, err := c.Select(r.opts.Endpoint.Folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return nil, fmt.Errorf("open folder %s: %w", r.opts.Endpoint.Folder, err)
	}
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		return nil, fmt.Errorf("list folders: %w", err)
	}
	have := map[string]bool{}
	for _, m := range list {
		have[m.Mailbox] = true
	}
	for _, f := range []string{r.opts.ProcessedFolder, r.opts.FailedFolder, r.opts.IgnoredFolder} {
		if !have[f] {
			missing = append(missing, f)
		}
	}
	_ = c.Logout().Wait()
	return missing, nil
}

func (r *Reader) ensureFolders(c *imapclient.Client) error {
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		return fmt.Errorf("list folders: %w", err)
	}
	have := map[string]bool{}
	for _, m := range list {
		have[m.Mailbox] = true
	}
	for _, f := range []string{r.opts.ProcessedFolder, r.opts.FailedFolder, r.opts.IgnoredFolder} {
		if have[f] {
			continue
		}
		if err := c.Create(f, nil).Wait(); err != nil {
			var ierr *imap.Error
			if errors.As(err, &ierr) && ierr.Code == imap.ResponseCodeAlreadyExists {
				continue // another reader created it a moment ago
			}
			return fmt.Errorf("create folder %s: %w", f, err)
		}
		r.opts.Log.Info("created mailbox folder", "name", f)
	}
	return nil
}

// waitForMail returns when new mail may have arrived, after delay, or when ctx ends.
func (r *Reader) waitForMail(ctx context.Context, c *imapclient.Client, newMail <-chan struct{}, delay time.Duration) error {
	timer := time.NewTimer(delay)
	defer timer.Stop()
	if !c.Caps().Has(imap.CapIdle) {
		select {
		case <-ctx.Done():
		case <-timer.C:
		case <-c.Closed():
			return errors.New("connection closed by the server")
		}
		return nil
	}
	idle, err := c.Idle()
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	select {
	case <-ctx.Done():
	case <-newMail:
	case <-timer.C:
	case <-c.Closed():
	}
	if err := idle.Close(); err != nil {
		return fmt.Errorf("end idle: %w", err)
	}
	if err := idle.Wait(); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	return nil
}

// drain takes every letter now in the folder, oldest first, one at a time.
func (r *Reader) drain(ctx context.Context, c *imapclient.Client) error {
	found, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
	if err != nil {
		return fmt.Errorf("search %s: %w", r.opts.Endpoint.Folder, err)
	}
	uids := found.AllUIDs()
	slices.Sort(uids)
	for _, uid := range uids {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := r.take(ctx, c, uid); err != nil {
			return err
		}
	}
	return nil
}

// take handles one letter: fetch, register, then flag and move. Nothing is flagged or
// moved unless its ticket is committed (or it is noise), so a failure leaves the letter
// as it was for the next pass.
func (r *Reader) take(ctx context.Context, c *imapclient.Client, uid imap.UID) error {
	log := r.opts.Log.With("uid", uint32(uid))
	set := imap.UIDSetNum(uid)
	header := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
	msgs, err := c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{header}}).Collect()
	if err != nil {
		return fmt.Errorf("fetch header of uid %d: %w", uid, err)
	}
	if len(msgs) == 0 {
		return nil // expunged meanwhile, by another reader
	}
	in := Incoming{UID: uint32(uid), Size: msgs[0].RFC822Size, Header: msgs[0].FindBodySection(header), MaxBytes: r.opts.MaxLetterBytes}
	if in.Size <= r.opts.MaxLetterBytes {
		whole := &imap.FetchItemBodySection{Peek: true}
		msgs, err := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{whole}}).Collect()
		if err != nil {
			return fmt.Errorf("fetch uid %d: %w", uid, err)
		}
		if len(msgs) == 0 {
			return nil
		}
		in.Raw = msgs[0].FindBodySection(whole)
		if in.Raw == nil {
			in.Raw = []byte{}
		}
	}
	res, err := r.accept(ctx, in)
	if err != nil {
		log.WarnContext(ctx, "letter left in the inbox to retry", "err", err)
		return fmt.Errorf("%w: %w", errRetryLater, err)
	}
	folder := r.opts.ProcessedFolder
	switch res.Outcome {
	case outcomeFailed:
		folder = r.opts.FailedFolder
	case outcomeIgnored:
		folder = r.opts.IgnoredFolder
	}
	if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		return fmt.Errorf("flag uid %d seen: %w", uid, err)
	}
	// Move falls back to COPY, STORE \Deleted and (UID) EXPUNGE on servers without MOVE.
	if _, err := c.Move(set, folder).Wait(); err != nil {
		return fmt.Errorf("move uid %d to %s: %w", uid, folder, err)
	}
	r.processed.Add(1)
	log.InfoContext(ctx, "letter moved", "message_id", res.MessageID, "ticket", res.Ticket, "to", folder,
		"duplicate", res.Duplicate, "reason", res.Reason)
	return nil
}

// accept runs the intake for one letter; a panic costs that letter (it goes to the failed
// folder for a person to look at), never the reader.
func (r *Reader) accept(ctx context.Context, in Incoming) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			r.opts.Log.ErrorContext(ctx, "letter crashed the intake; moving it to the failed folder",
				"uid", in.UID, "panic", p, "stack", strings.TrimSpace(string(debug.Stack())))
			res, err = Result{Outcome: outcomeFailed, Reason: fmt.Sprintf("panic: %v", p)}, nil
		}
	}()
	return r.intake.Accept(ctx, in)
}
