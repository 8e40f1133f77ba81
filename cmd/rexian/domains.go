package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/calendar"
	"github.com/rexian/rexian/callback"
	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/dashboards"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/hashchain"
	"github.com/rexian/rexian/idempotency"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/ivr/spool"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/pii"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/sms/kannel"
	"github.com/rexian/rexian/softphone"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/intake/mailbox"
	"github.com/rexian/rexian/tickets/intake/open311"
	"github.com/rexian/rexian/tickets/intake/qq"
	"github.com/rexian/rexian/tickets/intake/web"
	consoles "github.com/rexian/rexian/web"
)

// This file is where the domain packages are wired: each new domain adds its migrations,
// its service, its routes, its workers and its collectors here and nowhere else.

// migrations lists every domain's schema steps in the order they must run: auth first,
// because tickets' rows refer to users.
func migrations() []*database.Migration {
	var all []*database.Migration
	all = append(all, auth.Migrations()...)
	all = append(all, audit.Migrations()...)
	all = append(all, tickets.Migrations()...)
	all = append(all, idempotency.Migrations()...)
	all = append(all, qq.Migrations()...)
	all = append(all, mailbox.Migrations()...)
	all = append(all, ivr.Migrations()...)
	all = append(all, sms.Migrations()...)
	all = append(all, callback.Migrations()...)
	all = append(all, dashboards.Migrations()...)
	return all
}

// domains are the domain services built from one Config.
type domains struct {
	log  *slog.Logger
	db   *gorm.DB
	live *live.Store
	auth *auth.Service
	// audit is the security audit log every domain records into.
	audit   *audit.Log
	tickets *tickets.Store
	// idempotency keeps the answers to POSTs sent with an Idempotency-Key.
	idempotency *idempotency.Keys
	// ivr is the telephone controller, nil unless ari.url is set; ivrLive is every
	// instance's view of the live telephone picture.
	ivr     *ivr.Controller
	ivrLive *ivr.Live
	// prompts are the prompt texts, as configured or as an administrator reworded them.
	prompts *ivr.Prompts
	// stopping is closed when the HTTP server begins to shut down (long-lived streams
	// end then); stop closes it once.
	stopping chan struct{}
	stop     func()
	cfg      config.Config
	sms      *sms.Service
	// callback runs the satisfaction surveys; it takes survey answers from the outbox.
	callback *callback.Service
	// intake holds the channels served outside /api/v1 (see intakeChannels below).
	intake *intakeChannels
	// mailbox reads and answers the mayor's mailbox; its parts are nil when not configured.
	mailbox mailboxWork
	// dashboards are the supervisors' figures, cards, bulletins and published answers.
	dashboards *dashboards.Service
	// read is where figures and exports read: the database_read_url standby, or db.
	read *gorm.DB
	// softphone issues the console's browser phones (nil: not configured); see
	// browserPhones.
	softphone *softphone.Issuer
}

// openReadDatabase connects to database_read_url, where the supervisors' figures and the
// exports read. A standby that cannot be reached at start is no reason to refuse
// registering tickets: the reads go to the primary, and the log says so.
func openReadDatabase(ctx context.Context, cfg config.Config, log *slog.Logger, db *gorm.DB) *gorm.DB {
	if cfg.DatabaseReadURL == "" {
		return db
	}
	if database.DialectOf(db) != database.Postgres {
		log.WarnContext(ctx, "database_read_url ignored: it is for a PostgreSQL standby, and database_url is not PostgreSQL")
		return db
	}
	read, err := database.Open(ctx, cfg.DatabaseReadURL, log.With("database", "read"), database.SlowQuery(cfg.Log.SlowQuery))
	if err != nil {
		log.WarnContext(ctx, "database_read_url unreachable: figures and exports read from database_url", "err", err)
		return db
	}
	// The exports read citizens' personal data: the standby opens it with the same keys.
	if err := pii.Install(read, pii.Keys(db)); err != nil {
		log.WarnContext(ctx, "database_read_url: figures and exports read from database_url", "err", err)
		database.Close(read)
		return db
	}
	return read
}

// closeRead closes the read database when it is not the primary.
func (d *domains) closeRead() error {
	if d == nil || d.read == nil || d.read == d.db {
		return nil
	}
	return database.Close(d.read)
}

