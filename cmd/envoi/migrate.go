package main

import (
	"context"
	"fmt"
	"io"
)

// migrateCmd: envoi migrate applies the embedded migrations (idempotent).
func migrateCmd(ctx context.Context, a *App, stdout, stderr io.Writer) int {
	return withApp(ctx, a, stderr, func(a *App) error {
		fmt.Fprintf(stdout, "migrations applied: %d; schema up to date\n", a.Migrated)
		return nil
	}, OpenOptions{Migrate: true})
}
