package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/envoi/envoi/internal/apperr"
)

// withApp opens the App for a CLI command (two database connections), runs fn
// and closes it. Errors a person can act on are printed as their message.
func withApp(ctx context.Context, a *App, stderr io.Writer, fn func(*App) error, opts ...OpenOptions) int {
	o := OpenOptions{MaxConns: 2}
	for _, x := range opts {
		o.Migrate = x.Migrate
		if x.MaxConns > 0 {
			o.MaxConns = x.MaxConns
		}
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

// parseID reads a positive id from a command's argument, saying what it
// should be when it is not one.
func parseID(arg, what string, stderr io.Writer) (int64, bool) {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		fmt.Fprintf(stderr, "envoi: %q is not %s\n", arg, what)
		return 0, false
	}
	return id, true
}
