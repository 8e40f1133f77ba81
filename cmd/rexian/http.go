package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/ivr"
)

var ginModeOnce sync.Once

// newEngine builds the HTTP surface: probes and metrics at the root, the REST API under
// /api/v1, JSON errors for everything else.
func (a *App) newEngine() (*gin.Engine, error) {
	// Debug mode prints route tables to stdout, which belongs to the commands' output.
	ginModeOnce.Do(func() { gin.SetMode(gin.ReleaseMode) })

	e := gin.New()
	// gin trusts every proxy by default, which would let any client choose the address
	// that the login limiter and the logs see by sending X-Forwarded-For.
	if err := e.SetTrustedProxies(a.cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("trusted_proxies: %w", err)
	}
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true // c.Done()/c.Value() follow the request's context
	// Metrics and the log see the final status, including a recovered panic's 500.
	e.Use(a.metrics.middleware(), requestLog(a.log), api.Recovery(a.log), audit.Middleware(),
		api.CheckRequestText(refuseText, func(c *gin.Context) bool {
			// Kannel passes an SMS in the query: it is cleaned and kept, not refused.
			return strings.HasPrefix(c.Request.URL.Path, "/sms/kannel/")
		}))
	e.NoRoute(api.NotFoundHandler)
	e.NoMethod(api.MethodNotAllowedHandler)

	e.GET("/healthz", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	})
	e.GET("/readyz", a.readyz)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(a.metrics.registry, promhttp.HandlerOpts{
		Registry:          a.metrics.registry,
		EnableOpenMetrics: true,
	})))

	// Citizen and integrator surfaces outside the API: web form, Open311, OneBot.
	if err := a.domains.publicRoutes(e, a.cfg); err != nil {
		return nil, err
	}
	v1 := e.Group("/api/v1")
	a.domains.routes(v1)
	for _, f := range a.extraRoutes {
		f(e)
	}
	return e, nil
}

// refuseText answers a path parameter or query string that breaks the text rule: the JSON
// envelope for the API, Open311 and OneBot, a short text in Chinese for the pages people
// open.
func refuseText(c *gin.Context, err error) {
	path := c.Request.URL.Path
	if strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/open311/") || strings.HasPrefix(path, "/onebot/") {
		api.WriteError(c, nil, err)
		return
	}
	field := ""
	var e *api.Error
	if errors.As(err, &e) {
		field = e.Field
	}
	c.Data(http.StatusBadRequest, "text/plain; charset=utf-8",
		[]byte(fmt.Sprintf("输入有误：“%s”中含有不允许的字符（控制字符、文字方向控制符或乱码），请删除后重试。\n", field)))
}

// check is one dependency's part of the readiness answer.
type check struct {
	Status string `json:"status"` // ok or error
}

// readyz answers 200 when the database and the live store both answer, else 503 with the
// failing check named, so that a load balancer stops sending calls to an instance that
// cannot serve them. Anyone may ask, so the answer names the check only: the error (which
// names the database's user, host and port) goes to the log.
func (a *App) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	ready, checks := a.readiness(ctx)
	status, code := "ok", http.StatusOK
	if !ready {
		status, code = "unavailable", http.StatusServiceUnavailable
	}
	body := gin.H{"status": status, "checks": checks}
	if ctrl := a.domains.ivr; ctrl != nil {
		// A standby is ready (it serves the API and the consoles); what it does for the
		// telephone is told apart: per node, in the order of ari.url, without addresses.
		roles := []ivr.Role{}
		role := ivr.RoleStandby
		for _, r := range ctrl.Roles() {
			roles = append(roles, r.Role)
			if r.Role == ivr.RoleActive {
				role = ivr.RoleActive
			}
		}
		body["ivr"] = gin.H{"role": role, "nodes": roles}
	}
	c.JSON(code, body)
}

// readiness asks the database and the live store; /readyz and the rexian_ready metric
// share it.
func (a *App) readiness(ctx context.Context) (bool, map[string]check) {
	checks := map[string]check{}
	ready := true
	record := func(name string, err error) {
		if err != nil {
			ready = false
			checks[name] = check{Status: "error"}
			a.log.WarnContext(ctx, "readiness check failed", "check", name, "err", err)
			return
		}
		checks[name] = check{Status: "ok"}
	}
	record("database", database.Ping(ctx, a.db))
	record("redis", a.live.Ping(ctx).Err())
	return ready, checks
}

// requestLog logs each request once it is answered. Probes and scrapes log at debug so
// that they do not drown the requests people make.
func requestLog(log *slog.Logger) gin.HandlerFunc {
	quiet := map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		level := slog.LevelInfo
		switch status := c.Writer.Status(); {
		case status >= 500:
			level = slog.LevelError
		case quiet[c.FullPath()]:
			level = slog.LevelDebug
		}
		log.LogAttrs(c.Request.Context(), level, "request",
			slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.Path),
			slog.String("route", c.FullPath()),
			slog.Int("status", c.Writer.Status()),
			slog.Duration("duration", time.Since(start)),
			slog.String("client", c.ClientIP()),
		)
	}
}