// newDomains builds the services. ls may be nil for commands that serve no requests
// (users add, tokens create): nothing they do needs live state.
func newDomains(ctx context.Context, cfg config.Config, log *slog.Logger, db *gorm.DB, ls *live.Store) (*domains, error) {
	spans, err := calendar.ParseWorkHours(cfg.Tickets.WorkHours)
	if err != nil {
		return nil, fmt.Errorf("tickets.work_hours: %w", err)
	}
	cal, err := calendar.New(calendar.Options{Location: cfg.Location(), WorkHours: spans, Log: log})
	if err != nil {
		return nil, fmt.Errorf("working calendar: %w", err)
	}
	reasons := make([]tickets.RefusalReason, 0, len(cfg.Tickets.RefusalReasons))
	for _, r := range cfg.Tickets.RefusalReasons {
		code, name, err := config.ParseRefusalReason(r)
		if err != nil {
			return nil, fmt.Errorf("tickets.refusal_reasons: %w", err)
		}
		reasons = append(reasons, tickets.RefusalReason{Code: code, Name: name})
	}
	extensionMax, err := calendar.ParseLimit(cfg.Tickets.ExtensionMax)
	if err != nil {
		return nil, fmt.Errorf("tickets.extension_max: %w", err)
	}
	chainHash, err := hashchain.Parse(cfg.Audit.ChainHash)
	if err != nil {
		return nil, fmt.Errorf("audit.chain_hash: %w", err)
	}
	auditLog, err := newAudit(cfg, log, db, chainHash)
	if err != nil {
		return nil, err
	}
	store := tickets.NewStore(db, tickets.Options{
		Calendar:           cal,
		Location:           cfg.Location(),
		Log:                log.With("component", "tickets"),
		ClockFrom:          tickets.ClockFrom(cfg.Tickets.HandleClockFrom),
		AttachmentDir:      filepath.Join(cfg.DataDir, "attachments"),
		AttachmentMaxBytes: cfg.Tickets.AttachmentMaxBytes,
		DuplicateWindow:    time.Duration(cfg.Tickets.DuplicateWindowDays) * 24 * time.Hour,
		RefusalReasons:     reasons,
		Audit:              auditLog,
		ExtensionMax:       extensionMax,
		ChainHash:          chainHash,
	})
	totpKey, err := loadTOTPKey(cfg)
	if err != nil {
		return nil, err
	}
	twoFactor := make([]auth.Role, len(cfg.Auth.TwoFactorRoles))
	for i, r := range cfg.Auth.TwoFactorRoles {
		twoFactor[i] = auth.Role(r)
	}
	authService := auth.NewService(db, ls, auth.Options{
		SessionTTL:     cfg.Auth.SessionTTL,
		IdleTimeout:    cfg.Auth.IdleTimeout,
		Log:            log,
		SecureCookies:  cfg.Auth.SecureCookies,
		Departments:    store,
		Audit:          auditLog,
		TwoFactorRoles: twoFactor,
		SecretKey:      totpKey,
	})
	smsService, err := newSMS(cfg, log, db, ls, store)
	if err != nil {
		return nil, err
	}
	d := &domains{log: log, db: db, live: ls, auth: authService, audit: auditLog, tickets: store, sms: smsService, cfg: cfg,
		idempotency: idempotency.New(db, cfg.IdempotencyTTL, log.With("component", "idempotency"))}
	d.stopping = make(chan struct{})
	d.stop = sync.OnceFunc(func() { close(d.stopping) })
	if err := d.newIVR(cfg); err != nil {
		return nil, err
	}
	if d.prompts, err = ivr.NewPrompts(db, cfg.IVR.Prompts, auditLog); err != nil {
		return nil, err
	}
	if d.mailbox, err = newMailbox(cfg, log, store); err != nil {
		return nil, err
	}
	if err := d.newCallback(cfg); err != nil {
		return nil, err
	}
	dc := cfg.Dashboards
	d.read = openReadDatabase(ctx, cfg, log, db)
	d.dashboards = dashboards.NewService(db, dashboards.Options{Read: d.read, Location: cfg.Location(), Log: log.With("component", "dashboards"), Tickets: store,
		Texter: smsService, Cards: &dashboards.CardRules{YellowOnOverdue: dc.YellowOnOverdue, RedOnDoubleOverdue: dc.RedOnDoubleOverdue,
			RedAfterYellows: dc.RedAfterYellows, Lookback: dc.CardLookback}})
	return d, nil
}

