package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/calendar"
	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/ivr/aritest"
	"github.com/rexian/rexian/tickets"
)

// EnvOptions build a self-contained environment: the emulator, a controller, a
// throw-away SQLite database with the demo city, and logged-in operators.
type EnvOptions struct {
	Settings config.IVR
	// Operators are logged in with phones PJSIP/9000… that answer after AnswerAfter.
	Operators   int
	AnswerAfter time.Duration
	// Second is how long an emulated Asterisk second lasts (ring timeouts).
	Second time.Duration
	// MediaDuration as in aritest.Options (nil: the emulator's short defaults).
	MediaDuration func(uri string) time.Duration
	Log           *slog.Logger
}

// Env is a running self-contained environment.
type Env struct {
	Server     *aritest.Server
	Controller *ivr.Controller
	Replies    *Replies
	db         *gorm.DB
	dir        string
	cancel     context.CancelFunc
	done       chan struct{}
}

// Driver returns the load driver for the environment.
func (e *Env) Driver() Driver {
	return Driver{Server: e.Server, Active: e.Controller.ActiveCalls}
}

// NewEnv starts an environment; Close stops it and removes its files.
func NewEnv(ctx context.Context, o EnvOptions) (_ *Env, err error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	e := &Env{Replies: &Replies{}}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	e.dir, err = os.MkdirTemp("", "rexian-sim-*")
	if err != nil {
		return nil, err
	}
	e.db, err = database.Open(ctx, database.DefaultURL(e.dir), o.Log)
	if err != nil {
		return nil, err
	}
	var steps []*database.Migration
	steps = append(steps, auth.Migrations()...)
	steps = append(steps, tickets.Migrations()...)
	steps = append(steps, ivr.Migrations()...)
	if err := database.Migrate(ctx, e.db, steps); err != nil {
		return nil, err
	}
	loc, _ := time.LoadLocation("Asia/Shanghai")
	cal, err := calendar.New(calendar.Options{Location: loc})
	if err != nil {
		return nil, err
	}
	store := tickets.NewStore(e.db, tickets.Options{Calendar: cal, Location: loc, AttachmentDir: filepath.Join(e.dir, "attachments")})
	if err := store.LoadCity(ctx, tickets.DemoCity()); err != nil {
		return nil, fmt.Errorf("sim: load the demo city: %w", err)
	}
	e.Server, err = aritest.New(aritest.Options{Second: o.Second, MediaDuration: o.MediaDuration})
	if err != nil {
		return nil, err
	}
	e.Controller, err = ivr.New(ivr.Options{
		ARI:          config.ARI{URL: []string{e.Server.URL()}, User: "hotline", Password: "hotline", App: "hotline"},
		Settings:     o.Settings,
		DB:           e.db,
		Tickets:      store,
		Log:          o.Log,
		Location:     loc,
		ObserveReply: e.Replies.Observe,
	})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	go func() { defer close(e.done); _ = e.Controller.Run(rctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := e.Server.WaitConnected(wctx); err != nil {
		return nil, fmt.Errorf("sim: the controller did not connect: %w", err)
	}
	for i := 0; i < o.Operators; i++ {
		phone := fmt.Sprintf("PJSIP/%d", 9000+i)
		e.Server.SetPhone(phone, aritest.Phone{AnswerAfter: o.AnswerAfter})
		e.Controller.Login(fmt.Sprintf("sim%04d", i), fmt.Sprintf("模拟话务员%d", i), phone, nil)
	}
	return e, nil
}

// Close stops the controller and the emulator and removes the database.
func (e *Env) Close() error {
	var errs []error
	if e.cancel != nil {
		e.cancel()
		<-e.done
	}
	if e.Server != nil {
		e.Server.Close()
	}
	if e.db != nil {
		errs = append(errs, database.Close(e.db))
	}
	if e.dir != "" {
		errs = append(errs, os.RemoveAll(e.dir))
	}
	return errors.Join(errs...)
}
