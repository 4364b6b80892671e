package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/v2"
	"github.com/gin-gonic/gin"
	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"

	"github.com/envoi/envoi/internal/auth"
	"github.com/envoi/envoi/internal/bounce"
	"github.com/envoi/envoi/internal/campaign"
	"github.com/envoi/envoi/internal/config"
	"github.com/envoi/envoi/internal/delivery"
	"github.com/envoi/envoi/internal/feedback"
	"github.com/envoi/envoi/internal/gdpr"
	"github.com/envoi/envoi/internal/imports"
	"github.com/envoi/envoi/internal/inbound"
	"github.com/envoi/envoi/internal/jobs"
	"github.com/envoi/envoi/internal/limits"
	"github.com/envoi/envoi/internal/lists"
	"github.com/envoi/envoi/internal/locale"
	"github.com/envoi/envoi/internal/mail"
	"github.com/envoi/envoi/internal/metrics"
	"github.com/envoi/envoi/internal/pow"
	"github.com/envoi/envoi/internal/pseudo"
	"github.com/envoi/envoi/internal/queue"
	"github.com/envoi/envoi/internal/send"
	"github.com/envoi/envoi/internal/store"
	"github.com/envoi/envoi/internal/subscribe"
	"github.com/envoi/envoi/internal/token"
	"github.com/envoi/envoi/internal/tracking"
	"github.com/envoi/envoi/internal/web"
	"github.com/envoi/envoi/internal/web/admin"
	"github.com/envoi/envoi/internal/web/api"
	"github.com/envoi/envoi/internal/web/hooks"
	"github.com/envoi/envoi/internal/web/public"
	"github.com/envoi/envoi/internal/webhook"
	"github.com/envoi/envoi/templates"
)

