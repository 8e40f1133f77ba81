package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rexian/rexian/ivr/prompt"
)

func (c *cli) promptsCommand() *cobra.Command {
	var out, formats, voice string
	var departments, force, configuredOnly bool
	var speed int
	cmd := &cobra.Command{
		Use:   "prompts [--out DIR] [--departments]",
		Short: "Render the Mandarin voice prompts to audio files for Asterisk",
		Long: `Render the prompt texts of the configuration (ivr.prompts) and the prompts the
Asterisk dialplan plays while rexian is down (fallback-*) to 8 kHz 16-bit mono WAV files,
one <name>.wav per prompt, with espeak-ng (Mandarin voice cmn-latn-pinyin) and sox
(Debian packages espeak-ng and sox). With --departments it also renders every
department's name from the database as dept-<code>, which the progress lookup plays.
With a Chinese language (ivr.language zh) it also renders Mandarin digits into
DIR/digits/, which Asterisk's digits: and number: playback need and Asterisk does not
ship.

Texts an administrator reworded on /console/admin/settings (or with PUT
/api/v1/ivr/prompts) are read from the database and replace the configured ones;
--configured-only renders the configuration alone, without a database.

Prompts whose text and settings did not change since the last run are skipped, so it is
cheap to run on every deployment. Copy the folder to Asterisk's sounds folder under the
language and prompt folder of the configuration, e.g. /var/lib/asterisk/sounds/zh/rexian/,
and DIR/digits to /var/lib/asterisk/sounds/zh/digits/ (see deploy/asterisk/README.md).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			fs, err := prompt.ParseFormats(formats)
			if err != nil {
				return &usageError{err: fmt.Errorf("--formats: %w", err), cmd: cmd.CommandPath()}
			}
			cfg, log, err := c.setup(cmd)
			if err != nil {
				return err
			}
			texts, err := prompt.Merge(cfg.IVR.Prompts, prompt.DialplanTexts())
			if err != nil {
				return fmt.Errorf("ivr.prompts: %w", err)
			}
			if !configuredOnly {
				if texts, err = c.savedPromptTexts(cmd, texts); err != nil {
					return err
				}
			}
			if departments {
				depts, err := c.departmentTexts(cmd)
				if err != nil {
					return err
				}
				if texts, err = prompt.Merge(texts, depts); err != nil {
					return fmt.Errorf("department prompts: %w", err)
				}
			}
			if out == "" {
				out = filepath.Join(cfg.DataDir, "prompts")
			}
			opts := prompt.Options{
				Voice:   voice,
				Speed:   speed,
				Formats: fs,
				Force:   force,
				Log:     log.With("component", "prompts"),
			}
			rep, err := prompt.Render(cmd.Context(), texts, out, opts)
			c.printPromptReport(rep, "/var/lib/asterisk/sounds/"+cfg.IVR.Language+"/"+cfg.IVR.PromptDir)
			if err != nil || !strings.HasPrefix(cfg.IVR.Language, "zh") {
				return err
			}
			// Asterisk has no Mandarin digits; digits: and number: need these.
			rep, err = prompt.Render(cmd.Context(), prompt.DigitTexts(), filepath.Join(out, prompt.DigitsDir), opts)
			c.printPromptReport(rep, "/var/lib/asterisk/sounds/"+cfg.IVR.Language+"/"+prompt.DigitsDir)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "output folder (default <data_dir>/prompts)")
	f.BoolVar(&departments, "departments", false, "also render department names from the database (dept-<code>)")
	f.BoolVar(&force, "force", false, "render every prompt, even those up to date")
	f.BoolVar(&configuredOnly, "configured-only", false, "render the configuration's texts, without reading those reworded on the admin page from the database")
	f.StringVar(&formats, "formats", "wav", "audio formats, comma-separated: wav (always), alaw, ulaw, sln, gsm")
	f.StringVar(&voice, "voice", prompt.DefaultVoice, "espeak-ng voice (yue for Cantonese)")
	f.IntVar(&speed, "speed", 0, "speaking speed in words per minute (default espeak-ng's, 175)")
	return cmd
}

// savedPromptTexts lays the texts an administrator reworded over texts. A database that
// has never been migrated has none.
func (c *cli) savedPromptTexts(cmd *cobra.Command, texts map[string]string) (map[string]string, error) {
	err := c.withDomains(cmd, func(ctx context.Context, log *slog.Logger, d *domains) error {
		if !d.db.Migrator().HasTable("ivr_prompt_texts") {
			log.Info("no reworded prompt texts: the database is not migrated; rendering the configured texts")
			return nil
		}
		list, err := d.prompts.List(ctx)
		if err != nil {
			return err
		}
		var reworded []string
		for _, p := range list {
			if p.Saved {
				texts[p.Name] = p.Text
				reworded = append(reworded, p.Name)
			}
		}
		if len(reworded) > 0 {
			fmt.Fprintf(c.stdout, "reworded on the admin page: %s\n", strings.Join(reworded, " "))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the prompt texts saved by the administrator (--configured-only renders without them): %w", err)
	}
	return texts, nil
}

// departmentTexts reads the department directory and returns its prompt texts. A
// department whose name cannot become a prompt is logged and left out rather than
// failing the run: the other prompts are still worth rendering.
func (c *cli) departmentTexts(cmd *cobra.Command) (map[string]string, error) {
	var texts map[string]string
	err := c.withDomains(cmd, func(ctx context.Context, log *slog.Logger, d *domains) error {
		views, err := d.tickets.Departments(ctx)
		if err != nil {
			return fmt.Errorf("read departments: %w", err)
		}
		if len(views) == 0 {
			// Most likely not rexian's database: without --config or --data (or the
			// environment of the service) this is an empty ./data.
			where := "the configured database"
			if strings.HasPrefix(d.cfg.DatabaseURL, "sqlite") {
				where = "the SQLite database under " + d.cfg.DataDir
			}
			return fmt.Errorf("--departments: %s has no departments; run rexian prompts with rexian's own configuration "+
				"(the service's environment file, --config or --data) once the directory is set up", where)
		}
		depts := make([]prompt.Department, len(views))
		for i, v := range views {
			depts[i] = prompt.Department{Code: v.Code, Name: v.Name}
		}
		texts, err = prompt.DepartmentTexts(depts)
		if err != nil {
			log.Warn("some departments get no prompt", "err", err)
		}
		return nil
	})
	return texts, err
}

// printPromptReport prints what was rendered and where the files belong.
func (c *cli) printPromptReport(rep prompt.Report, installDir string) {
	w := c.stdout
	fmt.Fprintf(w, "prompts in %s: %s\n", rep.Dir, rep.Summary())
	if len(rep.Rendered) > 0 {
		fmt.Fprintf(w, "rendered: %s\n", strings.Join(rep.Rendered, " "))
	}
	for _, f := range rep.Failed {
		fmt.Fprintf(w, "failed: %s: %v\n", f.Name, f.Err)
	}
	if len(rep.Rendered)+len(rep.Skipped) > 0 {
		fmt.Fprintf(w, "install: copy %s/*.* to %s/ on every Asterisk node\n", rep.Dir, installDir)
	}
}
