package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/tickets"
)

// namedCategories are the category codes the configuration names, by key, for the parts
// that are turned on: each is where that channel registers its tickets. (No key names a
// department; the telephone lines are checked against the hotlines by config.Validate.)
func namedCategories(cfg config.Config) [][2]string {
	var named [][2]string
	add := func(key, code string) {
		if code = strings.TrimSpace(code); code != "" {
			named = append(named, [2]string{key, code})
		}
	}
	if cfg.ARI.Enabled() || cfg.IVR.SpoolDir != "" {
		add("ivr.voicemail.category", cfg.IVR.Voicemail.Category)
	}
	if cfg.SMS.KannelURL != "" {
		add("sms.inbound_category", cfg.SMS.InboundCategory)
	}
	if cfg.QQ.Enabled {
		add("qq.default_category", cfg.QQ.DefaultCategory)
	}
	if cfg.WebForm.Enabled {
		add("web_form.default_category", cfg.WebForm.DefaultCategory)
	}
	if cfg.Mailbox.IMAPURL != "" {
		add("mailbox.category", cfg.Mailbox.Category)
	}
	for _, e := range cfg.Callback.CategorySample {
		code, _, _ := strings.Cut(e, "=")
		add("callback.category_sample", code)
	}
	return named
}

// checkDirectory refuses to start when the configuration names a category the directory
// lacks or no longer uses: every ticket of that channel would fail until someone read the
// log. A directory with no category at all is a fresh install being set up through the
// console; it is warned about, not refused.
func (d *domains) checkDirectory(ctx context.Context, cfg config.Config) error {
	named := namedCategories(cfg)
	if len(named) == 0 {
		return nil
	}
	cats, err := d.tickets.Categories(ctx)
	if err != nil {
		return fmt.Errorf("check the categories the configuration names: %w", err)
	}
	if len(cats) == 0 {
		for _, n := range named {
			d.log.Warn("the directory has no categories yet: tickets of this channel cannot be registered until it is loaded", "key", n[0], "category", n[1])
		}
		return nil
	}
	byCode := make(map[string]tickets.CategoryView, len(cats))
	for _, c := range cats {
		byCode[c.Code] = c
	}
	var errs []error
	for _, n := range named {
		c, ok := byCode[n[1]]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: unknown category %q (add it to the directory or name another)", n[0], n[1]))
		case !c.Active:
			errs = append(errs, fmt.Errorf("%s: category %q (%s) is no longer in use (name another)", n[0], n[1], c.Name))
		}
	}
	return errors.Join(errs...)
}
