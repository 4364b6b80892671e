package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// apikeyCmd: envoi apikey create --name NAME
func apikeyCmd(ctx context.Context, a *App, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: envoi apikey create --name NAME")
		return 2
	}
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "what the key is for (required)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if strings.TrimSpace(*name) == "" {
		fmt.Fprintln(stderr, "envoi: --name is required, like: envoi apikey create --name website")
		return 2
	}
	return withApp(ctx, a, stderr, func(a *App) error {
		key, _, err := a.Auth.CreateAPIKey(ctx, *name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "API key %q created. It is shown once; store it now:\n%s\n", strings.TrimSpace(*name), key)
		return nil
	})
}
