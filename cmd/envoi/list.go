package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/envoi/envoi/internal/apperr"
)

// listCmd: envoi list create --slug SLUG --name NAME [--description TEXT] [--if-not-exists]
func listCmd(ctx context.Context, a *App, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: envoi list create --slug SLUG --name NAME [--description TEXT]")
		return 2
	}
	fs := flag.NewFlagSet("list create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("slug", "", "short name used in URLs, like newsletter (required)")
	name := fs.String("name", "", "name shown to subscribers (required)")
	desc := fs.String("description", "", "one or two sentences shown on the signup form")
	existOK := fs.Bool("if-not-exists", false, "succeed quietly when the slug is taken")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	return withApp(ctx, a, stderr, func(a *App) error {
		l, err := a.Lists.Create(ctx, *slug, *name, *desc)
		if *existOK && apperr.ErrorCode(err) == apperr.Conflict {
			fmt.Fprintf(stdout, "list %q already exists\n", *slug)
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "list %q created (double opt-in); signup form: %s/subscribe/%s\n", l.Slug, a.Config.BaseURL, l.Slug)
		return nil
	})
}
