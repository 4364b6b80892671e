// Command envoi is the Envoi newsletter server: web, worker, migrations and admin
// commands in one binary. main handles signals and exit codes only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/envoi/envoi/internal/apperr"
	"github.com/envoi/envoi/internal/auth"
	"github.com/envoi/envoi/internal/config"
	"github.com/envoi/envoi/internal/lists"
	"github.com/envoi/envoi/internal/mailcatcher"
	"github.com/envoi/envoi/internal/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `envoi: a GDPR-first newsletter server.

Usage:
  envoi serve                      web server and job worker in one process (migrates first)
  envoi web                        web server only
  envoi worker                     job worker only (run as many as you like)
  envoi migrate                    apply database migrations
  envoi apikey create --name NAME  print a new API key once, on the last line
  envoi list create --slug SLUG --name NAME [--description TEXT]
  envoi campaign send ID [--at RFC3339] [--no-wait]
                                   start (or schedule) a campaign and show its progress
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
		return withStore(ctx, cfg, stderr, func(st *store.Store) error {
			n, err := store.Migrate(ctx, st.DB.DB)
			if err == nil {
				fmt.Fprintf(stdout, "migrations applied: %d; schema up to date\n", n)
			}
			return err
		})
	case "apikey":
		return apikeyCmd(ctx, cfg, rest, stdout, stderr)
	case "list":
		return listCmd(ctx, cfg, rest, stdout, stderr)
	case "campaign":
		return campaignCmd(ctx, cfg, rest, stdout, stderr)
	}
	fmt.Fprintf(stderr, "envoi: unknown command %q\n\n%s", cmd, usage)
	return 2
}

func serve(ctx context.Context, a *App, role string, stderr io.Writer) int {
	if addr := a.Config.DebugAddr; addr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		go func() {
			srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
			a.Log.Info("debug server listening", slog.String("addr", addr))
			if err := srv.ListenAndServe(); err != nil {
				a.Log.Error("debug server", slog.Any("error", err))
			}
		}()
	}
	if err := a.Open(ctx, OpenOptions{Migrate: role == "serve"}); err != nil {
		fmt.Fprintln(stderr, "envoi:", err)
		a.Close()
		return 1
	}
	if role != "worker" {
		if err := a.StartWeb(); err != nil {
			fmt.Fprintln(stderr, "envoi:", err)
			a.Close()
			return 1
		}
		a.Log.Info("web server listening", slog.String("addr", a.Listener.Addr().String()), slog.String("base_url", a.Config.BaseURL))
	}
	if role != "web" {
		if err := a.StartWorker(); err != nil {
			fmt.Fprintln(stderr, "envoi:", err)
			a.Close()
			return 1
		}
		a.Log.Info("worker started", slog.String("queue", a.Config.Queue), slog.Int("concurrency", a.Config.WorkerConcurrency))
	}
	<-ctx.Done()
	a.Log.Info("shutting down")
	a.Close()
	a.Log.Info("stopped")
	return 0
}

func withStore(ctx context.Context, cfg config.Config, stderr io.Writer, fn func(*store.Store) error) int {
	st, err := store.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		fmt.Fprintln(stderr, "envoi: PostgreSQL (ENVOI_DATABASE_URL):", err)
		return 1
	}
	defer st.Close()
	if err := fn(st); err != nil {
		if e, ok := apperr.As(err); ok {
			fmt.Fprintln(stderr, "envoi:", e.Message)
		} else {
			fmt.Fprintln(stderr, "envoi:", err)
		}
		return 1
	}
	return 0
}

func apikeyCmd(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) int {
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
	return withStore(ctx, cfg, stderr, func(st *store.Store) error {
		if err := store.SchemaUpToDate(ctx, st.DB.DB); err != nil {
			return err
		}
		key, prefix, hash := auth.NewAPIKey()
		if _, err := st.CreateAPIKey(ctx, strings.TrimSpace(*name), hash, prefix); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "API key %q created. It is shown once; store it now:\n%s\n", *name, key)
		return nil
	})
}

func listCmd(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) int {
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
	return withStore(ctx, cfg, stderr, func(st *store.Store) error {
		if err := store.SchemaUpToDate(ctx, st.DB.DB); err != nil {
			return err
		}
		l, err := lists.Create(ctx, st, *slug, *name, *desc)
		if *existOK && apperr.ErrorCode(err) == apperr.Conflict {
			fmt.Fprintf(stdout, "list %q already exists\n", *slug)
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "list %q created (double opt-in); signup form: %s/subscribe/%s\n", l.Slug, cfg.BaseURL, l.Slug)
		return nil
	})
}

func runMailcatcher(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mailcatcher", flag.ContinueOnError)
	fs.SetOutput(stderr)
	smtpAddr := fs.String("smtp", "127.0.0.1:1025", "SMTP listen address")
	httpAddr := fs.String("http", "127.0.0.1:8025", "web view listen address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c := mailcatcher.New(0)
	if err := c.Listen(*smtpAddr); err != nil {
		fmt.Fprintln(stderr, "envoi:", err)
		return 1
	}
	hs := &http.Server{Addr: *httpAddr, Handler: c.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- c.Serve() }()
	go func() { errc <- hs.ListenAndServe() }()
	fmt.Fprintf(stdout, "mail catcher: SMTP on %s, messages at http://%s/\n", c.Addr, *httpAddr)
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(stderr, "envoi:", err)
			c.Close()
			return 1
		}
	}
	hs.Close()
	c.Close()
	return 0
}
