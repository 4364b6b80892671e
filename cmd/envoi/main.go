// Command envoi is the Envoi newsletter server: web, worker, migrations and admin
// commands in one binary. main handles signals and exit codes only.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/envoi/envoi/internal/config"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `envoi: a GDPR-first newsletter server.

Usage:
  envoi serve                      web server and job worker in one process (migrates first)
  envoi web                        web server only
  envoi worker                     job worker only (run as many as you like)
  envoi migrate                    apply database migrations
  envoi apikey create --name NAME [--scope read|full]
                                   print a new API key once, on the last line
  envoi apikey list                list the keys (never the keys themselves)
  envoi apikey revoke ID           revoke a key at once
  envoi list create --slug SLUG --name NAME [--description TEXT] [--proof-of-work]
  envoi user create --email E --role owner|editor|viewer [--if-not-exists]
                                   an admin account; the password from stdin (prompted on a terminal)
  envoi user list                  the admin accounts
  envoi user set-password E        a new password from stdin; the account's sessions end
  envoi user remove E              delete an account; its sessions end
  envoi campaign send ID [--at RFC3339 | --now] [--no-wait]
                                   start (or schedule) a campaign and show its progress
  envoi campaign watch ID          show a campaign's progress without changing anything
  envoi import --list SLUG [--consent-text-file F] FILE
                                   import subscribers from CSV (- for stdin); --resume ID goes on
  envoi consent verify             walk the consent log's hash chain; name the first event altered,
                                   removed or inserted (exit 1)
  envoi retention [--dry-run]      run the retention rules now (workers also run them every
                                   ENVOI_RETENTION_INTERVAL), or print what each would do
  envoi hash-key                   print ENVOI_HASH_KEY to set before rotating ENVOI_SECRET_KEY
  envoi inbound [--addr HOST:PORT] run the inbound SMTP listener alone (bounces, complaints, unsubscribe mail)
  envoi doctor --domain D [--inbound D] [--json]
                                   check D's SPF, DKIM, DMARC and MX records and say what to fix
                                   (exit 1 if a check fails)
  envoi mailcatcher [--smtp ADDR] [--http ADDR]
                                   local SMTP server that keeps mail for viewing (development)
  envoi config                     print the effective configuration, secrets masked
  envoi version

Configuration comes from ENVOI_* environment variables: see README.md.
`

func main() {
	// Envoi's live heap is small and flat (a batch of ids, a few templates), so
	// collecting at 5x it instead of 2x trades ~20 MB for ~15% less CPU per
	// message (bench/README.md). GOGC still overrides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run executes one command and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	return runIO(ctx, args, os.Stdin, stdout, stderr, getenv)
}

// runIO is run with the standard input given (envoi user reads passwords there).
func runIO(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, "envoi", version)
		return 0
	case "mailcatcher":
		return runMailcatcher(ctx, rest, stdout, stderr)
	}

	cfg, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "envoi: configuration errors:")
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(stderr, "  "+line)
		}
		return 1
	}
	log := newLogger(cfg)
	slog.SetDefault(log)
	a := &App{Config: cfg, Log: log}

	switch cmd {
	case "config":
		for _, l := range cfg.Masked(getenv) {
			fmt.Fprintln(stdout, l)
		}
		return 0
	case "serve", "web", "worker":
		return serve(ctx, a, cmd, stderr)
	case "migrate":
		return migrateCmd(ctx, a, stdout, stderr)
	case "apikey":
		return apikeyCmd(ctx, a, rest, stdout, stderr)
	case "list":
		return listCmd(ctx, a, rest, stdout, stderr)
	case "user":
		return userCmd(ctx, a, rest, stdin, stdout, stderr)
	case "campaign":
		return campaignCmd(ctx, a, rest, stdout, stderr)
	case "import":
		return importCmd(ctx, a, rest, stdin, stdout, stderr)
	case "consent":
		return consentCmd(ctx, a, rest, stdout, stderr)
	case "retention":
		return retentionCmd(ctx, a, rest, stdout, stderr)
	case "hash-key":
		return hashKeyCmd(a, stdout)
	case "inbound":
		return inboundCmd(ctx, a, rest, stdout, stderr)
	case "doctor":
		return doctorCmd(ctx, a, rest, stdout, stderr)
	}
	fmt.Fprintf(stderr, "envoi: unknown command %q\n\n%s", cmd, usage)
	return 2
}