// App wires Envoi's parts: the one place where services are built, for serve,
// web and worker and for every CLI command. Open connects and builds; StartWeb
// and StartWorker run the roles; Close stops everything in reverse order.
// Tests use it as is.
type App struct {
	Config config.Config
	Log    *slog.Logger
	Now    func() time.Time

	Store        *store.Store
	RedisOpt     asynq.RedisConnOpt
	Redis        redis.UniversalClient
	Queue        *queue.Client
	Tokens       *token.Signer
	Mail         *mail.Builder
	SMTP         *send.Pool
	Limits       *limits.Limiter
	POW          *pow.Service
	Locale       *locale.Catalog
	Metrics      *metrics.Metrics
	metricsHTTP  *http.Server
	MetricsAddr  string // where StartMetrics listens
	Admin        *admin.Handler
	Web          *web.Server
	sessionStore *postgresstore.PostgresStore
	queueMonitor *asynqmon.HTTPHandler
	// PasswordParams are argon2id's (tests make them cheap); nil: the defaults.
	PasswordParams *argon2id.Params
	Auth           *auth.Service
	Users          *auth.Users
	Lists          *lists.Service
	Subscribe      *subscribe.Service
	GDPR           *gdpr.Service
	Campaigns      *campaign.Service
	Delivery       *delivery.Service
	Imports        *imports.Service
	Tracking       *tracking.Service
	Feedback       *feedback.Service
	Inbound        *inbound.Server // nil until StartInbound
	Worker         *jobs.Worker
	Sweeper        *delivery.Sweeper

	HTTP     *http.Server
	Listener net.Listener
	// Migrated is how many migrations Open applied (OpenOptions.Migrate).
	Migrated int

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// OpenOptions say what Open does about the schema and the connection pool.
type OpenOptions struct {
	Migrate  bool // apply pending migrations (serve, migrate); otherwise refuse an old schema
	MaxConns int  // PostgreSQL connections; 0 for ENVOI_DATABASE_MAX_CONNS (CLI commands use 2)
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
	conns := c.DatabaseMaxConns
	if o.MaxConns > 0 {
		conns = o.MaxConns
	}
	st, err := store.Open(ctx, c.DatabaseURL, conns)
	if err != nil {
		return fmt.Errorf("PostgreSQL (ENVOI_DATABASE_URL): %w", err)
	}
	st.Now = a.Now
	st.Pseudo = pseudo.Derive(c.SecretKey)
	if c.HashKey != "" {
		st.Pseudo = pseudo.New([]byte(c.HashKey))
	}
	a.Store = st
	if o.Migrate {
		if a.Migrated, err = store.Migrate(ctx, st.DB.DB); err != nil {
			return err
		}
		if _, err := st.BackfillEmailHashes(ctx); err != nil {
			return fmt.Errorf("migrate: keyed hashes of addresses: %w", err)
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
	switch o := a.RedisOpt.(type) {
	case asynq.RedisFailoverClientOpt:
		// redis-sentinel://…?master=NAME: the same Sentinel-aware client for
		// limits and rate counters as for the queue.
		a.Redis = o.MakeRedisClient().(redis.UniversalClient)
	case asynq.RedisClusterClientOpt:
		a.Redis = o.MakeRedisClient().(redis.UniversalClient)
	default:
		ropt, err := redis.ParseURL(c.RedisURL)
		if err != nil {
			return fmt.Errorf("ENVOI_REDIS_URL: %w", err)
		}
		a.Redis = redis.NewClient(ropt)
	}
	a.Queue = queue.NewClient(a.RedisOpt, c.Queue)

	a.Tokens = token.NewSigner(c.SecretKey, c.OldSecretKeys...)
	a.Tokens.Now = a.Now
	host := "localhost"
	if u, err := url.Parse(c.BaseURL); err == nil {
		host = u.Hostname()
	}
	a.Locale = locale.Builtin()
	a.Metrics = metrics.New()
	a.Mail, err = mail.NewBuilder(templates.FS, mail.Builder{Locale: a.Locale, FromName: c.TransactionalFromName, FromAddress: c.TransactionalFromAddress,
		Org: c.Organization, PostalAddress: c.PostalAddress, PrivacyContact: c.PrivacyContact, BaseHost: host, InboundDomain: c.InboundDomain, Now: a.Now})
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
	a.Auth = &auth.Service{Store: st}
	a.Lists = &lists.Service{Store: st, Now: a.Now, Languages: a.Locale.Languages()}
	a.Limits = &limits.Limiter{Redis: a.Redis, Prefix: c.Queue, PerIP: c.SignupLimitPerIP, PerDomain: c.SignupLimitPerDomain,
		Global: c.SignupLimitGlobal, Logins: limits.Logins{PerAccount: c.LoginLimitPerAccount, PerIP: c.LoginLimitPerIP}, Log: a.Log}
	a.Users = &auth.Users{Store: st, Limits: a.Limits, Issuer: c.Organization, Now: a.Now, Params: a.PasswordParams}
	powKey := sha256.Sum256([]byte("envoi proof-of-work key\x00" + c.SecretKey))
	a.POW = &pow.Service{Key: powKey[:], MaxNumber: c.POWComplexity, Now: a.Now, Redis: a.Redis, Prefix: c.Queue, Log: a.Log}
	a.Subscribe = &subscribe.Service{Store: st, Lists: a.Lists, Tokens: a.Tokens, Queue: a.Queue, Mail: a.Mail, Limits: a.Limits, POW: a.POW, Locale: a.Locale, Metrics: a.Metrics,
		BaseURL: c.BaseURL, Org: c.Organization, PostalAddress: c.PostalAddress, PrivacyContact: c.PrivacyContact,
		ConfirmTTL: c.ConfirmTTL, RepermissionTTL: c.RetentionGrace, Log: a.Log}
	a.GDPR = &gdpr.Service{Store: st, Subscribe: a.Subscribe, Users: a.Users, Log: a.Log, Controller: gdpr.Controller{
		Organization: c.Organization, Contact: c.PrivacyContact, PostalAddress: c.PostalAddress, BaseURL: c.BaseURL,
		SMTPHost: c.SMTP.Host, SMTPTLS: string(c.SMTP.TLS), DKIM: c.DKIMDomain != "", Retention: a.Retention()}}
	if err := gdpr.ParseRegisterTemplates(templates.FS); err != nil {
		return err
	}
	a.Campaigns = &campaign.Service{Store: st, Queue: a.Queue, Templates: templates.FS, DefaultFrom: c.From,
		Org: c.Organization, PostalAddress: c.PostalAddress, Log: a.Log, ClickTracking: c.ClickTracking}
	a.Feedback = &feedback.Service{Store: st, Tokens: a.Tokens, Subscribe: a.Subscribe, SoftLimit: c.BounceSoftLimit, SoftWindow: c.BounceSoftWindow,
		PauseShare: c.BouncePauseShare, PauseMin: int64(c.BouncePauseMin), Log: a.Log}
	a.Tracking = &tracking.Service{Store: st, Tokens: a.Tokens, BaseURL: c.BaseURL, Log: a.Log}
	a.Delivery = &delivery.Service{Store: st, Queue: a.Queue, SMTP: a.SMTP, Mail: a.Mail,
		Limiter:   &send.RateLimiter{Redis: a.Redis, Key: c.Queue + ":send-rate", Rate: c.SendRate},
		Campaigns: a.Campaigns, Subscribe: a.Subscribe, Tracking: a.Tracking, TestUnsubscribeURL: c.BaseURL + "/unsubscribe/test",
		TestAddresses: c.TestAddresses, Inspector: queue.NewInspector(a.RedisOpt, c.Queue), Metrics: a.Metrics, Log: a.Log,
		InboundDomain: c.InboundDomain, Tokens: a.Tokens, Feedback: a.Feedback}
	a.Imports = &imports.Service{Store: st, Lists: a.Lists, Queue: a.Queue, Log: a.Log}
	a.Metrics.QueueDepth(c.Queue, func() (map[string]int, error) {
		h, err := a.Delivery.Inspector.Health()
		return map[string]int{"pending": h.Pending, "active": h.Active, "scheduled": h.Scheduled, "retry": h.Retry, "archived": h.Archived}, err
	})
	return nil
}

// StartInbound runs the inbound SMTP listener (bounces, complaint reports,
// unsubscribe mail for ENVOI_INBOUND_DOMAIN) on addr in the background.
func (a *App) StartInbound(addr string) error {
	c := a.Config
	a.Inbound = &inbound.Server{Domain: c.InboundDomain, Addr: addr, MaxSize: c.InboundMaxSize, RatePerMinute: c.InboundRate,
		Tokens: a.Tokens, Parse: bounce.Parse, Handler: a.Feedback, Log: a.Log, Now: a.Now}
	if err := a.Inbound.Start(); err != nil {
		a.Inbound = nil
		return fmt.Errorf("inbound listener on %s: %w", addr, err)
	}
	return nil
}

// registerWebhooks serves POST /webhooks/{provider} for each relay configured.
func (a *App) registerWebhooks(srv *web.Server) error {
	c := a.Config
	ps := map[string]webhook.Provider{}
	if len(c.WebhookSESTopics) > 0 {
		ps["ses"] = webhook.NewSES(c.WebhookSESTopics, &webhook.HTTPCertFetcher{Now: a.Now}, a.Now)
	}
	if c.WebhookSendGridKey != "" {
		p, err := webhook.NewSendGrid(c.WebhookSendGridKey, a.Now)
		if err != nil {
			return fmt.Errorf("ENVOI_WEBHOOK_SENDGRID_KEY: %w", err)
		}
		ps["sendgrid"] = p
	}
	if c.WebhookMailgunKey != "" {
		ps["mailgun"] = webhook.NewMailgun(c.WebhookMailgunKey, a.Now)
	}
	if user, pass, ok := strings.Cut(c.WebhookPostmarkAuth, ":"); ok {
		ps["postmark"] = webhook.NewPostmark(user, pass)
	}
	(&hooks.Handler{Providers: ps, Feedback: a.Feedback, Log: a.Log}).Register(srv.Engine)
	return nil
}

// StartWeb listens on ENVOI_LISTEN_ADDR and serves in the background.
func (a *App) StartWeb() error {
	srv, err := web.New(web.Server{Log: a.Log, Locale: a.Locale, Observe: a.Metrics.Request, Org: a.Config.Organization, TrustedProxies: a.Config.TrustedProxies,
		HTTPS:          strings.HasPrefix(a.Config.BaseURL, "https://"),
		PrivacyContact: a.Config.PrivacyContact, PostalAddress: a.Config.PostalAddress,
		Checks: map[string]func(context.Context) error{
			"postgres": a.Store.Ping,
			"redis":    func(ctx context.Context) error { return a.Redis.Ping(ctx).Err() },
		}})
	if err != nil {
		return err
	}
	a.Web = srv
	base := ""
	if u, err := url.Parse(a.Config.BaseURL); err == nil {
		base = strings.ToLower(u.Scheme + "://" + u.Host)
	}
	if err := a.registerWebhooks(srv); err != nil {
		return err
	}
	(&public.Handler{Web: srv, Subscribe: a.Subscribe, GDPR: a.GDPR, FormOrigins: a.Config.FormOrigins, BaseOrigin: base}).Register(srv.Engine)
	(&public.Track{Web: srv, Tracking: a.Tracking}).Register(srv.Engine)
	(&api.Handler{Web: srv, Auth: a.Auth, Lists: a.Lists, Subscribe: a.Subscribe, GDPR: a.GDPR, Campaigns: a.Campaigns,
		Delivery: a.Delivery, Imports: a.Imports}).Register(srv.Engine)
	if a.Config.MetricsAddr == "" {
		srv.Engine.GET("/metrics", gin.WrapH(a.Metrics.Handler()))
	}
	a.Admin = a.adminHandler(srv)
	if err := a.Admin.Register(srv.Engine); err != nil {
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
	a.HTTP = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
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

// adminHandler builds the admin UI with its sessions, kept in PostgreSQL.
func (a *App) adminHandler(srv *web.Server) *admin.Handler {
	c := a.Config
	a.sessionStore = postgresstore.NewWithCleanupInterval(a.Store.DB.DB, 30*time.Minute)
	sm := scs.New()
	sm.Store = a.sessionStore
	sm.Lifetime = c.SessionMax
	sm.IdleTimeout = c.SessionIdle
	sm.Cookie.Name = "envoi_session"
	sm.Cookie.Path = "/admin"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = strings.HasPrefix(c.BaseURL, "https://")
	sm.Cookie.Persist = false
	dkim := ""
	if c.DKIMDomain != "" {
		dkim = "d=" + c.DKIMDomain + " s=" + c.DKIMSelector
	}
	queues := asynqmon.New(asynqmon.Options{RootPath: "/admin/queues", RedisConnOpt: a.RedisOpt})
	a.queueMonitor = queues
	var langs []admin.Language
	for _, tag := range a.Locale.Languages() {
		langs = append(langs, admin.Language{Tag: tag, Name: a.Locale.Name(tag)})
	}
	return &admin.Handler{Languages: langs, Queues: queues, Web: srv, Users: a.Users, Auth: a.Auth, Lists: a.Lists, Subscribe: a.Subscribe, GDPR: a.GDPR, Campaigns: a.Campaigns,
		Delivery: a.Delivery, Imports: a.Imports, Sessions: sm, Log: a.Log, Settings: admin.Settings{BaseURL: c.BaseURL, From: c.From,
			Organization: c.Organization, PrivacyContact: c.PrivacyContact, PostalAddress: c.PostalAddress,
			SMTP: fmt.Sprintf("%s:%d (TLS: %s)", c.SMTP.Host, c.SMTP.Port, c.SMTP.TLS), DKIM: dkim, TestAddresses: c.TestAddresses}}
}

// StartMetrics serves /metrics on ENVOI_METRICS_ADDR, when set.
func (a *App) StartMetrics() error {
	if a.Config.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", a.Config.MetricsAddr)
	if err != nil {
		return fmt.Errorf("ENVOI_METRICS_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.Metrics.Handler())
	a.metricsHTTP = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.metricsHTTP.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.Log.Error("metrics server stopped", slog.Any("error", err))
		}
	}()
	a.MetricsAddr = ln.Addr().String()
	a.Log.Info("metrics listening", slog.String("addr", a.MetricsAddr))
	return nil
}

// URL is the address the web server actually listens on.
func (a *App) URL() string { return "http://" + a.Listener.Addr().String() }

// StartWorker runs the job worker and the delivery sweeper in the background.
// A Sweeper set before the call keeps its intervals (tests).
func (a *App) StartWorker() error {
	a.Worker = &jobs.Worker{Delivery: a.Delivery, Imports: a.Imports, Queue: a.Config.Queue, Log: a.Log, Concurrency: a.Config.WorkerConcurrency}
	if err := a.Worker.Start(a.RedisOpt); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	if a.Sweeper == nil {
		a.Sweeper = &delivery.Sweeper{}
	}
	a.Sweeper.Delivery = a.Delivery
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		a.Sweeper.Run(ctx)
	}()
	go func() {
		defer a.wg.Done()
		a.GDPR.RetentionLoop(ctx, a.Retention(), a.Config.RetentionEvery)
	}()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.Imports.RunSweeper(ctx, 30*time.Second, 2*time.Minute)
	}()
	return nil
}

// Retention is the retention policy of the configuration.
func (a *App) Retention() store.Retention {
	c := a.Config
	return store.Retention{Unconfirmed: c.RetentionUnconfirmed, Inactive: c.RetentionInactive, Grace: c.RetentionGrace,
		Unsubscribed: c.RetentionUnsubscribed, ConsentProof: c.RetentionConsent}
}

// Close stops the web server (finishing requests), the worker (finishing or
// handing back jobs), then closes connections.
func (a *App) Close() error {
	if a.Inbound != nil {
		a.Inbound.Close()
	}
	if a.HTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		a.HTTP.Shutdown(ctx)
		cancel()
	}
	if a.metricsHTTP != nil {
		a.metricsHTTP.Close()
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
	if a.sessionStore != nil {
		a.sessionStore.StopCleanup()
	}
	if a.queueMonitor != nil {
		a.queueMonitor.Close()
	}
	if a.Delivery != nil && a.Delivery.Inspector != nil {
		a.Delivery.Inspector.Close()
	}
	if a.Store != nil {
		a.Store.Close()
	}
	return nil
}
