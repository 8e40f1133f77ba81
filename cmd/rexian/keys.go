package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/callback"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/pii"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/intake/mailbox"
)

func (c *cli) keysNewCommand() *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "new --id ID",
		Short: "Print a new pair of personal-data keys (SM4 and blind index) for the keys file",
		Long: `Print a new SM4 key and a new SM3-HMAC blind-index key, both named ID, as two lines
for personal_data.keys_file. Append them to the file on every instance (the last key of
each kind is the one new data is sealed with), restart, then run rexian keys rotate.
Keep the older lines until the rotation has finished: they open what they sealed.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "id"); err != nil {
				return err
			}
			text, err := pii.Generate(id)
			if err != nil {
				return usageErrorf("--id: %v", err)
			}
			_, err = fmt.Fprint(c.stdout, text)
			return err
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "the keys' id, e.g. 2027a (1-16 letters, digits, - or _)")
	return cmd
}

func (c *cli) keysRotateCommand() *cobra.Command {
	var batch int
	cmd := &cobra.Command{
		Use:   "rotate [--batch N]",
		Short: "Seal every citizen's personal data again with the current keys, in batches, while serving",
		Long: `Seal the personal data of every ticket that is in plain text (written before keys
were configured) or sealed with an older key again with the current key, and compute
its phone number's blind index with the current index key. It works in batches of short
writes, so the hotline keeps serving; a second run finds nothing to do, and a run that
was stopped goes on where it stopped. Prints how many tickets were sealed again.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if batch < 1 {
				return usageErrorf("--batch must be at least 1, not %d", batch)
			}
			return c.withDomains(cmd, func(ctx context.Context, log *slog.Logger, d *domains) error {
				seal, index := pii.Keys(d.db).Current()
				rep, err := tickets.Reseal(ctx, d.db, batch, func(r tickets.ResealReport) {
					log.Info("sealing personal data again", "tickets", r.Resealed)
				})
				if err != nil {
					return err
				}
				others, changed := []string{}, rep.Changed
				for _, t := range personalDataTables() {
					r, err := pii.Reseal(ctx, d.db, t, batch)
					if err != nil {
						return err
					}
					log.Info("sealing personal data again", "table", t.Name, "rows", r.Resealed)
					others = append(others, fmt.Sprintf("%s %d", t.Name, r.Resealed))
					changed += r.Changed
				}
				if err := d.audit.Record(ctx, audit.Event{Action: audit.ActionConfig, Actor: "system:keys",
					Target: "personal_data.keys", Detail: fmt.Sprintf("personal data of %d tickets (and %s) sealed again with key %s, index key %s",
						rep.Resealed, strings.Join(others, ", "), seal, index)}); err != nil {
					return err
				}
				_, err = fmt.Fprintf(c.stdout, "resealed %d tickets with key %s (index key %s); %d changed meanwhile, run again for them\nresealed rows: %s\n",
					rep.Resealed, seal, index, changed, strings.Join(others, ", "))
				return err
			})
		},
	}
	cmd.Flags().IntVar(&batch, "batch", 500, "tickets per batch")
	return cmd
}

func (c *cli) privacyEraseCommand() *cobra.Command {
	var tel, reason, by string
	cmd := &cobra.Command{
		Use:   "erase --phone N --reason TEXT [--by NAME]",
		Short: "Erase a citizen's personal data from their closed tickets (a deletion request); audited",
		Long: `Serve a citizen's deletion request: the name, phone number, e-mail address and
address on every closed ticket of that phone number are erased; the tickets stay, so the
figures do not change. Tickets still being handled are kept whole and listed: the citizen
is owed their result; run it again once they are closed. The erasure is written to the
security audit log with --reason and --by (who handled the request). Prints the tickets
erased and those kept.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "phone", "reason"); err != nil {
				return err
			}
			return c.withDomains(cmd, func(ctx context.Context, _ *slog.Logger, d *domains) error {
				actor := "system:privacy"
				if by != "" {
					actor = "admin:" + by
				}
				e, err := d.eraseCitizen(ctx, actor, tel, reason)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(c.stdout, "erased %d tickets: %s\nkept %d open tickets: %s\nerased the number from %d call records, %d SMS and %d surveys\n",
					len(e.Erased), strings.Join(e.Erased, " "), len(e.Open), strings.Join(e.Open, " "), e.Calls, e.SMS, e.Surveys)
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&tel, "phone", "", "the citizen's phone number")
	f.StringVar(&reason, "reason", "", "why, e.g. \"citizen's request of 2026-12-06, letter 12\"")
	f.StringVar(&by, "by", "", "the administrator who handled the request")
	return cmd
}

// personalDataTables are the tables besides tickets that hold citizens' personal data
// sealed at rest, for rexian keys rotate.
func personalDataTables() []pii.Table {
	var ts []pii.Table
	for _, f := range []func() []pii.Table{ivr.PersonalData, sms.PersonalData, callback.PersonalData, mailbox.PersonalData} {
		ts = append(ts, f()...)
	}
	return ts
}

// citizenErasure is what eraseCitizen erased.
type citizenErasure struct {
	tickets.Erasure
	Calls, SMS, Surveys int64
}

// eraseCitizen serves a citizen's deletion request everywhere their number is kept: the
// closed tickets (tickets.Store.EraseCitizen), the records of their finished calls, the
// SMS sent to and received from them, and their finished surveys. Both parts are audited.
func (d *domains) eraseCitizen(ctx context.Context, actor, tel, reason string) (citizenErasure, error) {
	var out citizenErasure
	e, err := d.tickets.EraseCitizen(ctx, actor, tel, reason)
	out.Erasure = e
	if err != nil {
		return out, err
	}
	n, err := phone.Parse(tel)
	if err != nil {
		return out, err
	}
	if out.Calls, err = ivr.EraseCaller(ctx, d.db, n.National); err != nil {
		return out, err
	}
	if out.SMS, err = sms.EraseNumber(ctx, d.db, n.National); err != nil {
		return out, err
	}
	if out.Surveys, err = callback.EraseNumber(ctx, d.db, n.National); err != nil {
		return out, err
	}
	err = d.audit.Record(ctx, audit.Event{Action: audit.ActionPIIErased, Actor: actor, Target: "calls,sms,surveys",
		Detail: fmt.Sprintf("number %s erased from %d call records, %d SMS and %d surveys: %s", phone.Mask(n.National), out.Calls, out.SMS, out.Surveys, reason)})
	return out, err
}
