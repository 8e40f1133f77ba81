package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rexian/rexian/config"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// cli is one invocation: its streams and environment, so that tests run commands in
// process with buffers instead of touching the real ones.
type cli struct {
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	environ []string

	configFile string
}

// globalFlags are the flags every subcommand honours, each a shortcut for one
// configuration key; they override the file and the environment.
var globalFlags = []struct {
	name, key, usage string
}{
	{"data", "data_dir", "folder for the SQLite database and files (default ./data)"},
	{"addr", "addr", "HTTP listen address (default 127.0.0.1:8080)"},
	{"database-url", "database_url", "postgres://… or sqlite://PATH (default: a SQLite file in the data folder)"},
	{"redis-url", "redis_url", "redis://… (default: an in-process live store)"},
	{"log-level", "log.level", "debug, info, warn or error"},
	{"log-format", "log.format", "text or json"},
}

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, environ: environ}
	root := c.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	return c.report(err)
}

func (c *cli) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "rexian",
		Short: "Rexian (热线): a platform for a city's citizen hotlines",
		Long: `Rexian runs a city's citizen hotlines (市长热线, 12345): tickets (工单) from calls,
letters and web complaints, dispatched to departments with deadlines.

Configuration: defaults < YAML file (--config) < REXIAN_* environment variables < flags.
Every key of the file has a variable: tickets.handle_clock_from is
REXIAN_TICKETS_HANDLE_CLOCK_FROM. See 'rexian config print'.`,
		SilenceErrors: true, // report prints one line; cobra would add usage text
		SilenceUsage:  true,
		Args:          usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("missing command")
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{err: err, cmd: cmd.CommandPath()}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&c.configFile, "config", "", "YAML configuration file")
	for _, f := range globalFlags {
		pf.String(f.name, "", f.usage)
	}
	root.AddCommand(
		c.serveCommand(),
		c.migrateCommand(),
		c.configCommand(),
		c.promptsCommand(),
		c.simCommand(),
		c.doctorCommand(),
		c.backupCommand(),
		c.restoreCommand(),
	)
	c.addDomainCommands(root)
	return root
}

// setup loads the configuration for cmd and builds the logger every command uses. It is
// called by each command rather than in a pre-run hook so that `--help` works even with
// a broken configuration.
func (c *cli) setup(cmd *cobra.Command) (config.Config, *slog.Logger, error) {
	src := config.Source{File: c.configFile, Environ: c.environ}
	for _, f := range globalFlags {
		if fl := cmd.Flags().Lookup(f.name); fl != nil && fl.Changed {
			src.Flags = append(src.Flags, config.Setting{Path: f.key, Value: fl.Value.String(), Origin: "--" + f.name})
		}
	}
	cfg, err := config.Load(src)
	if err != nil {
		return config.Config{}, nil, err
	}
	log := newLogger(c.stderr, cfg.Log)
	for _, name := range config.UnknownEnv(c.environ) {
		log.Warn("ignoring an environment variable that names no configuration key", "name", name)
	}
	return cfg, log, nil
}

// newLogger is the one place log/slog is configured. Logs go to stderr, never stdout.
func newLogger(w io.Writer, c config.Log) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.Level, ReplaceAttr: redactAttr}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// usageError is a mistake in the command line rather than a failure of the work.
type usageError struct {
	err error
	cmd string // command path for the hint, e.g. "rexian users add"
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// usageArgs marks the errors of an argument check as usage errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &usageError{err: err, cmd: cmd.CommandPath()}
		}
		return nil
	}
}

// requireFlags reports the first of names not given on the command line.
func requireFlags(cmd *cobra.Command, names ...string) error {
	for _, name := range names {
		if !cmd.Flags().Changed(name) {
			return &usageError{err: fmt.Errorf("--%s is required", name), cmd: cmd.CommandPath()}
		}
	}
	return nil
}

// report prints err as one line on stderr and returns the exit code.
func (c *cli) report(err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, pflag.ErrHelp) {
		return exitOK
	}
	// Joined errors (every bad configuration key) become one line.
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
	var ue *usageError
	if errors.As(err, &ue) {
		hint := "rexian --help"
		if ue.cmd != "" {
			hint = ue.cmd + " --help"
		}
		fmt.Fprintf(c.stderr, "rexian: %s (see '%s')\n", msg, hint)
		return exitUsage
	}
	fmt.Fprintf(c.stderr, "rexian: %s\n", msg)
	return exitFailure
}
