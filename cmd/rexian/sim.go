package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/rexian/rexian/ivr/sim"
)

func (c *cli) simCommand() *cobra.Command {
	var o sim.Options
	var operators int
	var answerAfter time.Duration
	var verbose bool
	cmd := &cobra.Command{
		Use:   "sim [--calls N] [--rate R] [--operators K]",
		Short: "Run scripted telephone load against the hotline controller and print the figures",
		Long: `Run scripted callers against the hotline controller with the built-in Asterisk
emulator, in this process, on a throw-away database with the demo city and the IVR
configuration (ivr.*): each caller dials the first line, waits for the menu, presses
--keys, waits for an operator, talks for --talk and hangs up. Operators' phones answer
after --answer-after.

It prints how many calls reached an operator, the time from dialling to an operator,
the time from an Asterisk event reaching the controller to the controller's answer
(p50/p90/p99), the heap per active call and the goroutines left afterwards.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Calls < 1 || o.Rate < 0 || operators < 0 {
				return &usageError{err: errors.New("--calls must be at least 1, --rate and --operators not negative"), cmd: cmd.CommandPath()}
			}
			cfg, log, err := c.setup(cmd)
			if err != nil {
				return err
			}
			settings := cfg.IVR
			for i := range settings.Lines {
				// The load measures the controller, not the trunk: every call gets a line.
				settings.Lines[i].Channels = max(settings.Lines[i].Channels, o.Calls)
			}
			for i := range settings.Queues {
				settings.Queues[i].AnnounceEvery = 0
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			simLog := slog.New(slog.DiscardHandler)
			if verbose {
				simLog = log
			}
			env, err := sim.NewEnv(ctx, sim.EnvOptions{Settings: settings, Operators: operators, AnswerAfter: answerAfter, Log: simLog})
			if err != nil {
				return err
			}
			defer env.Close()
			if o.Dialled == "" && len(settings.Lines) > 0 {
				o.Dialled = settings.Lines[0].Number
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d calls at %g/s to %s, %d operators answering after %s…\n", o.Calls, o.Rate, o.Dialled, operators, answerAfter)
			rep, err := sim.Run(ctx, env.Driver(), o, log)
			if err != nil {
				return err
			}
			rep.Reply = sim.Of(env.Replies.Take())
			rep.Print(cmd.OutOrStdout(), runtime.NumCPU())
			if rep.Failed > 0 {
				return fmt.Errorf("%d of %d calls failed", rep.Failed, rep.Calls)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Calls, "calls", 100, "how many calls")
	f.Float64Var(&o.Rate, "rate", 20, "new calls per second (0: all at once)")
	f.IntVar(&operators, "operators", 20, "operators logged in")
	f.DurationVar(&answerAfter, "answer-after", 200*time.Millisecond, "how long an operator's phone rings before it is answered")
	f.StringVar(&o.Keys, "keys", "1", "keys each caller presses at the menu")
	f.DurationVar(&o.Talk, "talk", 2*time.Second, "how long a caller talks to the operator")
	f.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "longest a single call may take")
	f.BoolVar(&o.HoldAll, "hold-all", false, "keep every call up until all reached an operator (measures memory with all calls active)")
	f.BoolVar(&verbose, "verbose", false, "log the controller's own messages")
	return cmd
}
