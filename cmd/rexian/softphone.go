package main

import (
	"context"
	"fmt"
	"time"

	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/softphone"
)

// browserPhones builds the issuer of the console's browser phones once: nil unless
// Asterisk is configured (ari.url) and ari.softphone_ws names its WebSocket.
func (d *domains) browserPhones() (*softphone.Issuer, error) {
	if d.softphone != nil || !d.cfg.ARI.Enabled() || d.cfg.ARI.SoftphoneWS == "" {
		return d.softphone, nil
	}
	queue := ivr.NewHandler(ivr.HandlerOptions{
		Controller: d.ivr, Live: d.ivrLive, DB: d.db, Settings: d.cfg.IVR,
		Location: d.cfg.Location(), Log: d.log.With("component", "ivr"),
	})
	log := d.log.With("component", "softphone")
	iss, err := softphone.New(softphone.Options{
		Nodes: d.cfg.ARI.URL, User: d.cfg.ARI.User, Password: d.cfg.ARI.Password,
		WS: d.cfg.ARI.SoftphoneWS, Live: d.live, Alive: d.auth.SessionActive, Log: log,
		Revoked: func(ctx context.Context, user, phone string) {
			if err := queue.LeaveIfPhone(ctx, user, phone); err != nil {
				log.WarnContext(ctx, "browser phone revoked: take the operator out of the queue", "user", user, "err", err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("ari.softphone_ws: %w", err)
	}
	d.softphone = iss
	return iss, nil
}

// softphoneWorkers revoke the browser phones of sessions that expired without a logout.
func (d *domains) softphoneWorkers() []worker {
	iss, err := d.browserPhones()
	if err != nil || iss == nil {
		return nil
	}
	return []worker{{
		name:     "softphone_sweep",
		interval: 30 * time.Second,
		pass: func(ctx context.Context) error {
			_, err := iss.Sweep(ctx)
			return err
		},
	}}
}
