package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/tickets"
)

func (c *cli) serveCommand() *cobra.Command {
	var demo bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP API and the background workers until SIGINT or SIGTERM",
		Long: `Run the HTTP API and the background workers until SIGINT or SIGTERM.

With no configuration it keeps a SQLite database in the data folder and starts an
in-process live store, so nothing needs to be installed. Migrations are applied on start.
On a signal it stops accepting connections, lets requests in flight finish (up to 30s),
stops the workers and closes the database.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, log, err := c.setup(cmd)
			if err != nil {
				return err
			}
			var opts []Option
			if demo {
				opts = append(opts, WithDemo())
			}
			app, err := NewApp(cmd.Context(), cfg, log, opts...)
			if err != nil {
				return err
			}
			runErr := app.Run(cmd.Context())
			return errors.Join(runErr, app.Close())
		},
	}
	cmd.Flags().BoolVar(&demo, "demo", false, "load the demo city (departments, categories, demo users) when the database has none")
	return cmd
}

func (c *cli) migrateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations and exit",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, log, err := c.setup(cmd)
			if err != nil {
				return err
			}
			db, err := openDatabase(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			log.Info("database is up to date", "database", string(database.DialectOf(db)), "migrations", len(migrations()))
			return database.Close(db)
		},
	}
}

func (c *cli) configCommand() *cobra.Command {
	print := &cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration as YAML, secrets masked",
		Long: `Print the effective configuration (defaults, the --config file, REXIAN_* variables
and flags, in that order) as YAML that --config accepts. Passwords in URLs and secret keys
are masked.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _, err := c.setup(cmd)
			if err != nil {
				return err
			}
			out, err := cfg.Masked().YAML()
			if err != nil {
				return err
			}
			_, err = c.stdout.Write(out)
			return err
		},
	}
	return group("config", "Show the configuration", print)
}

// addDomainCommands adds the commands that act on domain data.
func (c *cli) addDomainCommands(root *cobra.Command) {
	root.AddCommand(
		c.seedCommand(),
		group("users", "Manage console users", c.usersAddCommand()),
		group("tokens", "Manage API tokens for integrations", c.tokensCreateCommand()),
		group("audit", "Check the tamper-evident ticket timelines (电子监察)", c.auditVerifyCommand()),
		group("keys", "Make and rotate the keys that seal citizens' personal data", c.keysNewCommand(), c.keysRotateCommand()),
		group("import", "Move records in from a previous platform", c.importTicketsCommand()),
		group("privacy", "Serve citizens' requests about their personal data", c.privacyEraseCommand()),
	)
}

// group is a command that only holds subcommands; run alone, it is a usage error.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return &usageError{err: fmt.Errorf("%s needs a subcommand", cmd.CommandPath()), cmd: cmd.CommandPath()}
		},
	}
	cmd.AddCommand(subs...)
	return cmd
}

// withDomains loads the configuration, opens the (migrated) database and builds the
// domain services for a one-shot command, and closes the database afterwards.
func (c *cli) withDomains(cmd *cobra.Command, f func(ctx context.Context, log *slog.Logger, d *domains) error) error {
	cfg, log, err := c.setup(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	d, err := newDomains(ctx, cfg, log, db, nil)
	if err == nil {
		err = f(ctx, log, d)
	}
	return errors.Join(err, d.closeRead(), database.Close(db))
}

func (c *cli) seedCommand() *cobra.Command {
	var demo bool
	cmd := &cobra.Command{
		Use:   "seed --demo",
		Short: "Load the demo city: departments, categories and demo users of every role",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "demo"); err != nil {
				return err
			}
			return c.withDomains(cmd, func(ctx context.Context, _ *slog.Logger, d *domains) error {
				return d.loadDemo(ctx)
			})
		},
	}
	cmd.Flags().BoolVar(&demo, "demo", false, "load the demo city (the only data set so far)")
	return cmd
}