// loadTOTPKey reads the key that seals second-factor secrets, making it the first time.
// It lives in a file and never in the database, so that a copy of the database alone does
// not give the second factors away.
func loadTOTPKey(cfg config.Config) ([]byte, error) {
	path := cfg.Auth.TOTPKeyFile
	if path == "" {
		path = filepath.Join(cfg.DataDir, "totp.key")
	}
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && cfg.Auth.TOTPKeyFile == "" {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("auth.totp_key_file: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("auth.totp_key_file: %w", err)
		}
		// O_EXCL: two instances starting at once on one data dir keep one key.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return loadTOTPKey(cfg)
		}
		if err != nil {
			return nil, fmt.Errorf("auth.totp_key_file: %w", err)
		}
		_, err = f.Write(key)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("auth.totp_key_file: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth.totp_key_file: %w", err)
	}
	if len(key) < 16 {
		return nil, fmt.Errorf("auth.totp_key_file %s: the key must be at least 16 bytes", path)
	}
	return key, nil
}

// newAudit builds the security audit log with its shippers. Who acts comes from the
// request's principal; the client's address from audit.Middleware on the engine.
func newAudit(cfg config.Config, log *slog.Logger, db *gorm.DB, chainHash hashchain.Algorithm) (*audit.Log, error) {
	var shippers []audit.Shipper
	if cfg.Audit.File != "" {
		f, err := audit.NewFileShipper(cfg.Audit.File)
		if err != nil {
			return nil, fmt.Errorf("audit.file: %w", err)
		}
		shippers = append(shippers, f)
	}
	if cfg.Audit.SyslogAddress != "" {
		s, err := audit.NewSyslogShipper(cfg.Audit.SyslogNetwork, cfg.Audit.SyslogAddress, cfg.Audit.SyslogTag)
		if err != nil {
			return nil, fmt.Errorf("audit.syslog_address: %w", err)
		}
		shippers = append(shippers, s)
	}
	return audit.New(db, audit.Options{
		Log: log, Retention: cfg.Audit.Retention, Shippers: shippers, Location: cfg.Location(), ChainHash: chainHash,
		ActorOf: func(ctx context.Context) string { return auth.FromContext(ctx).Actor() },
	}), nil
}

// routes mounts every surface of the REST API on /api/v1. Authentication runs first on
// the whole group; each surface checks roles per endpoint.
func (d *domains) routes(v1 *gin.RouterGroup) {
	v1.Use(d.auth.Middleware(), d.idempotency.Middleware())
	v1.GET("/openapi.json", api.OpenAPIHandler())
	d.auth.Routes(v1)
	d.audit.Routes(v1.Group("", auth.Require(auth.RoleAdmin)))
	tickets.NewHandler(d.tickets, d.log.With("component", "tickets")).Routes(v1)
	sms.NewHandler(d.sms, d.log.With("component", "sms")).WithAudit(d.audit).Routes(v1)
	callback.NewHandler(d.callback, d.log.With("component", "callback")).WithAudit(d.audit).Routes(v1)
	dashboards.NewHandler(d.dashboards, d.log.With("component", "dashboards")).Routes(v1)
	ivr.NewHandler(ivr.HandlerOptions{
		Controller: d.ivr, Live: d.ivrLive, DB: d.db, Settings: d.cfg.IVR, Prompts: d.prompts,
		Location: d.cfg.Location(), Log: d.log.With("component", "ivr"), Stopping: d.stopping, Audit: d.audit,
	}).Routes(v1)
}

