package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/envoi/envoi/internal/pseudo"
)

const consentUsage = `usage: envoi consent verify`

// errChainBroken makes envoi consent verify exit 1 after it said why.
var errChainBroken = errors.New("the consent log's chain is broken")

// consentCmd: envoi consent verify walks the consent log's hash chain and
// names the first event that was altered, removed or inserted (exit 1).
func consentCmd(ctx context.Context, a *App, args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || args[0] != "verify" {
		fmt.Fprintln(stderr, consentUsage)
		return 2
	}
	return withApp(ctx, a, stderr, func(a *App) error {
		r, err := a.GDPR.VerifyConsent(ctx)
		if err != nil {
			return err
		}
		if r.Problem != "" {
			fmt.Fprintf(stdout, "consent log: BROKEN at seq %d: %s (%d events checked before it)\n", r.Seq, r.Problem, r.Events-1)
			return errChainBroken
		}
		fmt.Fprintf(stdout, "consent log: ok, %d events, head %s\n", r.Events, r.Head)
		return nil
	})
}

// hashKeyCmd: envoi hash-key prints the key of the keyed hashes in use, to
// set as ENVOI_HASH_KEY before rotating ENVOI_SECRET_KEY.
func hashKeyCmd(a *App, stdout io.Writer) int {
	k := pseudo.Derive(a.Config.SecretKey)
	if a.Config.HashKey != "" {
		fmt.Fprintln(stdout, "ENVOI_HASH_KEY is set: keep it as it is.")
		return 0
	}
	fmt.Fprintln(stdout, "ENVOI_HASH_KEY="+hex.EncodeToString(k.Bytes()))
	return 0
}

// retentionCmd: envoi retention [--dry-run] runs the retention pass now, or
// prints what each rule would do.
func retentionCmd(ctx context.Context, a *App, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("retention", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dry := fs.Bool("dry-run", false, "print what each rule would do now, change nothing")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: envoi retention [--dry-run]")
		return 2
	}
	return withApp(ctx, a, stderr, func(a *App) error {
		r, err := a.GDPR.RunRetention(ctx, a.Retention(), *dry)
		if err != nil {
			return err
		}
		r.Print(stdout)
		return nil
	})
}
