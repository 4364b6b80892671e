package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/envoi/envoi/internal/campaign"
	"github.com/envoi/envoi/internal/config"
)

// serve runs the web server, the worker or both (serve migrates first) until ctx ends.
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
	if strings.TrimSpace(a.Config.PostalAddress) == "" {
		a.Log.Warn(campaign.NoPostalAddress)
	}
	if err := a.Open(ctx, OpenOptions{Migrate: role == "serve"}); err != nil {
		fmt.Fprintln(stderr, "envoi:", err)
		a.Close()
		return 1
	}
	if err := a.StartMetrics(); err != nil {
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
		if addr := a.Config.InboundAddr; addr != "" {
			if err := a.StartInbound(addr); err != nil {
				fmt.Fprintln(stderr, "envoi:", err)
				a.Close()
				return 1
			}
			a.Log.Info("inbound SMTP listening", slog.String("addr", a.Inbound.Addr), slog.String("domain", a.Config.InboundDomain))
		}
	}
	<-ctx.Done()
	a.Log.Info("shutting down")
	a.Close()
	a.Log.Info("stopped")
	return 0
}

func newLogger(c config.Config) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
