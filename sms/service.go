package sms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/pii"
	"github.com/rexian/rexian/tickets"
)

// Options configure a Service. Zero values take the defaults noted.
type Options struct {
	// Gateway sends parts; nil keeps every message queued (visible) until one is set.
	Gateway Gateway
	Log     *slog.Logger
	Now     func() time.Time
	// Location is the city's zone, for quiet hours and the times the API shows.
	Location *time.Location
	// Signature goes in front of every message (default 【12345市民热线】).
	Signature string
	// QuietStart and QuietEnd are minutes after midnight (the period may wrap midnight;
	// equal means none); QuietKinds are the kinds that wait for the end of it.
	QuietStart, QuietEnd int
	QuietKinds           []Kind
	MaxParts             int           // default 5
	RatePerSecond        float64       // parts per second over all instances; default 100
	Concurrency          int           // parts submitted at once by one instance; default 32
	BatchSize            int           // messages claimed per round trip; default 200
	Expiry               time.Duration // default 24h
	Lease                time.Duration // default 1m
	ReconcileGrace       time.Duration // default 2m
	ConversationWindow   time.Duration // default 2h
	PollInterval         time.Duration // default 1s
	// InboundCategory is the category code of tickets opened by an inbound SMS (default
	// ZX, consultation); the desk re-files them.
	InboundCategory string
	// Owner names this instance in leases; default host-pid-random.
	Owner string
	// Surveys takes survey answers; nil until the callback package sets one.
	Surveys SurveyAnswers
}

// SurveyAnswers takes an inbound message that may answer a survey. handled false sends the
// message on down the routing chain (to the query, then to a new ticket).
type SurveyAnswers interface {
	Answer(ctx context.Context, from string, text string, at time.Time) (handled bool, err error)
}

// Service is the SMS outbox: it accepts messages, sends them through the gateway,
// records delivery reports and routes inbound messages.
type Service struct {
	db      *gorm.DB
	live    *live.Store
	tickets *tickets.Store
	opts    Options
	log     *slog.Logger
	loc     *time.Location
	now     func() time.Time
	limiter *rateLimiter
	surveys atomic.Pointer[SurveyAnswers]
	// phoneLocks serialise inbound routing per number within this instance; Redis locks
	// do so across instances.
	phoneLocks [64]sync.Mutex
	noGateway  sync.Once
	// wake tells this instance's sender that a message was just queued.
	wake    chan struct{}
	reports reportQueue // delivery reports written together (reports.go)
	// submissions counts the gateway's answers to parts, by result (metrics.go).
	submissions *prometheus.CounterVec
}

// NewService returns the outbox over db. ls may be nil (no shared rate limit: a local one
// is used); ts is needed for ticket messages, status queries and inbound tickets.
func NewService(db *gorm.DB, ls *live.Store, ts *tickets.Store, opts Options) (*Service, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			loc = time.FixedZone("CST", 8*3600)
		}
		opts.Location = loc
	}
	if opts.Signature == "" {
		opts.Signature = "【12345市民热线】"
	}
	if opts.QuietKinds == nil && opts.QuietStart == 0 && opts.QuietEnd == 0 {
		opts.QuietStart, opts.QuietEnd = 21*60, 8*60
		opts.QuietKinds = []Kind{KindSurvey, KindFreeText}
	}
	for _, k := range opts.QuietKinds {
		if !k.Valid() {
			return nil, fmt.Errorf("sms: quiet kinds: unknown kind %q", k)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	defInt(&opts.MaxParts, 5)
	defInt(&opts.Concurrency, 32)
	defInt(&opts.BatchSize, 200)
	if opts.RatePerSecond <= 0 {
		opts.RatePerSecond = 100
	}
	def(&opts.Expiry, 24*time.Hour)
	def(&opts.Lease, time.Minute)
	if opts.ReconcileGrace < 0 {
		opts.ReconcileGrace = 0
	} else if opts.ReconcileGrace == 0 {
		opts.ReconcileGrace = 2 * time.Minute
	}
	def(&opts.ConversationWindow, 2*time.Hour)
	def(&opts.PollInterval, time.Second)
	if opts.InboundCategory == "" {
		opts.InboundCategory = "ZX"
	}
	if opts.Owner == "" {
		host, _ := os.Hostname()
		if len(host) > 32 {
			host = host[:32]
		}
		opts.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomHex(4))
	}
	if len(opts.Owner) > 48 { // room for the claim counter in lease_owner (64)
		opts.Owner = opts.Owner[:48]
	}
	s := &Service{submissions: newSubmissionCounter(), db: db, live: ls, tickets: ts, opts: opts, log: opts.Log, loc: opts.Location, now: opts.Now,
		wake: make(chan struct{}, 1)}
	s.limiter = newRateLimiter(ls, opts.RatePerSecond, opts.Log)
	if opts.Surveys != nil {
		s.SetSurveyAnswers(opts.Surveys)
	}
	return s, nil
}

