package ivr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/ivr/spool"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/tickets"
)

// SpoolRegistrar turns the voice messages the dialplan recorded while rexian was down
// into tickets (see deploy/asterisk and package spool). It needs no Asterisk connection:
// it runs on the instance that shares the spool folder with Asterisk.
type SpoolRegistrar struct {
	Tickets *tickets.Store
	// Lookup finds an existing ticket by external reference ("" when none).
	Lookup   func(ctx context.Context, ref string) (string, error)
	Settings config.IVR
	Location *time.Location
	// Log says when a message goes under a stand-in category; nil: slog's default.
	Log *slog.Logger
}

func (r *SpoolRegistrar) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

var _ spool.Registrar = (*SpoolRegistrar)(nil)

// NewSpoolRegistrar registers spooled voice messages in store.
func NewSpoolRegistrar(store *tickets.Store, settings config.IVR, loc *time.Location) *SpoolRegistrar {
	return &SpoolRegistrar{
		Tickets:  store,
		Lookup:   func(ctx context.Context, ref string) (string, error) { return ticketByRef(ctx, store.DB(), ref) },
		Settings: settings,
		Location: loc,
	}
}

// RegisterVoicemail registers one message; registering the same file again returns the
// first ticket (the file name is the ticket's external reference).
func (r *SpoolRegistrar) RegisterVoicemail(ctx context.Context, m spool.Message) (string, error) {
	ref := "spool:" + m.Reference
	number, err := r.Lookup(ctx, ref)
	if err != nil {
		return "", err
	}
	if number == "" {
		number, err = r.create(ctx, m, ref)
		if err != nil {
			return "", err
		}
	}
	if m.Empty || m.Path == "" {
		return number, nil
	}
	// Attach the audio unless an earlier try (cut short by a crash) already did.
	v, err := r.Tickets.Find(ctx, desk, number)
	if err != nil {
		return "", fmt.Errorf("read ticket %s: %w", number, err)
	}
	if len(v.Attachments) > 0 {
		return number, nil
	}
	f, err := os.Open(m.Path)
	if err != nil {
		return "", fmt.Errorf("open voice message %s: %w", m.Reference, err)
	}
	defer f.Close()
	if _, err := r.Tickets.AddAttachment(ctx, desk, number, filepath.Base(m.Path), f); err != nil {
		if errors.Is(err, api.ErrInvalid) || errors.Is(err, api.ErrTooLarge) {
			// The ticket stands; the audio stays in the spool's done folder.
			return number, nil
		}
		return "", fmt.Errorf("attach voice message %s to %s: %w", m.Reference, number, err)
	}
	return number, nil
}

func (r *SpoolRegistrar) create(ctx context.Context, m spool.Message, ref string) (string, error) {
	hotline := ""
	for _, l := range r.Settings.Lines {
		if l.Number == m.Dialled {
			hotline = l.Hotline
		}
	}
	if hotline == "" && len(r.Settings.Lines) > 0 {
		hotline = r.Settings.Lines[0].Hotline
	}
	name := "热线"
	for _, h := range r.Settings.Hotlines {
		if h.Code == hotline {
			name = h.Name
		}
	}
	loc := r.Location
	if loc == nil {
		loc = time.Local
	}
	content := fmt.Sprintf("%s 来电（%s，拨打 %s）在系统维护期间留言", m.At.In(loc).Format("2006-01-02 15:04"), orUnknown(m.Caller), orUnknown(m.Dialled))
	switch {
	case m.Empty:
		content += "，留言为空（来电者未说话即挂机），请回电了解诉求。"
	case m.Duration > 0:
		content += fmt.Sprintf("，时长 %d 秒，录音见附件。请收听后补充诉求内容。", int(m.Duration/time.Second))
	default:
		content += "，录音见附件。请收听后补充诉求内容。"
	}
	in := tickets.NewTicket{
		Channel:  tickets.ChannelVoicemail,
		Title:    fmt.Sprintf("%s语音留言 %s", name, orUnknown(m.Caller)),
		Content:  content,
		Category: r.Settings.Voicemail.Category,
		Ref:      ref,
		Record:   m.Reference,
	}
	if _, err := phone.Parse(m.Caller); err == nil {
		in.Citizen.Phone = m.Caller
	}
	v, err := createTicket(ctx, r.Tickets, in, r.log())
	if errors.Is(err, api.ErrInvalid) {
		return "", fmt.Errorf("%w: %v", spool.ErrRejected, err)
	}
	if err != nil {
		return "", fmt.Errorf("register spooled voice message %s: %w", m.Reference, err)
	}
	return v.Number, nil
}
