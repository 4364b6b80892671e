package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/lists"
)

// listCmd: envoi list create --slug SLUG --name NAME [--description TEXT] [--proof-of-work] [--if-not-exists]
func listCmd(ctx context.Context, a *App, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: envoi list create --slug SLUG --name NAME [--description TEXT] [--proof-of-work]")
		return 2
	}
	fs := flag.NewFlagSet("list create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	slug := fs.String("slug", "", "short name used in URLs, like newsletter (required)")
	name := fs.String("name", "", "name shown to subscribers (required)")
	desc := fs.String("description", "", "one or two sentences shown on the signup form")
	pow := fs.Bool("proof-of-work", false, "the signup form asks the browser for a proof-of-work answer (needs JavaScript)")
	existOK := fs.Bool("if-not-exists", false, "succeed quietly when the slug is taken")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	return withApp(ctx, a, stderr, func(a *App) error {
		l, err := a.Lists.Create(ctx, lists.New{Slug: *slug, Name: *name, Description: *desc, ProofOfWork: *pow})
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
