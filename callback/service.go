package callback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/tickets"
)

// Texter queues an SMS, and withdraws one not yet sent; *sms.Service is the real one.
type Texter interface {
	Enqueue(ctx context.Context, m sms.NewMessage) (*sms.Message, bool, error)
	EnqueueBatch(ctx context.Context, ms []sms.NewMessage) ([]sms.Enqueued, error)
	Cancel(ctx context.Context, key, why string) (bool, error)
}

// Dialer places a survey call; *ivr.Controller is the real one. An error means the call
// could not be tried now (no Asterisk, a REST failure), not that the citizen was not
// reached.
type Dialer interface {
	Survey(ctx context.Context, req ivr.SurveyRequest) (ivr.SurveyResult, error)
}

// Reopener takes a workflow action on a ticket; *tickets.Store is the real one.
type Reopener interface {
	Act(ctx context.Context, p *auth.Principal, number string, action tickets.Action, req tickets.ActionRequest) (*tickets.View, error)
}

var (
	_ Texter   = (*sms.Service)(nil)
	_ Dialer   = (*ivr.Controller)(nil)
	_ Reopener = (*tickets.Store)(nil)
)

// system is who the surveys act as on tickets: reopening is the desk's and supervisors'.
var system = &auth.Principal{Name: "callback", DisplayName: "回访", Role: auth.RoleSupervisor}

// Options configure a Service. Zero durations and counts take the defaults noted.
type Options struct {
	DB      *gorm.DB
	Tickets Reopener
	Texter  Texter
	// Dialer is nil when no telephony is configured: surveys that need a call go to the
	// manual list at once.
	Dialer   Dialer
	Log      *slog.Logger
	Now      func() time.Time
	Location *time.Location // the city's zone for the allowed hours; default Asia/Shanghai

	Delay          time.Duration      // after completion; default 2h (negative: none)
	Hours          Span               // allowed hours; zero Span: any time
	Quiet          Span               // SMS quiet hours (also kept by calls)
	Sample         float64            // default sampling rate, 0..1
	CategorySample map[string]float64 // by category code (a parent's applies to its children)
	SMSWait        time.Duration      // no SMS answer within it: call; default 24h
	// AnswerWindow: a second SMS answer updates the first, and free text after a 3 is
	// kept as the reason, within it; default 2h.
	AnswerWindow time.Duration
	// ReplyExpiry is how long after the survey SMS an answer to a survey still open is
	// taken; default 7 days.
	ReplyExpiry     time.Duration
	MaxCallAttempts int           // default 3
	CallRetry       time.Duration // between call attempts (moved into allowed hours); default 6h
	OutageRetry     time.Duration // after "could not call now"; default 5m
	CallConcurrency int           // calls at once from one instance; default 4
	// CallTimeout bounds one survey call, question, reason and all; default 5m.
	CallTimeout time.Duration
	// Ring, KeyWait and MaxReason go to the IVR (its defaults when zero).
	Ring, KeyWait, MaxReason time.Duration
}

// Service schedules, sends and records the surveys.
type Service struct {
	db   *gorm.DB
	opts Options
	log  *slog.Logger
	pol  policy
}

// NewService returns the survey service.
func NewService(opts Options) (*Service, error) {
	if opts.DB == nil {
		return nil, errors.New("callback: no database")
	}
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
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&opts.Delay, 2*time.Hour)
	if opts.Delay < 0 {
		opts.Delay = 0
	}
	def(&opts.SMSWait, 24*time.Hour)
	def(&opts.AnswerWindow, 2*time.Hour)
	def(&opts.ReplyExpiry, 7*24*time.Hour)
	def(&opts.CallRetry, 6*time.Hour)
	def(&opts.OutageRetry, 5*time.Minute)
	def(&opts.CallTimeout, 5*time.Minute)
	if opts.MaxCallAttempts <= 0 {
		opts.MaxCallAttempts = 3
	}
	if opts.CallConcurrency <= 0 {
		opts.CallConcurrency = 4
	}
	if opts.Sample < 0 || opts.Sample > 1 {
		return nil, fmt.Errorf("callback: sample %g is not between 0 and 1", opts.Sample)
	}
	s := &Service{db: opts.DB, opts: opts, log: opts.Log}
	s.pol = policy{loc: opts.Location, delay: opts.Delay, hours: opts.Hours, quiet: opts.Quiet,
		sample: opts.Sample, category: opts.CategorySample}
	return s, nil
}

func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// RunOnce makes one pass of every step: schedule new completions, send what is due,
// move unanswered SMS surveys to calls, call, and reopen tickets for dissatisfied results.
// Each step is idempotent; RunOnce may run on every instance at once.
func (s *Service) RunOnce(ctx context.Context) error {
	var errs []error
	if _, err := s.ScheduleOnce(ctx); err != nil {
		errs = append(errs, err)
	}
	if _, err := s.SendOnce(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.AfterSMSOnce(ctx); err != nil {
		errs = append(errs, err)
	}
	if _, err := s.CallOnce(ctx); err != nil {
		errs = append(errs, err)
	}
	if _, err := s.EscalateOnce(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