func (c *cli) usersAddCommand() *cobra.Command {
	var username, role, department, displayName string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "add --username U --role R [--department CODE] --password-stdin",
		Short: "Create a console user; the password is read from the first line of stdin",
		Long: `Create a console user. The password is read from the first line of standard input,
never from a flag, so that it stays out of shell history and the process list:

  printf '%s\n' "$PASSWORD" | rexian users add --username zhang.wei --role operator --password-stdin

Roles: operator, department (needs --department), supervisor, admin.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "username", "role", "password-stdin"); err != nil {
				return err
			}
			if !passwordStdin {
				return usageErrorf("--password-stdin is the only way to give the password")
			}
			if err := checkRoleFlag(cmd, role); err != nil {
				return err
			}
			password, err := readPassword(c.stdin)
			if err != nil {
				return err
			}
			return c.withDomains(cmd, func(ctx context.Context, _ *slog.Logger, d *domains) error {
				// The auth service logs the creation; nothing goes to stdout.
				_, err := d.auth.CreateUser(ctx, auth.NewUser{
					Username:       username,
					DisplayName:    displayName,
					Role:           auth.Role(role),
					DepartmentCode: department,
					Password:       password,
				})
				if err != nil {
					return fmt.Errorf("add user %s: %w", username, err)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&username, "username", "", "login name (lower-case letters, digits, . _ -)")
	f.StringVar(&role, "role", "", "operator, department, supervisor or admin")
	f.StringVar(&department, "department", "", "department code, for role department")
	f.StringVar(&displayName, "display-name", "", "name shown in timelines (default: the username)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

// readPassword reads the first line of r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("no standard input to read the password from")
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on stdin: pipe it in, e.g. printf '%s\\n' \"$PASSWORD\" | rexian users add …")
	}
	return line, nil
}

// checkRoleFlag turns an unknown --role into a usage error that lists the roles.
func checkRoleFlag(cmd *cobra.Command, role string) error {
	if auth.Role(role).Valid() {
		return nil
	}
	roles := []string{string(auth.RoleOperator), string(auth.RoleDepartment), string(auth.RoleSupervisor),
		string(auth.RoleAdmin), string(auth.RoleIntegrator)}
	return &usageError{err: fmt.Errorf("--role %q is not one of %s", role, strings.Join(roles, ", ")), cmd: cmd.CommandPath()}
}

func (c *cli) tokensCreateCommand() *cobra.Command {
	var name, role, department string
	var scopes []string
	cmd := &cobra.Command{
		Use:   "create --name N --role R [--department CODE] [--scope S]...",
		Short: "Create an API token and print it, alone, on stdout",
		Long: `Create a bearer token for an integration and print it, alone, on stdout; everything
else goes to stderr, so that TOKEN=$(rexian tokens create --name approvals --role integrator)
captures just the token. It is shown this once: only its hash is stored.

--scope (repeatable, or comma-separated) limits what the token may do within its role;
without it the token gets ` + strings.Join(auth.DefaultScopes, ", ") + `, which shows
citizens' personal data masked. personal:read unmasks it; * is every scope.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "name", "role"); err != nil {
				return err
			}
			if err := checkRoleFlag(cmd, role); err != nil {
				return err
			}
			return c.withDomains(cmd, func(ctx context.Context, _ *slog.Logger, d *domains) error {
				// The auth service logs the creation (to stderr); stdout gets the secret alone.
				secret, _, err := d.auth.CreateToken(ctx, name, auth.Role(role), department, scopes)
				if err != nil {
					return fmt.Errorf("create token %s: %w", name, err)
				}
				_, err = fmt.Fprintln(c.stdout, secret)
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "what the token is for, e.g. online-approval")
	f.StringVar(&role, "role", "", "integrator, operator, department, supervisor or admin")
	f.StringVar(&department, "department", "", "department code, for role department")
	f.StringSliceVar(&scopes, "scope", nil, "a scope the token gets (repeat or comma-separate); default "+strings.Join(auth.DefaultScopes, ","))
	return cmd
}

func (c *cli) auditVerifyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Check the security audit log's and every ticket's hash chain; name the first break",
		Long: `Check the security audit log (each record's hash, its link to the one before, the
sequence numbers from the anchor left by pruning to the recorded head) and every ticket's
timeline (each event's hash and link, the sequence numbers and the ticket's recorded head).
Prints one "ok: …" line for each and exits 0, or names the first broken record or event on
stderr and exits 1.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withDomains(cmd, func(ctx context.Context, _ *slog.Logger, d *domains) error {
				arep, err := d.audit.Verify(ctx)
				if err != nil {
					return err
				}
				trep, err := tickets.VerifyAudit(ctx, d.db)
				if err != nil {
					return err
				}
				var broken []string
				if !arep.OK() {
					broken = append(broken, fmt.Sprintf("audit log failed after %d records: %s", arep.Records, arep.Broken))
				}
				if !trep.OK() {
					broken = append(broken, fmt.Sprintf("audit failed after %d tickets, %d events: %s", trep.Tickets, trep.Events, trep.Broken))
				}
				if len(broken) > 0 {
					return errors.New(strings.Join(broken, "; "))
				}
				_, err = fmt.Fprintf(c.stdout, "%s\n%s\n", arep, trep)
				return err
			})
		},
	}
}

// Interface checks: the wiring relies on these shapes.
var _ auth.DepartmentResolver = (*tickets.Store)(nil)