// workers are the background workers `serve` runs.
func (d *domains) workers(cfg config.Config) []worker {
	overdue := tickets.NewOverdueWorker(d.tickets, d.live, d.log)
	overdue.Interval = cfg.Workers.OverdueInterval
	// RunOnce reports its outcome through OnRun; passes run one after another on the
	// worker's goroutine, so the variable needs no lock.
	var lastErr error
	overdue.OnRun = func(_ int, err error) { lastErr = err }
	return append([]worker{{
		name:     "tickets_overdue",
		interval: cfg.Workers.OverdueInterval,
		logsOwn:  true,
		pass: func(ctx context.Context) error {
			lastErr = nil
			overdue.RunOnce(ctx)
			return lastErr
		},
	}, {
		// Records past the retention go; the chain stays verifiable from its anchor. The
		// prune takes the chain's head lock, so instances running it at once take turns.
		name:     "audit_prune",
		interval: time.Hour,
		pass: func(ctx context.Context) error {
			_, err := d.audit.Prune(ctx)
			return err
		},
	}, {
		// Personal data past its retention is erased; the tickets stay for the figures.
		name:     "personal_data_retention",
		interval: time.Hour,
		pass: func(ctx context.Context) error {
			if cfg.PersonalData.RetentionYears == 0 {
				return nil
			}
			cutoff := time.Now().AddDate(-cfg.PersonalData.RetentionYears, 0, 0)
			erased, err := d.tickets.EraseClosedBefore(ctx, cutoff)
			if len(erased) > 0 {
				d.log.InfoContext(ctx, "personal data past its retention erased", "tickets", len(erased))
			}
			return err
		},
	}, {
		name:     "idempotency_purge",
		interval: time.Hour,
		pass: func(ctx context.Context) error {
			_, err := d.idempotency.Purge(ctx)
			return err
		},
	}, {
		// Expired sessions are refused anyway; removing them keeps the table small. A
		// DELETE by expiry is safe to run from every instance at once.
		name:     "auth_session_purge",
		interval: time.Hour,
		pass: func(ctx context.Context) error {
			_, err := d.auth.PurgeExpiredSessions(ctx)
			return err
		},
	}}, append(append(append(append(append(append(d.smsWorkers(cfg), d.dashboardsWorkers()...), d.callbackWorkers(cfg)...), d.ivrWorkers()...), d.mailboxWorkers(cfg)...), d.intakeWorkers(cfg)...), d.softphoneWorkers()...)...)
}

// collectors are the domains' Prometheus collectors.
func (d *domains) collectors() []prometheus.Collector {
	cs := append([]prometheus.Collector{tickets.NewCollector(d.db)}, d.sms.Collectors()...)
	if d.ivr != nil {
		cs = append(cs, d.ivr.Collectors()...)
	}
	return cs
}

// seedDemo loads the demo city when the database has no departments yet, so that a
// restart with --demo never undoes what an administrator changed since.
func (d *domains) seedDemo(ctx context.Context) error {
	var n int64
	if err := d.db.WithContext(ctx).Model(&tickets.Department{}).Count(&n).Error; err != nil {
		return fmt.Errorf("seed demo: count departments: %w", err)
	}
	if n > 0 {
		d.log.Info("demo city not loaded: the database already has departments", "departments", n)
		return nil
	}
	return d.loadDemo(ctx)
}

// loadDemo creates or updates the demo city's directory and its demo users. Running it
// again changes nothing: existing users are left as they are.
func (d *domains) loadDemo(ctx context.Context) error {
	city := tickets.DemoCity()
	if err := d.tickets.LoadCity(ctx, city); err != nil {
		return fmt.Errorf("seed demo city: %w", err)
	}
	created := 0
	for _, u := range city.Users {
		_, err := d.auth.CreateUser(ctx, auth.NewUser{
			Username:       u.Username,
			DisplayName:    u.DisplayName,
			Role:           auth.Role(u.Role),
			DepartmentCode: u.Department,
			Password:       u.Password,
		})
		switch {
		case errors.Is(err, api.ErrConflict):
			continue // already there
		case err != nil:
			return fmt.Errorf("seed demo user %s: %w", u.Username, err)
		}
		created++
	}
	var n int64
	if err := d.db.WithContext(ctx).Model(&tickets.Department{}).Count(&n).Error; err != nil {
		return fmt.Errorf("seed demo: count departments: %w", err)
	}
	if err := d.sms.LoadDemoMaterials(ctx); err != nil {
		return fmt.Errorf("seed demo approval items: %w", err)
	}
	d.log.Info("demo city loaded", "departments", n, "users", len(city.Users), "users_created", created)
	return nil
}

// ---- Intake channels outside /api/v1: the public web form, Open311 GeoReport v2, QQ ----

// intakeChannels are the enabled intake channels; nil fields are turned off.
type intakeChannels struct {
	web     *web.Handler
	open311 *open311.Handler
	qq      *qq.Service
}