// SetSurveyAnswers installs the survey hook after construction (the callback package
// needs the outbox to send surveys, and the outbox needs it to take the answers).
func (s *Service) SetSurveyAnswers(a SurveyAnswers) {
	if a == nil {
		s.surveys.Store(nil)
		return
	}
	s.surveys.Store(&a)
}

// Receiver is what a gateway driver's callbacks call.
func (s *Service) Receiver() Receiver { return s }

// Gateway returns the configured gateway, or nil.
func (s *Service) Gateway() Gateway { return s.opts.Gateway }

// MaxParts is the configured part limit.
func (s *Service) MaxParts() int { return s.opts.MaxParts }

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// NewMessage is what Enqueue takes: either Text, or a Template name with its Variables.
type NewMessage struct {
	Kind      Kind
	To        string
	Text      string
	Template  string
	Variables map[string]string
	// IdempotencyKey makes a repeated enqueue return the first message; empty for a
	// message that may be sent again.
	IdempotencyKey string
	TicketNumber   string
	NoticeID       *uint64
	// CreatedBy is the actor ("operator:zhang", "system:tickets").
	CreatedBy string
}

// Recipient checks that raw is a number that can receive SMS and returns its national
// form. Landlines are refused with their own code: surveys go to an IVR call instead.
func Recipient(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", api.Errorf(api.ErrInvalid, "empty_recipient", "the recipient's mobile number is empty")
	}
	n, err := phone.Parse(raw)
	if err != nil {
		return "", api.Errorf(api.ErrInvalid, "invalid_phone", "%q is not a valid phone number: %v", raw, err)
	}
	switch n.Kind {
	case phone.Mobile:
		return n.National, nil
	case phone.Landline:
		return "", api.Errorf(api.ErrInvalid, "landline", "%s is a landline; landline numbers cannot receive SMS", n.National)
	}
	return "", api.Errorf(api.ErrInvalid, "not_mobile", "%s is not a Chinese mobile number; only those can receive SMS", n.National)
}

// Compose renders a message's text: the signature, then the text or the template.
func (s *Service) compose(ctx context.Context, m NewMessage) (string, error) {
	body := m.Text
	if m.Template != "" {
		if strings.TrimSpace(m.Text) != "" {
			return "", api.Errorf(api.ErrInvalid, "text_and_template", "send either text or a template, not both")
		}
		tb, kind, err := s.templateBody(ctx, m.Template)
		if err != nil {
			return "", err
		}
		if kind != m.Kind {
			return "", api.Errorf(api.ErrInvalid, "template_kind", "template %s is for %s messages, not %s", m.Template, kind, m.Kind)
		}
		if body, err = render(tb, m.Variables); err != nil {
			return "", err
		}
	}
	body = strings.TrimSpace(body)
	if body == "" {
		return "", api.Errorf(api.ErrInvalid, "empty_text", "the message text is empty")
	}
	if !utf8.ValidString(body) {
		return "", api.Errorf(api.ErrInvalid, "invalid_text", "the message text is not valid UTF-8")
	}
	if strings.ContainsRune(body, 0) {
		return "", api.Errorf(api.ErrInvalid, "invalid_text", "the message text contains a NUL character")
	}
	if s.opts.Signature != "" && !strings.HasPrefix(body, s.opts.Signature) {
		body = s.opts.Signature + body
	}
	return body, nil
}

