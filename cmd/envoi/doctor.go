package main

import (
	"context"
	"crypto"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/envoi/envoi/internal/doctor"
)

const doctorUsage = `usage: envoi doctor --domain DOMAIN [--inbound DOMAIN] [--json]`

// doctorCmd: envoi doctor --domain DOMAIN checks the domain's SPF, DKIM, DMARC
// and MX records against the configuration (the SMTP relay, the DKIM key, the
// From address) and says what to fix. Exit 1 when a check fails. It opens no
// database: only DNS, through ENVOI_DNS_RESOLVER.
func doctorCmd(ctx context.Context, a *App, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	domain := fs.String("domain", "", "the domain whose mail is checked, normally ENVOI_FROM's (required)")
	inbound := fs.String("inbound", a.Config.InboundDomain, "the inbound (VERP envelope sender) domain; defaults to ENVOI_INBOUND_DOMAIN")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 || strings.TrimSpace(*domain) == "" {
		fmt.Fprintln(stderr, doctorUsage)
		return 2
	}
	for _, d := range []struct{ flag, v string }{{"--domain", *domain}, {"--inbound", *inbound}} {
		if v := strings.TrimSuffix(strings.TrimSpace(d.v), "."); d.v != "" && (!strings.Contains(v, ".") || strings.ContainsAny(v, "@/: ")) {
			fmt.Fprintf(stderr, "envoi doctor: %s %q is not a domain name like example.org\n%s\n", d.flag, d.v, doctorUsage)
			return 2
		}
	}
	c := a.Config
	resolver := c.DNSResolver
	if resolver == "" {
		var err error
		if resolver, err = doctor.DefaultResolver(); err != nil {
			fmt.Fprintf(stderr, "envoi doctor: no DNS server to ask (%v): set ENVOI_DNS_RESOLVER\n", err)
			return 1
		}
	}
	var pub crypto.PublicKey
	if c.DKIMKeyFile != "" {
		var err error
		if pub, err = doctor.PublicKeyFromFile(c.DKIMKeyFile); err != nil {
			fmt.Fprintf(stderr, "envoi doctor: ENVOI_DKIM_KEY_FILE: %v\n", err)
			return 1
		}
	}
	_, fromDomain, _ := strings.Cut(c.FromAddress, "@")
	rep := doctor.Check(ctx, doctor.Input{
		Domain:        *domain,
		FromDomain:    fromDomain,
		InboundDomain: *inbound,
		RelayHost:     c.SMTP.Host,
		DKIMDomain:    c.DKIMDomain,
		DKIMSelector:  c.DKIMSelector,
		DKIMPublicKey: pub,
		Resolver:      resolver,
	})
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "envoi doctor:", err)
			return 1
		}
	} else {
		rep.WriteText(stdout, false)
	}
	if rep.Failed() {
		return 1
	}
	return 0
}