// intakeChannels builds the enabled channels once, so that routes and workers share them.
func (d *domains) intakeChannels(cfg config.Config) (*intakeChannels, error) {
	if d.intake != nil {
		return d.intake, nil
	}
	ch := &intakeChannels{}
	if w := cfg.WebForm; w.Enabled {
		h, err := web.NewHandler(web.Options{
			Store: d.tickets, Live: d.live, Log: d.log, Secret: w.Secret, MinFillTime: w.MinFillTime, Audit: d.audit,
			SubmitLimit:     web.Limit{N: w.SubmissionsPerHour, Window: time.Hour},
			LookupLimit:     web.Limit{N: w.LookupFailuresPerHour, Window: time.Hour},
			LookupPairLimit: web.Limit{N: w.LookupPairFailuresPerHour, Window: time.Hour},
			MaxPhotos:       w.MaxPhotos, PhotoMaxBytes: w.PhotoMaxBytes, DefaultCategory: w.DefaultCategory,
		})
		if err != nil {
			return nil, fmt.Errorf("web_form: %w", err)
		}
		ch.web = h
	}
	if o := cfg.Open311; o.Enabled {
		channels := make([]tickets.Channel, 0, len(o.PublicChannels))
		for _, c := range o.PublicChannels {
			channels = append(channels, tickets.Channel(c))
		}
		h, err := open311.NewHandler(open311.Options{
			Store: d.tickets, Tokens: d.auth, Log: d.log, JurisdictionID: o.JurisdictionID,
			Keys: o.APIKeys, PublicChannels: channels,
		})
		if err != nil {
			return nil, fmt.Errorf("open311: %w", err)
		}
		ch.open311 = h
	}
	if q := cfg.QQ; q.Enabled {
		svc, err := qq.New(qq.Options{
			Store: d.tickets, Live: d.live, Log: d.log, APIURL: q.APIURL, AccessToken: q.AccessToken, Secret: q.Secret,
			Category: q.DefaultCategory, Timeout: q.ConversationTimeout, ImageMaxBytes: q.ImageMaxBytes,
		})
		if err != nil {
			return nil, fmt.Errorf("qq: %w", err)
		}
		ch.qq = svc
	}
	d.intake = ch
	return ch, nil
}

// publicRoutes mounts the surfaces outside /api/v1, which need no login: the web form
// and status page, Open311, and the OneBot event endpoints; and the staff's consoles,
// which check their own sessions.
func (d *domains) publicRoutes(e *gin.Engine, cfg config.Config) error {
	ch, err := d.intakeChannels(cfg)
	if err != nil {
		return err
	}
	if ch.web != nil {
		ch.web.Routes(e)
	}
	if ch.open311 != nil {
		ch.open311.Routes(e)
	}
	if ch.qq != nil {
		ch.qq.Routes(e)
	}
	// The published answers (百姓直通车) are public.
	dashboards.NewHandler(d.dashboards, d.log.With("component", "dashboards")).PublicRoutes(e)
	// Kannel's delivery reports and inbound messages, authenticated by the shared secret.
	kannel.NewCallbacks(d.sms.Receiver(), cfg.SMS.CallbackSecret, d.log.With("component", "kannel")).Routes(e)
	return d.consoleRoutes(e, cfg)
}

// consoleRoutes mounts the staff's HTML consoles (/console, /portal); each page checks
// the session and the role itself.
func (d *domains) consoleRoutes(e *gin.Engine, cfg config.Config) error {
	phones, err := d.browserPhones()
	if err != nil {
		return err
	}
	h, err := consoles.NewHandler(consoles.Options{
		Softphone: phones,
		EraseCitizen: func(ctx context.Context, actor, tel, reason string) (consoles.Erasure, error) {
			e, err := d.eraseCitizen(ctx, actor, tel, reason)
			return consoles.Erasure{Erased: e.Erased, Open: e.Open, Calls: e.Calls, SMS: e.SMS, Surveys: e.Surveys}, err
		},
		ReadTickets: d.tickets.ReadingFrom(d.read), ReadDB: d.read, ReadCallback: d.callback.ReadingFrom(d.read),
		Auth: d.auth, Audit: d.audit, Tickets: d.tickets, SMS: d.sms, Callback: d.callback, Cards: d.dashboards, Location: cfg.Location(), SecureCookies: cfg.Auth.SecureCookies,
		Log: d.log, Dashboards: d.dashboards != nil, MaxUploadBytes: cfg.Tickets.AttachmentMaxBytes, IVR: ivr.HandlerOptions{
			Controller: d.ivr, Live: d.ivrLive, DB: d.db, Settings: cfg.IVR, Prompts: d.prompts,
			Location: cfg.Location(), Log: d.log.With("component", "ivr"), Stopping: d.stopping, Audit: d.audit,
		},
	})
	if err != nil {
		return err
	}
	h.Routes(e)
	return nil
}

