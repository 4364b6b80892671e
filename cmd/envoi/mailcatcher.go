package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/envoi/envoi/internal/mailcatcher"
)

// runMailcatcher: envoi mailcatcher [--smtp ADDR] [--http ADDR], a development
// SMTP server that keeps mail in memory and shows it on the web.
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