// checkLength refuses a text over the part limit, saying by how much.
func (s *Service) checkLength(text string) (Coding, []string, error) {
	coding, parts := Split(text)
	if len(parts) > s.opts.MaxParts {
		_, _, chars := Measure(text)
		per, unit := ucs2Part, "characters (UCS-2, for Chinese)"
		if coding == CodingGSM7 {
			per, unit = gsm7Part, "GSM 7-bit characters"
		}
		return "", nil, api.Errorf(api.ErrInvalid, "too_long",
			"the message is %d %s, %d parts; the limit is %d parts (%d %s)", chars, unit, len(parts), s.opts.MaxParts, per*s.opts.MaxParts, unit)
	}
	return coding, parts, nil
}

// Enqueue stores a message for sending after checking every rule: a mobile recipient,
// text within the part limit, quiet hours (the message waits for the morning) and
// the suppression list (the message is stored as suppressed, never sent). A second
// enqueue with the same idempotency key returns the first message and created false.
func (s *Service) Enqueue(ctx context.Context, m NewMessage) (msg *Message, created bool, err error) {
	if err := checkKey(m); err != nil {
		return nil, false, err
	}
	if m.IdempotencyKey != "" {
		if old, err := s.byKey(ctx, s.db, m.IdempotencyKey); err == nil {
			return old, false, nil
		} else if !errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, false, err
		}
	}
	msg, texts, err := s.prepare(ctx, m)
	if err != nil {
		return nil, false, err
	}
	if m.Kind.suppressible() {
		suppressed, err := s.Suppressed(ctx, msg.Recipient)
		if err != nil {
			return nil, false, err
		}
		if suppressed {
			s.suppress(msg)
		}
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(msg).Error; err != nil {
			return err
		}
		return tx.Create(partsOf(msg, texts)).Error
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) && m.IdempotencyKey != "" {
		// Another request with the same key won the race: theirs is the message.
		old, err := s.byKey(ctx, s.db, m.IdempotencyKey)
		if err != nil {
			return nil, false, err
		}
		return old, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("sms: enqueue %s to %s: %w", m.Kind, phone.Mask(msg.Recipient), err)
	}
	s.wakeIfDue(msg)
	return msg, true, nil
}

func checkKey(m NewMessage) error {
	if !m.Kind.Valid() {
		return api.Errorf(api.ErrInvalid, "unknown_kind", "unknown kind %q; one of %v", m.Kind, Kinds)
	}
	if len(m.IdempotencyKey) > 160 {
		return api.Errorf(api.ErrInvalid, "invalid_idempotency_key", "idempotency key is over 160 bytes")
	}
	return nil
}