// intakeWorkers tell QQ citizens their receipts and results, and hold the bots' reverse
// WebSocket connections until shutdown. A channel that failed to build is reported by
// publicRoutes, which stops the app before any worker runs.
func (d *domains) intakeWorkers(cfg config.Config) []worker {
	ch, err := d.intakeChannels(cfg)
	if err != nil || ch.qq == nil {
		return nil
	}
	svc := ch.qq
	return []worker{{
		name: "qq_replies", interval: cfg.QQ.ReplyInterval,
		pass: func(ctx context.Context) error {
			_, err := svc.Replies().RunOnce(ctx)
			return err
		},
	}, {
		name: "qq_connections",
		service: func(ctx context.Context) error {
			<-ctx.Done()
			svc.Close()
			return nil
		},
	}}
}

// ---- SMS outbox ----

// newSMS builds the outbox from cfg.SMS. The gateway is nil until a driver is configured:
// messages are then accepted and stay queued, visible in the console.
func newSMS(cfg config.Config, log *slog.Logger, db *gorm.DB, ls *live.Store, store *tickets.Store) (*sms.Service, error) {
	c := cfg.SMS
	qs, qe, err := config.ParseQuietHours(c.QuietHours)
	if err != nil {
		return nil, fmt.Errorf("sms.quiet_hours: %w", err)
	}
	kinds := []sms.Kind{}
	for _, k := range c.QuietKinds {
		kinds = append(kinds, sms.Kind(k))
	}
	var gateway sms.Gateway // nil: messages are accepted and stay queued, visible
	if c.KannelURL != "" {
		if c.CallbackSecret == "" || cfg.PublicURL == "" {
			// Without them Kannel cannot report deliveries back: every message would sit
			// in "submitted" and crash recovery could not prove what was sent.
			return nil, errors.New("sms.kannel_url is set: sms.callback_secret and public_url are required too (REXIAN_SMS_CALLBACK_SECRET, REXIAN_PUBLIC_URL)")
		}
		gw, err := kannel.New(kannel.Config{
			URL: c.KannelURL, User: c.KannelUser, Password: c.KannelPassword, From: c.Sender,
			PublicURL: cfg.PublicURL, CallbackSecret: c.CallbackSecret, MaxConns: max(64, c.Concurrency),
		}, log.With("component", "kannel"))
		if err != nil {
			return nil, fmt.Errorf("sms: %w", err)
		}
		gateway = gw
	}
	return sms.NewService(db, ls, store, sms.Options{
		Gateway: gateway, Log: log.With("component", "sms"), Location: cfg.Location(), Signature: c.Signature,
		QuietStart: qs, QuietEnd: qe, QuietKinds: kinds, MaxParts: c.MaxParts, RatePerSecond: c.RatePerSecond,
		Concurrency: c.Concurrency, BatchSize: c.BatchSize, Expiry: c.Expiry, Lease: c.Lease, ReconcileGrace: c.ReconcileGrace,
		ConversationWindow: c.ConversationWindow, PollInterval: c.PollInterval, InboundCategory: c.InboundCategory,
	})
}

// smsWorkers send from the outbox, settle interrupted submissions and derive the ticket
// messages. Each is safe on every instance at once.
func (d *domains) smsWorkers(cfg config.Config) []worker {
	reconcileEvery := min(10*time.Second, max(time.Second, cfg.SMS.Lease/2))
	return []worker{{
		// One long pass: the sender claims, submits and records until shutdown.
		name: "sms_sender", interval: cfg.SMS.PollInterval, logsOwn: true, long: true,
		pass: d.sms.RunSender,
	}, {
		name: "sms_reconcile", interval: reconcileEvery,
		pass: d.sms.ReconcileOnce,
	}, {
		name: "sms_ticket_messages", interval: 5 * time.Second,
		pass: func(ctx context.Context) error {
			_, err := d.sms.TicketMessagesOnce(ctx)
			return err
		},
	}}
}

// ---- Satisfaction surveys (回访) ----

