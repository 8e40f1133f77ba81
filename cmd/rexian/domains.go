package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/calendar"
	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/tickets"
)

// This file is where the domain packages are wired: each new domain adds its migrations,
// its service, its routes, its workers and its collectors here and nowhere else.

// migrations lists every domain's schema steps in the order they must run: auth first,
// because tickets' rows refer to users.
func migrations() []*database.Migration {
	var all []*database.Migration
	all = append(all, auth.Migrations()...)
	all = append(all, tickets.Migrations()...)
	return all
}

// domains are the domain services built from one Config.
type domains struct {
	log     *slog.Logger
	db      *gorm.DB
	live    *live.Store
	auth    *auth.Service
	tickets *tickets.Store
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
	store := tickets.NewStore(db, tickets.Options{
		Calendar:           cal,
		Location:           cfg.Location(),
		Log:                log.With("component", "tickets"),
		ClockFrom:          tickets.ClockFrom(cfg.Tickets.HandleClockFrom),
		AttachmentDir:      filepath.Join(cfg.DataDir, "attachments"),
		AttachmentMaxBytes: cfg.Tickets.AttachmentMaxBytes,
		DuplicateWindow:    time.Duration(cfg.Tickets.DuplicateWindowDays) * 24 * time.Hour,
		RefusalReasons:     reasons,
	})
	authService := auth.NewService(db, ls, auth.Options{
		SessionTTL:    cfg.Auth.SessionTTL,
		IdleTimeout:   cfg.Auth.IdleTimeout,
		Log:           log,
		SecureCookies: cfg.Auth.SecureCookies,
		Departments:   store,
	})
	return &domains{log: log, db: db, live: ls, auth: authService, tickets: store}, nil
}

// routes mounts every surface of the REST API on /api/v1. Authentication runs first on
// the whole group; each surface checks roles per endpoint.
func (d *domains) routes(v1 *gin.RouterGroup) {
	v1.Use(d.auth.Middleware())
	v1.GET("/openapi.json", api.OpenAPIHandler())
	d.auth.Routes(v1)
	tickets.NewHandler(d.tickets, d.log.With("component", "tickets")).Routes(v1)
}

// workers are the background workers `serve` runs.
func (d *domains) workers(cfg config.Config) []worker {
	overdue := tickets.NewOverdueWorker(d.tickets, d.live, d.log)
	overdue.Interval = cfg.Workers.OverdueInterval
	// RunOnce reports its outcome through OnRun; passes run one after another on the
	// worker's goroutine, so the variable needs no lock.
	var lastErr error
	overdue.OnRun = func(_ int, err error) { lastErr = err }
	return []worker{{
		name:     "tickets_overdue",
		interval: cfg.Workers.OverdueInterval,
		logsOwn:  true,
		pass: func(ctx context.Context) error {
			lastErr = nil
			overdue.RunOnce(ctx)
			return lastErr
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
	}}
}

// collectors are the domains' Prometheus collectors.
func (d *domains) collectors() []prometheus.Collector {
	return []prometheus.Collector{tickets.NewCollector(d.db)}
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
	d.log.Info("demo city loaded", "departments", n, "users", len(city.Users), "users_created", created)
	return nil
}
