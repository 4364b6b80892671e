package main

import (
	"context"
	"fmt"
	"io"

	"github.com/envoi/envoi/internal/apperr"
)

// migrateCmd: envoi migrate applies the embedded migrations (idempotent).
func migrateCmd(ctx context.Context, a *App, stdout, stderr io.Writer) int {
	return withApp(ctx, a, stderr, func(a *App) error {
		fmt.Fprintf(stdout, "migrations applied: %d; schema up to date\n", a.Migrated)
		return nil
	}, OpenOptions{Migrate: true})
}

// withApp opens the App for a CLI command (two database connections), runs fn
// and closes it. Errors a person can act on are printed as their message.
func withApp(ctx context.Context, a *App, stderr io.Writer, fn func(*App) error, opts ...OpenOptions) int {
	o := OpenOptions{MaxConns: 2}
	for _, x := range opts {
		o.Migrate = x.Migrate
	}
	defer a.Close()
	if err := a.Open(ctx, o); err != nil {
		fmt.Fprintln(stderr, "envoi:", err)
		return 1
	}
	if err := fn(a); err != nil {
		if e, ok := apperr.As(err); ok {
			fmt.Fprintln(stderr, "envoi:", e.Message)
		} else {
			fmt.Fprintln(stderr, "envoi:", err)
		}
		return 1
	}
	return 0
}