// prepare checks a new message and builds its row and part texts, without writing.
func (s *Service) prepare(ctx context.Context, m NewMessage) (*Message, []string, error) {
	to, err := Recipient(m.To)
	if err != nil {
		return nil, nil, err
	}
	if m.TicketNumber != "" {
		m.TicketNumber = tickets.NormalizeNumber(m.TicketNumber)
		if !tickets.CheckNumber(m.TicketNumber) {
			return nil, nil, api.Errorf(api.ErrInvalid, "invalid_ticket", "%q is not a ticket number (wrong length or check digit)", m.TicketNumber)
		}
	}
	text, err := s.compose(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	coding, texts, err := s.checkLength(text)
	if err != nil {
		return nil, nil, err
	}
	now := s.clock()
	msg := &Message{
		Kind: m.Kind, Recipient: to, Text: text, Template: m.Template, IdempotencyKey: m.IdempotencyKey,
		Status: StatusQueued, Coding: coding, PartCount: len(texts), NextAttemptAt: s.due(m.Kind, now),
		TicketNumber: m.TicketNumber, NoticeID: m.NoticeID, CreatedBy: m.CreatedBy, CreatedAt: now, UpdatedAt: now,
	}
	if msg.CreatedBy == "" {
		msg.CreatedBy = "system"
	}
	if msg.IdempotencyKey == "" {
		msg.IdempotencyKey = "auto:" + randomHex(12)
	}
	msg.ExpiresAt = msg.NextAttemptAt.Add(s.opts.Expiry)
	if len(m.Variables) > 0 {
		b, _ := json.Marshal(m.Variables)
		msg.Variables = string(b)
	}
	return msg, texts, nil
}

// suppress marks a message for a number on the suppression list.
func (s *Service) suppress(msg *Message) {
	now := msg.CreatedAt
	msg.Status, msg.FinishedAt = StatusSuppressed, &now
	msg.Error = "the recipient opted out of " + string(msg.Kind) + " messages"
}

func partsOf(msg *Message, texts []string) []MessagePart {
	parts := make([]MessagePart, len(texts))
	for i, t := range texts {
		parts[i] = MessagePart{MessageID: msg.ID, Seq: i + 1, Text: t, Status: PartPending}
	}
	return parts
}

// wakeIfDue nudges the sender for a message that may go out now.
func (s *Service) wakeIfDue(msg *Message) {
	if msg.Status == StatusQueued && !msg.NextAttemptAt.After(s.clock()) {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Enqueued is one result of EnqueueBatch.
type Enqueued struct {
	Message *Message
	Created bool
	Err     error // this message's own problem (invalid number, text too long…)
}

// batchChunk is how many messages one EnqueueBatch step looks up and inserts.
const batchChunk = 500

// insertRows bounds the rows of one multi-row INSERT: the pure-Go SQLite driver binds
// parameters in time quadratic in their number, and a message row has about twenty.
const insertRows = 50

// EnqueueBatch queues many messages with a few statements: one lookup of the keys that
// exist already, one of the suppression list, multi-row inserts. It is what a survey
// batch of 100,000 needs; one message at a time costs several round trips each. Results
// are in the order of ms; a message's own problem is in its result and does not stop the
// others. The error is for the batch as a whole (the database).
func (s *Service) EnqueueBatch(ctx context.Context, ms []NewMessage) ([]Enqueued, error) {
	out := make([]Enqueued, len(ms))
	for start := 0; start < len(ms); start += batchChunk {
		end := min(start+batchChunk, len(ms))
		if err := s.enqueueChunk(ctx, ms[start:end], out[start:end]); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (s *Service) enqueueChunk(ctx context.Context, ms []NewMessage, out []Enqueued) error {
	db := s.db.WithContext(ctx)
	keys := make([]string, 0, len(ms))
	for i, m := range ms {
		if out[i].Err = checkKey(m); out[i].Err == nil && m.IdempotencyKey != "" {
			keys = append(keys, m.IdempotencyKey)
		}
	}
	existing := map[string]*Message{}
	if len(keys) > 0 {
		var old []*Message
		if err := db.Where("idempotency_key IN ?", keys).Find(&old).Error; err != nil {
			return fmt.Errorf("sms: enqueue batch: existing keys: %w", err)
		}
		for _, m := range old {
			existing[m.IdempotencyKey] = m
		}
	}
	type fresh struct {
		i     int
		msg   *Message
		texts []string
	}
	var news []fresh
	seen := map[string]int{} // a key twice in one batch: the first one is the message
	var recipients []string
	for i, m := range ms {
		if out[i].Err != nil {
			continue
		}
		if old := existing[m.IdempotencyKey]; old != nil && m.IdempotencyKey != "" {
			out[i] = Enqueued{Message: old}
			continue
		}
		if j, dup := seen[m.IdempotencyKey]; dup && m.IdempotencyKey != "" {
			out[i] = Enqueued{Message: news[j].msg}
			continue
		}
		msg, texts, err := s.prepare(ctx, m)
		if err != nil {
			out[i].Err = err
			continue
		}
		if m.IdempotencyKey != "" {
			seen[m.IdempotencyKey] = len(news)
		}
		news = append(news, fresh{i: i, msg: msg, texts: texts})
		if m.Kind.suppressible() {
			recipients = append(recipients, msg.Recipient)
		}
	}
	if len(news) == 0 {
		return nil
	}
	if len(recipients) > 0 {
		var off []Suppression
		if err := db.Select("id", "phone").Where(pii.IsAny(db, "phone", "phone_idx", recipients)).Find(&off).Error; err != nil {
			return fmt.Errorf("sms: enqueue batch: suppression list: %w", err)
		}
		if len(off) > 0 {
			set := make(map[string]bool, len(off))
			for _, p := range off {
				set[p.Phone] = true
			}
			for _, f := range news {
				if f.msg.Kind.suppressible() && set[f.msg.Recipient] {
					s.suppress(f.msg)
				}
			}
		}
	}
	msgs := make([]*Message, len(news))
	for k, f := range news {
		msgs[k] = f.msg
	}
	err := db.Transaction(func(tx *gorm.DB) error {
		if err := tx.CreateInBatches(msgs, insertRows).Error; err != nil {
			return err
		}
		var parts []MessagePart
		for _, f := range news {
			parts = append(parts, partsOf(f.msg, f.texts)...)
		}
		return tx.CreateInBatches(parts, insertRows).Error
	})
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		// A concurrent enqueue took one of the keys since the lookup: fall back to one
		// at a time for this chunk, which settles each key on its own.
		for _, f := range news {
			msg, created, err := s.Enqueue(ctx, ms[f.i])
			out[f.i] = Enqueued{Message: msg, Created: created, Err: err}
		}
		for i := range ms {
			if out[i].Err == nil && (out[i].Message == nil || out[i].Message.ID == 0) {
				out[i].Message, _ = s.byKey(ctx, s.db, ms[i].IdempotencyKey)
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("sms: enqueue batch of %d: %w", len(msgs), err)
	}
	for _, f := range news {
		out[f.i] = Enqueued{Message: f.msg, Created: true}
	}
	for i := range ms {
		if out[i].Message == nil && out[i].Err == nil {
			// A repeated key within the batch: the first one's message, now with its id.
			out[i].Message = news[seen[ms[i].IdempotencyKey]].msg
		}
	}
	if len(msgs) > 0 {
		s.wakeIfDue(msgs[0])
	}
	return nil
}

func (s *Service) wakeC() <-chan struct{} { return s.wake }

func (s *Service) byKey(ctx context.Context, db *gorm.DB, key string) (*Message, error) {
	var old Message
	err := db.WithContext(ctx).Where("idempotency_key = ?", key).Take(&old).Error
	if err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("sms: find message by key: %w", err)
	}
	return &old, nil
}

// due is when a message of kind made at t may first be sent: at once, or for a kind that
// keeps quiet hours, at their end.
func (s *Service) due(kind Kind, t time.Time) time.Time {
	quiet := false
	for _, k := range s.opts.QuietKinds {
		quiet = quiet || k == kind
	}
	if !quiet {
		return t
	}
	return s.afterQuiet(t)
}

// afterQuiet returns t, or the end of the quiet period t falls in.
func (s *Service) afterQuiet(t time.Time) time.Time {
	start, end := s.opts.QuietStart, s.opts.QuietEnd
	if start == end {
		return t
	}
	lt := t.In(s.loc)
	m := lt.Hour()*60 + lt.Minute()
	in := m >= start && m < end
	if start > end { // wraps midnight: 21:00-08:00
		in = m >= start || m < end
	}
	if !in {
		return t
	}
	e := time.Date(lt.Year(), lt.Month(), lt.Day(), end/60, end%60, 0, 0, s.loc)
	if !e.After(lt) {
		e = time.Date(lt.Year(), lt.Month(), lt.Day()+1, end/60, end%60, 0, 0, s.loc)
	}
	return e.UTC()
}

// Cancel withdraws the message queued under an idempotency key, if it has not left yet:
// one claimed by a sender (submitting) or already accepted by the gateway is past
// recalling. It reports whether a message was withdrawn; why is kept as its error text.
func (s *Service) Cancel(ctx context.Context, key, why string) (bool, error) {
	now := s.clock()
	r := s.db.WithContext(ctx).Exec(`UPDATE sms_messages SET status = ?, finished_at = ?, updated_at = ?, error = ?
WHERE idempotency_key = ? AND status = ?`, StatusCancelled, now, now, why, key, StatusQueued)
	if r.Error != nil {
		return false, fmt.Errorf("sms: cancel message %q: %w", key, r.Error)
	}
	return r.RowsAffected > 0, nil
}
