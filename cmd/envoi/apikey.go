package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

const apikeyUsage = `usage: envoi apikey create --name NAME [--scope read|full]
       envoi apikey list
       envoi apikey revoke ID`

// apikeyCmd: envoi apikey create --name NAME [--scope read|full], list, revoke ID
func apikeyCmd(ctx context.Context, a *App, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, apikeyUsage)
		return 2
	}
	switch args[0] {
	case "list":
		return withApp(ctx, a, stderr, func(a *App) error {
			ks, err := a.Auth.APIKeys(ctx)
			if err != nil {
				return err
			}
			for _, k := range ks {
				used, state := "never used", "active"
				if k.LastUsedAt != nil {
					used = "last used " + k.LastUsedAt.Format(time.RFC3339)
				}
				if k.RevokedAt != nil {
					state = "revoked " + k.RevokedAt.Format(time.RFC3339)
				}
				fmt.Fprintf(stdout, "%d\t%s…\t%s\t%q\tcreated %s\t%s\t%s\n", k.ID, k.Prefix, k.Scope, k.Name, k.CreatedAt.Format(time.RFC3339), used, state)
			}
			if len(ks) == 0 {
				fmt.Fprintln(stdout, "no API keys; create one with: envoi apikey create --name NAME")
			}
			return nil
		})
	case "revoke":
		if len(args) != 2 {
			fmt.Fprintln(stderr, apikeyUsage)
			return 2
		}
		id, ok := parseID(args[1], "an API key id (see envoi apikey list)", stderr)
		if !ok {
			return 2
		}
		return withApp(ctx, a, stderr, func(a *App) error {
			k, err := a.Auth.RevokeAPIKey(ctx, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "API key %d (%q) revoked\n", k.ID, k.Name)
			return nil
		})
	case "create":
	default:
		fmt.Fprintln(stderr, apikeyUsage)
		return 2
	}
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "what the key is for (required)")
	scope := fs.String("scope", "full", "read (GET only) or full")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if strings.TrimSpace(*name) == "" {
		fmt.Fprintln(stderr, "envoi: --name is required, like: envoi apikey create --name website")
		return 2
	}
	return withApp(ctx, a, stderr, func(a *App) error {
		key, _, err := a.Auth.CreateAPIKey(ctx, *name, *scope)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "API key %q created. It is shown once; store it now:\n%s\n", strings.TrimSpace(*name), key)
		return nil
	})
}