// newCallback builds the survey service over the outbox and, when configured, the
// telephone controller, and hands the outbox its survey-answer hook.
func (d *domains) newCallback(cfg config.Config) error {
	c := cfg.Callback
	hours, err := callback.ParseSpan(c.Hours)
	if err != nil {
		return fmt.Errorf("callback.hours: %w", err)
	}
	quiet, err := callback.ParseSpan(cfg.SMS.QuietHours)
	if err != nil {
		return fmt.Errorf("sms.quiet_hours: %w", err)
	}
	rates, err := callback.ParseCategorySample(c.CategorySample)
	if err != nil {
		return fmt.Errorf("callback.category_sample: %w", err)
	}
	opts := callback.Options{
		DB: d.db, Tickets: d.tickets, Texter: d.sms, Log: d.log.With("component", "callback"), Location: cfg.Location(),
		Delay: c.Delay, Hours: hours, Quiet: quiet, Sample: c.Sample, CategorySample: rates, SMSWait: c.SMSWait,
		AnswerWindow: c.AnswerWindow, ReplyExpiry: c.ReplyExpiry, MaxCallAttempts: c.MaxCallAttempts, CallRetry: c.CallRetry,
		CallConcurrency: c.CallConcurrency,
	}
	if c.Delay == 0 {
		opts.Delay = -1 // zero means "the default" to the service; here it means none
	}
	if d.ivr != nil { // a nil *Controller in the interface would look like telephony
		opts.Dialer = d.ivr
	}
	if d.callback, err = callback.NewService(opts); err != nil {
		return err
	}
	d.sms.SetSurveyAnswers(d.callback)
	return nil
}

