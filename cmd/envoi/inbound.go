package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// inboundCmd runs the inbound SMTP listener alone (envoi inbound [--addr ADDR]):
// bounces, complaint reports and unsubscribe mail for ENVOI_INBOUND_DOMAIN.
func inboundCmd(ctx context.Context, a *App, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inbound", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "address to listen on (default ENVOI_INBOUND_ADDR, else :25)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: envoi inbound [--addr HOST:PORT]")
		return 2
	}
	if a.Config.InboundDomain == "" {
		fmt.Fprintln(stderr, "envoi: set ENVOI_INBOUND_DOMAIN, the domain whose MX points at this listener")
		return 2
	}
	if *addr == "" {
		*addr = a.Config.InboundAddr
	}
	if *addr == "" {
		*addr = ":25"
	}
	return withApp(ctx, a, stderr, func(a *App) error {
		if err := a.StartInbound(*addr); err != nil {
			return err
		}
		a.Log.Info("inbound SMTP listening", slog.String("addr", a.Inbound.Addr), slog.String("domain", a.Config.InboundDomain))
		fmt.Fprintf(stdout, "inbound SMTP listening on %s for %s\n", a.Inbound.Addr, a.Config.InboundDomain)
		<-ctx.Done()
		return nil
	}, OpenOptions{MaxConns: 4})
}
