package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/envoi/envoi/internal/campaign"
	"github.com/envoi/envoi/internal/config"
	"github.com/envoi/envoi/internal/jobs"
	"github.com/envoi/envoi/internal/mail"
	"github.com/envoi/envoi/internal/queue"
	"github.com/envoi/envoi/internal/send"
	"github.com/envoi/envoi/internal/store"
	"github.com/envoi/envoi/internal/subscribe"
	"github.com/envoi/envoi/internal/token"
	"github.com/envoi/envoi/internal/web"
	"github.com/envoi/envoi/templates"
)

// App wires Envoi's parts. Open connects and builds; StartWeb and StartWorker
// run the roles; Close stops everything in reverse order. Tests use it as is.
type App struct {
	Config config.Config
	Log    *slog.Logger
	Now    func() time.Time

	Store     *store.Store
	RedisOpt  asynq.RedisConnOpt
	Redis     *redis.Client
	Queue     *queue.Client
	Tokens    *token.Signer
	Subscribe *subscribe.Service
	Mail      *mail.Builder
	SMTP      *send.Pool
	Worker    *jobs.Worker
	Campaigns *campaign.Service

	HTTP     *http.Server
	Listener net.Listener

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// OpenOptions say what Open does about the schema.
type OpenOptions struct {
	Migrate bool // apply pending migrations (serve); otherwise refuse an old schema
}

// Open connects to PostgreSQL and Redis and builds the services.
func (a *App) Open(ctx context.Context, o OpenOptions) error {
	c := a.Config
	if a.Now == nil {
		a.Now = time.Now
	}
	if a.Log == nil {
		a.Log = slog.Default()
	}
	st, err := store.Open(ctx, c.DatabaseURL, c.DatabaseMaxConns)
	if err != nil {
		return fmt.Errorf("PostgreSQL (ENVOI_DATABASE_URL): %w", err)
	}
	st.Now = a.Now
	a.Store = st
	if o.Migrate {
		if _, err := store.Migrate(ctx, st.DB.DB); err != nil {
			return err
		}
	} else if err := store.SchemaUpToDate(ctx, st.DB.DB); err != nil {
		return err
	}

	if err := st.Prepare(ctx); err != nil {
		return err
	}
	if a.RedisOpt, err = queue.RedisOpt(c.RedisURL); err != nil {
		return fmt.Errorf("ENVOI_REDIS_URL: %w", err)
	}
	ropt, err := redis.ParseURL(c.RedisURL)
	if err != nil {
		return fmt.Errorf("ENVOI_REDIS_URL: %w", err)
	}
	a.Redis = redis.NewClient(ropt)
	a.Queue = queue.NewClient(a.RedisOpt, c.Queue)

	a.Tokens = token.NewSigner(c.SecretKey, c.OldSecretKeys...)
	a.Tokens.Now = a.Now
	a.Subscribe = &subscribe.Service{Store: st, Tokens: a.Tokens, Queue: a.Queue, BaseURL: c.BaseURL,
		Org: c.Organization, ConfirmTTL: c.ConfirmTTL, Log: a.Log}
	host := "localhost"
	if u, err := url.Parse(c.BaseURL); err == nil {
		host = u.Hostname()
	}
	a.Mail, err = mail.NewBuilder(templates.FS, mail.Builder{FromName: c.FromName, FromAddress: c.FromAddress,
		Org: c.Organization, PostalAddress: c.PostalAddress, PrivacyContact: c.PrivacyContact, BaseHost: host, Now: a.Now})
	if err != nil {
		return err
	}
	a.SMTP = send.NewPool(c.SMTP, c.SMTPPoolSize)
	a.SMTP.HeloName = host
	if c.DKIMDomain != "" {
		if a.SMTP.Signer, err = send.NewSigner(c.DKIMDomain, c.DKIMSelector, c.DKIMKeyFile); err != nil {
			return fmt.Errorf("ENVOI_DKIM_KEY_FILE: %w", err)
		}
	}
	a.Campaigns = &campaign.Service{Store: st, Queue: a.Queue, SMTP: a.SMTP, Mail: a.Mail, Templates: templates.FS,
		Limiter:     &send.RateLimiter{Redis: a.Redis, Key: c.Queue + ":send-rate", Rate: c.SendRate},
		DefaultFrom: c.From, Org: c.Organization, PostalAddress: c.PostalAddress,
		UnsubscribeURL: a.Subscribe.UnsubscribeURL, TestUnsubscribeURL: c.BaseURL + "/unsubscribe/test",
		TestAddresses: c.TestAddresses, Log: a.Log}
	return nil
}

// StartWeb listens on ENVOI_LISTEN_ADDR and serves in the background.
func (a *App) StartWeb() error {
	srv := &web.Server{Store: a.Store, Subscribe: a.Subscribe, Campaigns: a.Campaigns, Log: a.Log, Org: a.Config.Organization,
		PrivacyContact: a.Config.PrivacyContact, PostalAddress: a.Config.PostalAddress,
		Checks: map[string]func(context.Context) error{
			"postgres": a.Store.Ping,
			"redis":    func(ctx context.Context) error { return a.Redis.Ping(ctx).Err() },
		}}
	h, err := srv.Handler()
	if err != nil {
		return err
	}
	if a.Listener == nil { // tests may hand in a listener they opened
		ln, err := net.Listen("tcp", a.Config.ListenAddr)
		if err != nil {
			return fmt.Errorf("ENVOI_LISTEN_ADDR: %w", err)
		}
		a.Listener = ln
	}
	ln := a.Listener
	a.HTTP = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.HTTP.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.Log.Error("http server stopped", slog.Any("error", err))
		}
	}()
	return nil
}

// URL is the address the web server actually listens on.
func (a *App) URL() string { return "http://" + a.Listener.Addr().String() }

// StartWorker runs the job worker and the ledger sweeper in the background.
func (a *App) StartWorker() error {
	a.Worker = &jobs.Worker{Store: a.Store, Subscribe: a.Subscribe, Mail: a.Mail, SMTP: a.SMTP, Queue: a.Queue, Campaigns: a.Campaigns,
		Log: a.Log, Concurrency: a.Config.WorkerConcurrency}
	if err := a.Worker.Start(a.RedisOpt); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.Worker.Sweep(ctx)
	}()
	return nil
}

// Close stops the web server (finishing requests), the worker (finishing or
// handing back jobs), then closes connections.
func (a *App) Close() error {
	if a.HTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		a.HTTP.Shutdown(ctx)
		cancel()
	}
	if a.cancel != nil {
		a.cancel()
	}
	if a.Worker != nil {
		a.Worker.Shutdown()
	}
	a.wg.Wait()
	if a.SMTP != nil {
		a.SMTP.Close()
	}
	if a.Queue != nil {
		a.Queue.Close()
	}
	if a.Redis != nil {
		a.Redis.Close()
	}
	if a.Store != nil {
		a.Store.Close()
	}
	return nil
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