// callbackWorkers derive, send and escalate the surveys, and place the survey calls (a
// pass waits for its calls, so they have a worker of their own). Both are safe on every
// instance at once.
func (d *domains) callbackWorkers(cfg config.Config) []worker {
	return []worker{{
		name: "callback_surveys", interval: cfg.Callback.Interval,
		pass: func(ctx context.Context) error {
			var errs []error
			if _, err := d.callback.ScheduleOnce(ctx); err != nil {
				errs = append(errs, err)
			}
			if _, err := d.callback.SendOnce(ctx); err != nil {
				errs = append(errs, err)
			}
			if err := d.callback.AfterSMSOnce(ctx); err != nil {
				errs = append(errs, err)
			}
			if _, err := d.callback.EscalateOnce(ctx); err != nil {
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		},
	}, {
		name: "callback_calls", interval: cfg.Callback.Interval,
		pass: func(ctx context.Context) error {
			_, err := d.callback.CallOnce(ctx)
			return err
		},
	}}
}

// ---- Telephone (ARI controller) ----

// newIVR builds the controller when ari.url names a node; every instance gets the live
// view so that its API and screens show the controller's picture.
func (d *domains) newIVR(cfg config.Config) error {
	if !cfg.ARI.Enabled() {
		d.ivrLive = ivr.NewLive(d.live, d.log.With("component", "ivr"))
		return nil
	}
	if cfg.ARI.Standby && (d.live == nil || d.live.Embedded()) {
		// The embedded live store lives in one process: no other instance sees its lease.
		return errors.New("ari.standby: needs a Redis shared by the instances (redis_url); the embedded live store is private to one process")
	}
	ctrl, err := ivr.New(ivr.Options{
		ARI: cfg.ARI, Settings: cfg.IVR, DB: d.db, Tickets: d.tickets, Live: d.live,
		Log: d.log, Location: cfg.Location(),
	})
	if err != nil {
		return fmt.Errorf("ivr: %w", err)
	}
	d.ivr, d.ivrLive = ctrl, ctrl.Live()
	return nil
}

// ivrWorkers run the controller, relay other instances' live messages, and register
// voice messages whose ticket could not be created during the call.
func (d *domains) ivrWorkers() []worker {
	ws := []worker{}
	if dir := d.cfg.IVR.SpoolDir; dir != "" {
		// Voice messages Asterisk recorded while rexian was down become tickets.
		reg := ivr.NewSpoolRegistrar(d.tickets, d.cfg.IVR, d.cfg.Location())
		reg.Log = d.log.With("component", "ivr_spool")
		w := spool.NewWorker(dir, reg, reg.Log)
		ws = append(ws, worker{
			name:     "ivr_spool_import",
			interval: 30 * time.Second,
			pass: func(ctx context.Context) error {
				_, err := w.RunOnce(ctx)
				return err
			},
		})
	}
	ws = append(ws, worker{
		name: "ivr_live_relay",
		service: func(ctx context.Context) error {
			if d.ivrLive != nil {
				d.ivrLive.Relay(ctx)
			}
			return nil
		},
	})
	if d.ivr == nil {
		return ws
	}
	return append(ws, worker{
		name:    "ivr_controller",
		service: d.ivr.Run,
	}, worker{
		name:     "ivr_voicemail_retry",
		interval: time.Minute,
		pass: func(ctx context.Context) error {
			if !d.ivr.Controlling() {
				return nil // the instance that controls the calls registers their messages
			}
			_, err := d.ivr.RetryVoicemails(ctx)
			return err
		},
	})
}

// ---- Mayor's mailbox (市长信箱) ----

// mailboxWork is the mailbox's reader (nil without mailbox.imap_url) and replier (nil
// without mailbox.smtp_url).
type mailboxWork struct {
	reader  *mailbox.Reader
	replier *mailbox.Replier
	sender  *mailbox.SMTPSender // the replier's, for rexian doctor
}

func newMailbox(cfg config.Config, log *slog.Logger, store *tickets.Store) (mailboxWork, error) {
	var w mailboxWork
	m := cfg.Mailbox
	log = log.With("component", "mailbox")
	if m.IMAPURL != "" {
		e, err := mailbox.ParseIMAPURL(m.IMAPURL)
		if err != nil {
			return w, fmt.Errorf("mailbox.imap_url: %w", err)
		}
		lim := mailbox.DefaultLimits()
		lim.MaxAttachments, lim.MaxTotalBytes = m.MaxAttachments, m.MaxAttachmentsBytes
		lim.MaxAttachmentBytes = cfg.Tickets.AttachmentMaxBytes
		intake := mailbox.NewIntake(store, mailbox.IntakeOptions{Category: m.Category, Limits: lim, Log: log})
		w.reader = mailbox.NewReader(intake, mailbox.ReaderOptions{
			Endpoint: e, ProcessedFolder: m.ProcessedFolder, FailedFolder: m.FailedFolder, IgnoredFolder: m.IgnoredFolder,
			PollInterval: m.PollInterval, MaxLetterBytes: m.MaxLetterBytes, Log: log,
		})
	}
	if m.SMTPURL != "" {
		e, err := mailbox.ParseSMTPURL(m.SMTPURL)
		if err != nil {
			return w, fmt.Errorf("mailbox.smtp_url: %w", err)
		}
		from := m.From
		if from == "" {
			from = e.User // validation made sure it is an address
		}
		_, domain, _ := strings.Cut(from, "@")
		sender := &mailbox.SMTPSender{Endpoint: e, LocalName: strings.Trim(domain, "> ")}
		w.sender = sender
		w.replier, err = mailbox.NewReplier(store.DB(), sender, mailbox.ReplierOptions{
			From: from, PublicURL: cfg.PublicURL, Window: m.ReplyWindow, Location: cfg.Location(), Log: log,
		})
		if err != nil {
			return w, err
		}
	}
	return w, nil
}

// mailboxWorkers read the mailbox (one long pass that keeps its IMAP session and
// reconnects by itself) and send the replies owed. Both are safe on every instance.
func (d *domains) mailboxWorkers(cfg config.Config) []worker {
	var ws []worker
	if r := d.mailbox.reader; r != nil {
		ws = append(ws, worker{name: "mailbox_reader", interval: cfg.Mailbox.PollInterval, logsOwn: true, long: true, pass: r.Run})
	}
	if r := d.mailbox.replier; r != nil {
		ws = append(ws, worker{name: "mailbox_replies", interval: cfg.Mailbox.ReplyInterval, pass: func(ctx context.Context) error {
			_, err := r.RunOnce(ctx)
			return err
		}})
	}
	return ws
}

// ---- Supervisors' dashboards ----

// dashboardsWorkers issue red and yellow cards. Every card names its cause under a
// unique index, so passes on several instances at once issue each card once.
func (d *domains) dashboardsWorkers() []worker {
	return []worker{{
		name: "dashboards_cards", interval: d.cfg.Dashboards.CardInterval,
		pass: func(ctx context.Context) error {
			_, err := d.dashboards.IssueCards(ctx)
			return err
		},
	}, {
		// One SMS per card to its department, keyed card:<id> in the outbox, so passes on
		// several instances, or one repeated after a crash, queue it once.
		name: "dashboards_card_notices", interval: d.cfg.Dashboards.CardInterval,
		pass: func(ctx context.Context) error {
			_, err := d.dashboards.NotifyCards(ctx)
			return err
		},
	}, {
		// Rebuilding the same days on every instance at once is safe but wasted work, and
		// the passes that collide fail: one instance at a time.
		name: "dashboards_rollups", interval: dashboards.RollUpInterval, exclusive: true,
		pass: func(ctx context.Context) error {
			_, err := d.dashboards.RollUp(ctx)
			return err
		},
	}}
}
