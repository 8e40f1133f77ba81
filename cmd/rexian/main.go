// Command rexian is the one binary of the Rexian citizen-hotline platform, and its
// composition root: it turns flags, the environment and an optional YAML file into one
// config.Config, configures log/slog once, and wires the domain packages into an App
// (database, live store, HTTP API, background workers) that `serve` runs and that the
// end-to-end tests reuse.
//
// Exit codes: 0 success, 1 failure, 2 usage error. Errors go to stderr as one line;
// stdout carries only what a command is asked to print, so that scripts can capture it
// (`TOKEN=$(rexian tokens create …)`).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}
