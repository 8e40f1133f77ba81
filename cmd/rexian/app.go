package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/pii"
)

// DefaultShutdownTimeout is how long in-flight requests may take to finish after a
// shutdown signal before their connections are closed.
const DefaultShutdownTimeout = 30 * time.Second

// App is rexian running: the database, the live store, the HTTP API and the background
// workers, built from one Config. `serve` runs it; end-to-end tests run it on a free port.
type App struct {
	cfg      config.Config
	log      *slog.Logger
	db       *gorm.DB
	live     *live.Store
	engine   *gin.Engine
	listener net.Listener
	metrics  *metrics
	workers  []worker
	domains  *domains

	shutdownTimeout time.Duration
	extraRoutes     []func(*gin.Engine)
	liveNamespace   string
	demo            bool

	closeOnce sync.Once
	closeErr  error
}

// Option changes how an App is built.
type Option func(*App)

// WithDemo seeds the demo city when the database has none yet.
func WithDemo() Option { return func(a *App) { a.demo = true } }

// withShutdownTimeout bounds how long Run waits for in-flight requests.
func withShutdownTimeout(d time.Duration) Option { return func(a *App) { a.shutdownTimeout = d } }

// withRoutes adds routes to the engine; tests use it for a deliberately slow endpoint.
func withRoutes(f func(*gin.Engine)) Option {
	return func(a *App) { a.extraRoutes = append(a.extraRoutes, f) }
}

// withLiveNamespace keeps a test's keys apart from other tests on a shared Redis.
func withLiveNamespace(ns string) Option { return func(a *App) { a.liveNamespace = ns } }

// NewApp opens everything cfg points at, applies the migrations, builds the HTTP engine
// and binds the listen address, so that Addr is known before Run. On error nothing is
// left open.
func NewApp(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...Option) (_ *App, err error) {
	a := &App{cfg: cfg, log: log, shutdownTimeout: DefaultShutdownTimeout}
	for _, o := range opts {
		o(a)
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()

	a.db, err = openDatabase(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a.live, err = live.Open(ctx, cfg.RedisURL, log)
	if err != nil {
		return nil, fmt.Errorf("open live store: %w", err)
	}
	if a.liveNamespace != "" {
		a.live.Namespace = a.liveNamespace
	}
	a.metrics = newMetrics()
	a.domains, err = newDomains(ctx, cfg, log, a.db, a.live)
	if err != nil {
		return nil, err
	}
	if a.demo {
		if err := a.domains.seedDemo(ctx); err != nil {
			return nil, err
		}
	}
	if err := a.domains.checkDirectory(ctx, cfg); err != nil {
		return nil, err
	}
	a.workers = a.domains.workers(cfg)
	own, err := a.serviceCollectors()
	if err != nil {
		return nil, err
	}
	for _, c := range append(a.domains.collectors(), own...) {
		if err := a.metrics.registry.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	a.engine, err = a.newEngine()
	if err != nil {
		return nil, err
	}

	a.listener, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	return a, nil
}

// openDatabase opens the configured database and brings its schema up to date. Every
// command that touches the database goes through here, so a fresh data folder works with
// any of them.
func openDatabase(ctx context.Context, cfg config.Config, log *slog.Logger) (*gorm.DB, error) {
	db, err := database.Open(ctx, cfg.DatabaseURL, log, database.SlowQuery(cfg.Log.SlowQuery))
	if err != nil {
		return nil, err
	}
	if err := database.Migrate(ctx, db, migrations()); err != nil {
		database.Close(db)
		return nil, err
	}
	keys, err := pii.Load(cfg.PersonalData.KeysFile, cfg.PersonalData.Keys)
	if err == nil {
		err = pii.Install(db, keys)
	}
	if err != nil {
		database.Close(db)
		return nil, err
	}
	if keys.Enabled() {
		seal, index := keys.Current()
		log.Info("personal data sealed at rest", "key", seal, "index_key", index)
	}
	return db, nil
}

// Addr is the address the API listens on, with the real port when cfg.Addr asked for 0.
func (a *App) Addr() string { return a.listener.Addr().String() }

// Handler is the HTTP handler, for tests that do not need a socket.
func (a *App) Handler() http.Handler { return a.engine }

// Run serves HTTP and runs the background workers until ctx is cancelled, then shuts
// down in order: stop accepting, let in-flight requests finish (up to the shutdown
// timeout), stop the workers. Writes are transactions, so a request or a worker pass cut
// short leaves nothing half-written. Run does not close the database: Close does.
func (a *App) Run(ctx context.Context) error {
	srv := &http.Server{
		Handler:           a.engine,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	// Event streams (server-sent events) never end by themselves: tell them when the
	// shutdown begins, or Shutdown would wait for its whole timeout.
	srv.RegisterOnShutdown(a.domains.stop)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(a.listener) }()

	workCtx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	var wg sync.WaitGroup
	for _, w := range a.workers {
		wg.Go(func() { a.runWorker(workCtx, w) })
	}
	a.log.Info("rexian listening", "addr", "http://"+a.Addr(),
		"database", string(database.DialectOf(a.db)), "live_store_embedded", a.live.Embedded(),
		"workers", len(a.workers))

	var err error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down", "grace", a.shutdownTimeout)
	case err = <-serveErr:
		err = fmt.Errorf("http server: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.shutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(shutdownCtx); serr != nil {
		err = errors.Join(err, fmt.Errorf("http shutdown: %w", serr))
		srv.Close()
	}
	stopWorkers()
	wg.Wait()
	a.log.Info("stopped")
	return err
}

// Close releases the listener, the live store and the database. It is safe to call more
// than once and after a failed NewApp.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		var errs []error
		if a.listener != nil {
			// Already closed by Run's Shutdown in the usual case.
			if err := a.listener.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		if a.live != nil {
			if err := a.live.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close live store: %w", err))
			}
		}
		if err := a.domains.closeRead(); err != nil {
			errs = append(errs, fmt.Errorf("close read database: %w", err))
		}
		if a.db != nil {
			if err := database.Close(a.db); err != nil {
				errs = append(errs, fmt.Errorf("close database: %w", err))
			}
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}
