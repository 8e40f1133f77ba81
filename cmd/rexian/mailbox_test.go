package main

import (
	"log/slog"
	"slices"
	"testing"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/tickets"
)

// The mailbox's workers run only for what is configured: nothing by default, the reader
// with an IMAP URL, the replier with an SMTP URL.
func TestMailboxWorkersFollowConfig(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*config.Mailbox)
		want []string
	}{
		{"off", func(*config.Mailbox) {}, nil},
		{"reader", func(m *config.Mailbox) { m.IMAPURL = "imaps://mayor%40city.gov.cn:pw@imap.city.gov.cn/INBOX" }, []string{"mailbox_reader"}},
		{"both", func(m *config.Mailbox) {
			m.IMAPURL = "imap+starttls://mayor:pw@imap.city.gov.cn"
			m.SMTPURL = "smtps://mayor%40city.gov.cn:pw@smtp.city.gov.cn"
		}, []string{"mailbox_reader", "mailbox_replies"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.DatabaseURL = "sqlite://" + t.TempDir() + "/t.db"
			tt.mod(&cfg.Mailbox)
			if err := cfg.Validate(); err != nil {
				t.Fatalf("configuration does not validate: %v", err)
			}
			log := slog.New(slog.DiscardHandler)
			w, err := newMailbox(cfg, log, tickets.NewStore(nil, tickets.Options{Log: log}))
			if err != nil {
				t.Fatal(err)
			}
			d := &domains{log: log, mailbox: w}
			var got []string
			for _, w := range d.mailboxWorkers(cfg) {
				got = append(got, w.name)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("workers %v, want %v", got, tt.want)
			}
		})
	}
}
