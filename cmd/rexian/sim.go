package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rexian/rexian/ivr/aritest"
	"github.com/rexian/rexian/ivr/sim"
)

func (c *cli) simCommand() *cobra.Command {
	var o sim.Options
	var operators int
	var answerAfter time.Duration
	var verbose bool
	var listen, phones string
	var delay time.Duration
	var ast sim.AsteriskOptions
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
(p50/p90/p99), the heap per active call and the goroutines left afterwards.

With --listen ADDR it starts only the emulator, on ADDR, and waits for a controller
started separately (rexian serve with REXIAN_ARI_URL=http://ADDR, REXIAN_ARI_USER and
REXIAN_ARI_PASSWORD hotline); the phones named by --phones answer after --answer-after,
so log operators in with those phones (POST /api/v1/ivr/agents/me/login).

With --ari URL it drives a real Asterisk instead: each citizen is a Local channel
originated into the hotline's dialplan (--endpoint, default Local/{n}@hotline-in) whose
caller side runs a scripted context (--context, --extension: keys, waits, hang-up; see
deploy/asterisk). It prints originate latency and call durations; what the controller
did is in its call records (GET /api/v1/ivr/stats).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Calls < 1 || o.Rate < 0 || operators < 0 {
				return &usageError{err: errors.New("--calls must be at least 1, --rate and --operators not negative"), cmd: cmd.CommandPath()}
			}
			cfg, log, err := c.setup(cmd)
			if err != nil {
				return err
			}
			if ast.URL != "" {
				return runSimAsterisk(cmd, ast, o)
			}
			if listen != "" {
				return runSimListen(cmd, listen, phones, answerAfter, delay, o, cfg.IVR.Lines[0].Number)
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
	f.StringVar(&listen, "listen", "", "start only the emulator on this address and drive a controller started separately")
	f.DurationVar(&delay, "delay", 0, "with --listen: wait this long after the controller connects before the first call (log operators in meanwhile)")
	f.StringVar(&phones, "phones", "PJSIP/8001,PJSIP/8002,PJSIP/8003,PJSIP/8004", "with --listen: operators' phones that answer")
	f.StringVar(&ast.URL, "ari", "", "drive a real Asterisk at this ARI URL instead of the emulator")
	f.StringVar(&ast.User, "ari-user", "hotline", "with --ari: ARI user")
	f.StringVar(&ast.Password, "ari-password", "", "with --ari: ARI password")
	f.StringVar(&ast.Endpoint, "endpoint", "Local/{n}@hotline-in", "with --ari: a citizen's dial string, {n} the caller number")
	f.StringVar(&ast.Context, "context", "sim-caller", "with --ari: dialplan context of the scripted caller")
	f.StringVar(&ast.Extension, "extension", "s", "with --ari: extension of the scripted caller")
	return cmd
}

// runSimListen starts the emulator on addr and drives a controller running elsewhere.
func runSimListen(cmd *cobra.Command, addr, phones string, answerAfter, delay time.Duration, o sim.Options, dialled string) error {
	srv, err := aritest.New(aritest.Options{Addr: addr})
	if err != nil {
		return fmt.Errorf("emulator on %s: %w", addr, err)
	}
	defer srv.Close()
	for _, p := range strings.Split(phones, ",") {
		if p = strings.TrimSpace(p); p != "" {
			srv.SetPhone(p, aritest.Phone{AnswerAfter: answerAfter})
		}
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "emulated Asterisk at %s (user hotline, password hotline); waiting for a controller…\n", srv.URL())
	if err := srv.WaitConnected(cmd.Context()); err != nil {
		return err
	}
	if o.Dialled == "" {
		o.Dialled = dialled
	}
	if delay > 0 {
		// Time to log operators in with the scripted phones before the first call.
		fmt.Fprintf(out, "controller connected; first call in %s\n", delay)
		select {
		case <-time.After(delay):
		case <-cmd.Context().Done():
			return cmd.Context().Err()
		}
	}
	fmt.Fprintf(out, "controller connected; %d calls at %g/s to %s\n", o.Calls, o.Rate, o.Dialled)
	rep, err := sim.Run(cmd.Context(), sim.Driver{Server: srv}, o, nil)
	if err != nil {
		return err
	}
	rep.Print(out, runtime.NumCPU())
	if rep.Failed > 0 {
		return fmt.Errorf("%d of %d calls failed", rep.Failed, rep.Calls)
	}
	return nil
}

// runSimAsterisk drives a real Asterisk.
func runSimAsterisk(cmd *cobra.Command, o sim.AsteriskOptions, so sim.Options) error {
	o.Calls, o.Rate, o.Timeout = so.Calls, so.Rate, so.Timeout
	rep, err := sim.RunAsterisk(cmd.Context(), o)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "calls %d  placed %d  failed %d\n", rep.Calls, rep.Placed, rep.Failed)
	fmt.Fprintf(out, "originate:     %s\n", rep.Originate)
	fmt.Fprintf(out, "call duration: %s\n", rep.Duration)
	for _, e := range rep.Errors {
		fmt.Fprintf(out, "error: %s\n", e)
	}
	if rep.Failed > 0 {
		return fmt.Errorf("%d of %d calls failed", rep.Failed, rep.Calls)
	}
	return nil
}
