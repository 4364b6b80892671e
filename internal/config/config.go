// Package config turns ENVOI_* environment variables into a typed Config. Load
// checks every variable and reports all the bad ones at once, each by name. It
// reads nothing else and keeps no global state.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/envoi/envoi/internal/address"
)

// SMTP is where mail goes.
type SMTP struct {
	Host     string
	Port     int
	Username string
	Password string
	TLS      string // none, starttls or tls
}

// Config is the whole configuration of an Envoi process.
type Config struct {
	DatabaseURL      string
	DatabaseMaxConns int
	RedisURL         string
	Queue            string
	SMTP             SMTP
	SMTPPoolSize     int
	BaseURL          string
	SecretKey        string
	OldSecretKeys    []string
	HashKey          string // keyed hashes of personal values; "" derives one from SecretKey
	ListenAddr       string
	From             string // "Name <address>"
	FromName         string
	FromAddress      string
	// The sender of transactional mail (confirmations, welcomes, re-permission,
	// address changes): ENVOI_TRANSACTIONAL_FROM, else ENVOI_FROM's.
	TransactionalFromName, TransactionalFromAddress string
	Organization                                    string
	PrivacyContact                                  string
	PostalAddress                                   string
	DKIMDomain                                      string
	DKIMSelector                                    string
	DKIMKeyFile                                     string
	DNSResolver                                     string // host:port for envoi doctor; "" is /etc/resolv.conf's first
	TestAddresses                                   []string
	// Signup limits per minute (0: off) and the proxies trusted for the client IP.
	SignupLimitPerIP, SignupLimitPerDomain, SignupLimitGlobal int
	POWComplexity                                             int
	LoginLimitPerAccount, LoginLimitPerIP                     int
	MetricsAddr                                               string
	SessionIdle, SessionMax                                   time.Duration
	TrustedProxies                                            []string
	FormOrigins                                               []string // scheme://host[:port]; empty: any
	ConfirmTTL                                                time.Duration
	// Retention periods (0: the rule is off) and how often the pass runs.
	RetentionUnconfirmed, RetentionInactive, RetentionGrace time.Duration
	RetentionUnsubscribed, RetentionConsent, RetentionEvery time.Duration
	WorkerConcurrency                                       int
	SendRate                                                int
	LogFormat                                               string
	LogLevel                                                string
	DebugAddr                                               string
	ClickTracking                                           bool // ENVOI_CLICK_TRACKING
	// Bounces, complaints and inbound mail (issue 12).
	InboundDomain  string // ENVOI_INBOUND_DOMAIN; "" : no VERP, no mailto unsubscribe
	InboundAddr    string // ENVOI_INBOUND_ADDR; "" : no listener in serve/worker
	InboundMaxSize int64  // bytes
	InboundRate    int    // messages a minute from one client IP
	// A subscriber is suppressed after BounceSoftLimit soft bounces among their
	// last BounceSoftWindow campaign sends.
	BounceSoftLimit, BounceSoftWindow int
	// A campaign pauses itself when refusals that are the sender's problem pass
	// BouncePauseShare of its attempts, once it made BouncePauseMin of them.
	BouncePauseShare float64
	BouncePauseMin   int
	// Provider webhooks; empty: that provider's URL answers 404.
	WebhookSESTopics    []string
	WebhookSendGridKey  string
	WebhookMailgunKey   string
	WebhookPostmarkAuth string // user:password
}

// Option documents one variable; Options drives Load, the README table and `envoi config`.
type Option struct {
	Name    string
	Default string
	Secret  bool
	Help    string
}

// Options lists every variable Envoi reads.
var Options = []Option{
	{"ENVOI_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/envoi?sslmode=disable", true, "PostgreSQL URL (postgres://user:pass@host:port/db?sslmode=…). Also ENVOI_DATABASE_URL_FILE."},
	{"ENVOI_DATABASE_MAX_CONNS", "20", false, "Most open PostgreSQL connections per process."},
	{"ENVOI_REDIS_URL", "redis://127.0.0.1:6379/0", true, "Redis URL for the job queue (redis://[:pass@]host:port/db or rediss://; redis-sentinel://[:pass@]host1:port,host2:port/db?master=NAME for a Sentinel set; redis-cluster://[:pass@]host1:port,host2:port for a Cluster). Also ENVOI_REDIS_URL_FILE."},
	{"ENVOI_QUEUE", "envoi", false, "Prefix of the job queue names, so several installs can share one Redis."},
	{"ENVOI_SMTP_URL", "smtp://127.0.0.1:1025?tls=none", true, "Outgoing SMTP relay: smtp://[user:pass@]host:port?tls=none|starttls|tls. Also ENVOI_SMTP_URL_FILE."},
	{"ENVOI_SMTP_POOL_SIZE", "4", false, "SMTP connections kept open per worker process."},
	{"ENVOI_BASE_URL", "http://127.0.0.1:8080", false, "Public URL of this server, used in every link mailed out (https in production)."},
	{"ENVOI_SECRET_KEY", "", true, "Secret of at least 32 bytes that signs link tokens. Required. Also ENVOI_SECRET_KEY_FILE."},
	{"ENVOI_OLD_SECRET_KEYS", "", true, "Comma-separated former secret keys whose links are still honoured after a rotation."},
	{"ENVOI_HASH_KEY", "", true, "Secret of at least 32 bytes for the keyed hashes that stand in for personal data (consent log, suppression list). Defaults to one derived from ENVOI_SECRET_KEY: set it (envoi hash-key prints the current one) before rotating that key, or erased addresses are no longer recognised. Also ENVOI_HASH_KEY_FILE."},
	{"ENVOI_LISTEN_ADDR", "127.0.0.1:8080", false, "Address the web server listens on."},
	{"ENVOI_FROM", "Envoi <newsletter@envoi.localhost>", false, "Sender of campaign mail (and of every mail unless ENVOI_TRANSACTIONAL_FROM is set): Name <address>."},
	{"ENVOI_TRANSACTIONAL_FROM", "", false, "Sender of transactional mail (confirmations, welcomes, re-permission and address-change mails), as Gmail's sender guidelines ask marketing and transactional mail to come apart: Name <address>; defaults to ENVOI_FROM."},
	{"ENVOI_ORGANIZATION", "", false, "Who sends (the data controller) as shown in the privacy notice; defaults to the name in ENVOI_FROM."},
	{"ENVOI_PRIVACY_CONTACT", "", false, "How to reach the controller about personal data (address or URL); defaults to the address in ENVOI_FROM."},
	{"ENVOI_POSTAL_ADDRESS", "", false, "Sender's postal address, printed in the footer of list mail."},
	{"ENVOI_DKIM_DOMAIN", "", false, "Domain (d=) for DKIM signatures; with ENVOI_DKIM_SELECTOR and ENVOI_DKIM_KEY_FILE every mail is signed, List-Unsubscribe headers included."},
	{"ENVOI_DKIM_SELECTOR", "", false, "DKIM selector (s=): the public key is published at SELECTOR._domainkey.DOMAIN."},
	{"ENVOI_DKIM_KEY_FILE", "", false, "PEM file with the DKIM private key (RSA 2048+ or Ed25519, PKCS#1 or PKCS#8)."},
	{"ENVOI_DNS_RESOLVER", "", false, "DNS server (host:port, like 1.1.1.1:53) that envoi doctor asks about SPF, DKIM, DMARC and MX records; defaults to the first nameserver of /etc/resolv.conf."},
	{"ENVOI_CLICK_TRACKING", "true", false, "Rewrite the http(s) links of campaign mail to signed /r/{token} redirects that count clicks per link in aggregate and update the subscriber's last activity (true or false); false leaves every campaign's links untouched. Each campaign can also turn it off (click_tracking)."},
	{"ENVOI_TEST_ADDRESSES", "", false, "Comma-separated addresses (the team's own) that may receive campaign test sends without being subscribers."},
	{"ENVOI_CONFIRM_TTL", "168h", false, "How long a confirmation link stays valid (Go duration)."},
	{"ENVOI_RETENTION_UNCONFIRMED", "720h", false, "Signups not confirmed after this long are erased (30 days, as the confirmation mail says); 0 turns the rule off."},
	{"ENVOI_RETENTION_INACTIVE", "26280h", false, "Subscribers with no sign of life (confirmation, click, preference change; opens do not count) for this long get a re-permission mail (3 years, the CNIL's guidance); 0 turns the rule off."},
	{"ENVOI_RETENTION_GRACE", "720h", false, "How long a re-permission mail's link works; who has not answered by then is erased (30 days)."},
	{"ENVOI_RETENTION_UNSUBSCRIBED", "720h", false, "People who left every list this long ago are reduced to the keyed hash on the suppression list (30 days); 0 turns the rule off."},
	{"ENVOI_RETENTION_CONSENT", "43800h", false, "Consent events of people no longer subscribers are kept this long as proof, then purged (5 years, the limitation period); 0 keeps them."},
	{"ENVOI_RETENTION_INTERVAL", "1h", false, "How often a worker runs the retention pass (one at a time across workers); 0 only by envoi retention."},
	{"ENVOI_WORKER_CONCURRENCY", "100", false, "Jobs a worker process runs at once (each campaign batch is one job sending one message at a time, each confirmation or welcome one job; they share the SMTP connections and their database statements are grouped)."},
	{"ENVOI_SEND_RATE", "0", false, "Most campaign messages per second, shared by every worker through Redis; 0 for no limit."},
	{"ENVOI_SIGNUP_LIMIT_PER_IP", "30", false, "Most signups (form, API) and confirmation resends a minute from one client IP (an IPv6 client by its /64); 0 turns the limit off."},
	{"ENVOI_SIGNUP_LIMIT_PER_DOMAIN", "600", false, "Most signups a minute to addresses of one domain; 0 turns the limit off."},
	{"ENVOI_SIGNUP_LIMIT_GLOBAL", "0", false, "Most signups and resends a minute in all; 0 (the default) for no limit."},
	{"ENVOI_POW_COMPLEXITY", "50000", false, "Difficulty of the proof-of-work challenge of lists that ask for one (\"proof_of_work\": true): the largest secret number; a browser tries half of it on average (headless chromium on 2 cores: 0.35 s on average, 0.7 s at most)."},
	{"ENVOI_LOGIN_LIMIT_PER_ACCOUNT", "10", false, "Most failed admin sign-ins to one account in 15 minutes (then 429 for a while, whether the account exists or not); 0 turns the limit off."},
	{"ENVOI_LOGIN_LIMIT_PER_IP", "50", false, "Most failed admin sign-ins from one client IP in 15 minutes; 0 turns the limit off."},
	{"ENVOI_SESSION_IDLE_TIMEOUT", "12h", false, "An admin session ends after this long without a request (Go duration)."},
	{"ENVOI_SESSION_LIFETIME", "168h", false, "An admin session ends this long after sign-in, used or not (Go duration)."},
	{"ENVOI_FORM_ORIGINS", "", false, "Comma-separated origins (https://www.example.com) whose pages may post the signup form; empty (the default) allows any, since forms are embedded on the marketer's own site. ENVOI_BASE_URL's origin is always allowed."},
	{"ENVOI_TRUSTED_PROXIES", "", false, "Comma-separated CIDRs of the reverse proxies whose X-Forwarded-For names the client IP (for limits and the consent log); none by default."},
	{"ENVOI_INBOUND_DOMAIN", "", false, "Domain whose MX points at Envoi's inbound listener (like bounces.example.com): campaign and transactional mail go out with the envelope sender bounces+{signed id}@DOMAIN (VERP), List-Unsubscribe gains mailto:unsubscribe+{token}@DOMAIN and campaign mail a CFBL-Address fbl@DOMAIN. Empty: bounces go back to ENVOI_FROM unprocessed."},
	{"ENVOI_INBOUND_ADDR", "", false, "If set (like :25 or 0.0.0.0:2525), serve and worker also run the inbound SMTP listener there (envoi inbound runs it alone). It accepts mail only for ENVOI_INBOUND_DOMAIN: bounces (DSN), complaint reports (ARF) and unsubscribe mail."},
	{"ENVOI_INBOUND_MAX_SIZE", "1048576", false, "Largest inbound message in bytes (a bounce carries the original's headers at most); larger ones are refused with 552."},
	{"ENVOI_INBOUND_RATE", "120", false, "Most inbound messages a minute from one client IP (then 421); 0 turns the limit off."},
	{"ENVOI_BOUNCE_SOFT_LIMIT", "3", false, "A subscriber is suppressed (soft_bounces) after this many soft bounces among their last ENVOI_BOUNCE_SOFT_WINDOW campaign sends; a hard bounce suppresses at once."},
	{"ENVOI_BOUNCE_SOFT_WINDOW", "5", false, "How many of a subscriber's last campaign sends ENVOI_BOUNCE_SOFT_LIMIT looks at."},
	{"ENVOI_BOUNCE_PAUSE_SHARE", "0.05", false, "A campaign pauses itself when refusals that are the sender's problem (authentication, policy, reputation: 5.7.x, \"blocked\", \"spam\") pass this share of its attempts; 0 turns it off."},
	{"ENVOI_BOUNCE_PAUSE_MIN", "100", false, "Attempts a campaign makes before ENVOI_BOUNCE_PAUSE_SHARE is judged."},
	{"ENVOI_WEBHOOK_SES_TOPICS", "", false, "Comma-separated SNS topic ARNs whose Amazon SES bounce and complaint notifications POST /webhooks/ses accepts (signature and certificate verified); empty turns the endpoint off."},
	{"ENVOI_WEBHOOK_SENDGRID_KEY", "", true, "SendGrid's signed event webhook verification key (base64 public key); empty turns POST /webhooks/sendgrid off."},
	{"ENVOI_WEBHOOK_MAILGUN_KEY", "", true, "Mailgun's HTTP webhook signing key; empty turns POST /webhooks/mailgun off."},
	{"ENVOI_WEBHOOK_POSTMARK_AUTH", "", true, "user:password Postmark sends as basic auth (put them in the webhook URL); empty turns POST /webhooks/postmark off."},
	{"ENVOI_METRICS_ADDR", "", false, "If set (like 127.0.0.1:9464), serve the Prometheus metrics at /metrics there (web and worker processes) instead of on the web listener."},
	{"ENVOI_DEBUG_ADDR", "", false, "If set (like 127.0.0.1:6060), serve Go's profiler at /debug/pprof/ there. Keep it off the public network."},
	{"ENVOI_LOG_FORMAT", "text", false, "Log format: text or json."},
	{"ENVOI_LOG_LEVEL", "info", false, "Log level: debug, info, warn or error."},
}

// Load reads the configuration through getenv (os.Getenv in production). Secrets
// may also come from NAME_FILE. The error lists every bad variable.
func Load(getenv func(string) string) (Config, error) {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	get := func(name string) string {
		if v := getenv(name); v != "" {
			return strings.TrimSpace(v)
		}
		if f := getenv(name + "_FILE"); f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				bad(name+"_FILE", "cannot read %s: %v", f, err)
				return ""
			}
			return strings.TrimSpace(string(b))
		}
		for _, o := range Options {
			if o.Name == name {
				return o.Default
			}
		}
		return ""
	}
	intVar := func(name string, min, max int) int {
		n, err := strconv.Atoi(get(name))
		if err != nil || n < min || n > max {
			bad(name, "must be a whole number from %d to %d, got %q", min, max, get(name))
		}
		return n
	}

	var c Config
	c.DatabaseURL = get("ENVOI_DATABASE_URL")
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		bad("ENVOI_DATABASE_URL", "must be a URL like postgres://user:pass@127.0.0.1:5432/envoi?sslmode=disable")
	}
	c.DatabaseMaxConns = intVar("ENVOI_DATABASE_MAX_CONNS", 2, 1000)

	c.RedisURL = get("ENVOI_REDIS_URL")
	if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "redis-sentinel" && u.Scheme != "redis-cluster") || u.Host == "" {
		bad("ENVOI_REDIS_URL", "must be a URL like redis://127.0.0.1:6379/0 (or redis-sentinel://host1:26379,host2:26379/0?master=NAME, or redis-cluster://host1:6379,host2:6379)")
	} else if u.Scheme == "redis-sentinel" && u.Query().Get("master") == "" {
		bad("ENVOI_REDIS_URL", "a redis-sentinel:// URL names its master set: ?master=NAME")
	}
	c.Queue = get("ENVOI_QUEUE")
	if c.Queue == "" || strings.ContainsAny(c.Queue, " :{}") || len(c.Queue) > 64 {
		bad("ENVOI_QUEUE", "must be a short name without spaces, colons or braces")
	}

	smtp, err := ParseSMTPURL(get("ENVOI_SMTP_URL"))
	if err != nil {
		bad("ENVOI_SMTP_URL", "%v", err)
	}
	c.SMTP = smtp
	c.SMTPPoolSize = intVar("ENVOI_SMTP_POOL_SIZE", 1, 200)

	c.BaseURL = strings.TrimRight(get("ENVOI_BASE_URL"), "/")
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		bad("ENVOI_BASE_URL", "must be an absolute http(s) URL without query, like https://news.example.com")
	}

	c.SecretKey = get("ENVOI_SECRET_KEY")
	switch {
	case c.SecretKey == "":
		bad("ENVOI_SECRET_KEY", "is required: set it to at least 32 random bytes (for example: openssl rand -base64 48)")
	case len(c.SecretKey) < 32:
		bad("ENVOI_SECRET_KEY", "must be at least 32 bytes long, got %d", len(c.SecretKey))
	}
	for _, k := range strings.Split(get("ENVOI_OLD_SECRET_KEYS"), ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		if len(k) < 32 {
			bad("ENVOI_OLD_SECRET_KEYS", "each key must be at least 32 bytes long")
			break
		}
		c.OldSecretKeys = append(c.OldSecretKeys, k)
	}

	if c.HashKey = get("ENVOI_HASH_KEY"); c.HashKey != "" && len(c.HashKey) < 32 {
		bad("ENVOI_HASH_KEY", "must be at least 32 bytes long, got %d", len(c.HashKey))
	}

	c.ListenAddr = get("ENVOI_LISTEN_ADDR")
	if _, port, err := net.SplitHostPort(c.ListenAddr); err != nil || port == "" {
		bad("ENVOI_LISTEN_ADDR", "must be host:port, like 127.0.0.1:8080 or :8080")
	}

	c.From = get("ENVOI_FROM")
	if a, err := mail.ParseAddress(c.From); err != nil || !strings.Contains(a.Address, "@") {
		bad("ENVOI_FROM", "must be an address like \"Newsletter <news@example.com>\"")
	} else {
		c.FromName, c.FromAddress = a.Name, a.Address
	}
	c.TransactionalFromName, c.TransactionalFromAddress = c.FromName, c.FromAddress
	if v := get("ENVOI_TRANSACTIONAL_FROM"); v != "" {
		if a, err := mail.ParseAddress(v); err != nil || !strings.Contains(a.Address, "@") {
			bad("ENVOI_TRANSACTIONAL_FROM", "must be an address like \"Example News <hello@example.com>\"")
		} else {
			c.TransactionalFromName, c.TransactionalFromAddress = a.Name, a.Address
		}
	}
	c.Organization = get("ENVOI_ORGANIZATION")
	if c.Organization == "" {
		c.Organization = c.FromName
		if c.Organization == "" {
			c.Organization = c.FromAddress
		}
	}
	c.PrivacyContact = get("ENVOI_PRIVACY_CONTACT")
	if c.PrivacyContact == "" {
		c.PrivacyContact = c.FromAddress
	}
	c.PostalAddress = get("ENVOI_POSTAL_ADDRESS")
	for _, a := range strings.Split(get("ENVOI_TEST_ADDRESSES"), ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		n, err := address.Normalize(a)
		if err != nil {
			bad("ENVOI_TEST_ADDRESSES", "%q: %v", a, err)
			continue
		}
		c.TestAddresses = append(c.TestAddresses, n)
	}
	c.DKIMDomain, c.DKIMSelector, c.DKIMKeyFile = get("ENVOI_DKIM_DOMAIN"), get("ENVOI_DKIM_SELECTOR"), get("ENVOI_DKIM_KEY_FILE")
	if n := len(strings.Join([]string{c.DKIMDomain, c.DKIMSelector, c.DKIMKeyFile}, "")); n > 0 &&
		(c.DKIMDomain == "" || c.DKIMSelector == "" || c.DKIMKeyFile == "") {
		bad("ENVOI_DKIM_DOMAIN", "DKIM needs all three of ENVOI_DKIM_DOMAIN, ENVOI_DKIM_SELECTOR and ENVOI_DKIM_KEY_FILE")
	}

	if c.DNSResolver = get("ENVOI_DNS_RESOLVER"); c.DNSResolver != "" {
		if host, port, err := net.SplitHostPort(c.DNSResolver); err != nil || host == "" || port == "" {
			bad("ENVOI_DNS_RESOLVER", "must be host:port, like 1.1.1.1:53 or [2606:4700:4700::1111]:53")
		}
	}

	retention := func(name string, into *time.Duration, min time.Duration) {
		d, err := time.ParseDuration(get(name))
		if err != nil || d < 0 || (d > 0 && d < min) {
			bad(name, "must be a Go duration of at least %v, like 720h, or 0 to turn it off", min)
			return
		}
		*into = d
	}
	retention("ENVOI_RETENTION_UNCONFIRMED", &c.RetentionUnconfirmed, 24*time.Hour)
	retention("ENVOI_RETENTION_INACTIVE", &c.RetentionInactive, 24*time.Hour)
	retention("ENVOI_RETENTION_GRACE", &c.RetentionGrace, 24*time.Hour)
	retention("ENVOI_RETENTION_UNSUBSCRIBED", &c.RetentionUnsubscribed, time.Hour)
	retention("ENVOI_RETENTION_CONSENT", &c.RetentionConsent, 24*time.Hour)
	retention("ENVOI_RETENTION_INTERVAL", &c.RetentionEvery, time.Minute)
	if c.RetentionInactive > 0 && c.RetentionGrace == 0 {
		bad("ENVOI_RETENTION_GRACE", "must not be 0 while ENVOI_RETENTION_INACTIVE is on")
	}
	if d, err := time.ParseDuration(get("ENVOI_CONFIRM_TTL")); err != nil || d < time.Hour || d > 90*24*time.Hour {
		bad("ENVOI_CONFIRM_TTL", "must be a duration from 1h to 2160h, like 168h")
	} else {
		c.ConfirmTTL = d
	}
	if d, err := time.ParseDuration(get("ENVOI_SESSION_IDLE_TIMEOUT")); err != nil || d < time.Minute || d > 30*24*time.Hour {
		bad("ENVOI_SESSION_IDLE_TIMEOUT", "must be a duration from 1m to 720h, like 12h")
	} else {
		c.SessionIdle = d
	}
	if d, err := time.ParseDuration(get("ENVOI_SESSION_LIFETIME")); err != nil || d < time.Minute || d > 90*24*time.Hour {
		bad("ENVOI_SESSION_LIFETIME", "must be a duration from 1m to 2160h, like 168h")
	} else {
		c.SessionMax = d
	}
	c.WorkerConcurrency = intVar("ENVOI_WORKER_CONCURRENCY", 1, 1000)
	c.SendRate = intVar("ENVOI_SEND_RATE", 0, 1_000_000)
	c.SignupLimitPerIP = intVar("ENVOI_SIGNUP_LIMIT_PER_IP", 0, 1_000_000)
	c.SignupLimitPerDomain = intVar("ENVOI_SIGNUP_LIMIT_PER_DOMAIN", 0, 1_000_000)
	c.SignupLimitGlobal = intVar("ENVOI_SIGNUP_LIMIT_GLOBAL", 0, 10_000_000)
	c.POWComplexity = intVar("ENVOI_POW_COMPLEXITY", 1, 100_000_000)
	c.LoginLimitPerAccount = intVar("ENVOI_LOGIN_LIMIT_PER_ACCOUNT", 0, 1_000_000)
	c.LoginLimitPerIP = intVar("ENVOI_LOGIN_LIMIT_PER_IP", 0, 1_000_000)
	c.MetricsAddr = get("ENVOI_METRICS_ADDR")
	for _, o := range strings.Split(get("ENVOI_FORM_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			bad("ENVOI_FORM_ORIGINS", "%q is not an origin like https://www.example.com", o)
			continue
		}
		c.FormOrigins = append(c.FormOrigins, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	for _, p := range strings.Split(get("ENVOI_TRUSTED_PROXIES"), ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !strings.Contains(p, "/") {
			if ip := net.ParseIP(p); ip != nil && ip.To4() != nil {
				p += "/32"
			} else {
				p += "/128"
			}
		}
		if _, _, err := net.ParseCIDR(p); err != nil {
			bad("ENVOI_TRUSTED_PROXIES", "%q is not a CIDR like 10.0.0.0/8 or an IP address", p)
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, p)
	}

	c.InboundDomain = strings.ToLower(strings.TrimSuffix(get("ENVOI_INBOUND_DOMAIN"), "."))
	if c.InboundDomain != "" && (!strings.Contains(c.InboundDomain, ".") || strings.ContainsAny(c.InboundDomain, "@/: ")) {
		bad("ENVOI_INBOUND_DOMAIN", "must be a domain name like bounces.example.com")
	}
	c.InboundAddr = get("ENVOI_INBOUND_ADDR")
	if c.InboundAddr != "" {
		if _, _, err := net.SplitHostPort(c.InboundAddr); err != nil {
			bad("ENVOI_INBOUND_ADDR", "must be host:port, like :25 or 0.0.0.0:2525")
		}
		if c.InboundDomain == "" {
			bad("ENVOI_INBOUND_ADDR", "needs ENVOI_INBOUND_DOMAIN, the domain it accepts mail for")
		}
	}
	c.InboundMaxSize = int64(intVar("ENVOI_INBOUND_MAX_SIZE", 64<<10, 50<<20))
	c.InboundRate = intVar("ENVOI_INBOUND_RATE", 0, 1_000_000)
	c.BounceSoftWindow = intVar("ENVOI_BOUNCE_SOFT_WINDOW", 1, 100)
	c.BounceSoftLimit = intVar("ENVOI_BOUNCE_SOFT_LIMIT", 1, 100)
	if c.BounceSoftLimit > c.BounceSoftWindow && c.BounceSoftWindow > 0 {
		bad("ENVOI_BOUNCE_SOFT_LIMIT", "must not be more than ENVOI_BOUNCE_SOFT_WINDOW")
	}
	if f, err := strconv.ParseFloat(get("ENVOI_BOUNCE_PAUSE_SHARE"), 64); err != nil || f < 0 || f > 1 {
		bad("ENVOI_BOUNCE_PAUSE_SHARE", "must be a share from 0 to 1, like 0.05")
	} else {
		c.BouncePauseShare = f
	}
	c.BouncePauseMin = intVar("ENVOI_BOUNCE_PAUSE_MIN", 1, 10_000_000)
	for _, t := range strings.Split(get("ENVOI_WEBHOOK_SES_TOPICS"), ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		if !strings.HasPrefix(t, "arn:aws") || strings.Count(t, ":") != 5 {
			bad("ENVOI_WEBHOOK_SES_TOPICS", "%q is not a topic ARN like arn:aws:sns:eu-west-1:123456789012:ses-bounces", t)
			continue
		}
		c.WebhookSESTopics = append(c.WebhookSESTopics, t)
	}
	c.WebhookSendGridKey, c.WebhookMailgunKey = get("ENVOI_WEBHOOK_SENDGRID_KEY"), get("ENVOI_WEBHOOK_MAILGUN_KEY")
	c.WebhookPostmarkAuth = get("ENVOI_WEBHOOK_POSTMARK_AUTH")
	if v := c.WebhookPostmarkAuth; v != "" && (!strings.Contains(v, ":") || strings.HasPrefix(v, ":") || strings.HasSuffix(v, ":")) {
		bad("ENVOI_WEBHOOK_POSTMARK_AUTH", "must be user:password")
	}

	switch v := strings.ToLower(get("ENVOI_CLICK_TRACKING")); v {
	case "true", "1", "yes", "on":
		c.ClickTracking = true
	case "false", "0", "no", "off":
	default:
		bad("ENVOI_CLICK_TRACKING", "must be true or false")
	}
	c.DebugAddr = get("ENVOI_DEBUG_ADDR")
	if c.DebugAddr != "" {
		if _, _, err := net.SplitHostPort(c.DebugAddr); err != nil {
			bad("ENVOI_DEBUG_ADDR", "must be host:port, like 127.0.0.1:6060")
		}
	}
	c.LogFormat = get("ENVOI_LOG_FORMAT")
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("ENVOI_LOG_FORMAT", "must be text or json")
	}
	c.LogLevel = get("ENVOI_LOG_LEVEL")
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("ENVOI_LOG_LEVEL", "must be debug, info, warn or error")
	}
	return c, errors.Join(errs...)
}

// ParseSMTPURL parses smtp://[user:pass@]host:port?tls=none|starttls|tls.
func ParseSMTPURL(s string) (SMTP, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" {
		return SMTP{}, errors.New("must be a URL like smtp://user:pass@smtp.example.com:587?tls=starttls")
	}
	var c SMTP
	c.Host = u.Hostname()
	c.TLS = u.Query().Get("tls")
	if c.TLS == "" {
		c.TLS = "starttls"
	}
	switch c.TLS {
	case "none", "starttls", "tls":
	default:
		return SMTP{}, fmt.Errorf("tls must be none, starttls or tls, got %q", c.TLS)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"none": "25", "starttls": "587", "tls": "465"}[c.TLS]
	}
	c.Port, err = strconv.Atoi(port)
	if err != nil || c.Port < 1 || c.Port > 65535 {
		return SMTP{}, fmt.Errorf("bad port %q", port)
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	return c, nil
}

// Masked returns the effective value of every option for display, secrets hidden.
func (c Config) Masked(getenv func(string) string) []string {
	var out []string
	for _, o := range Options {
		v := getenv(o.Name)
		src := "env"
		if v == "" && getenv(o.Name+"_FILE") != "" {
			v, src = "(from "+getenv(o.Name+"_FILE")+")", "file"
		}
		if v == "" {
			v, src = o.Default, "default"
		}
		if o.Secret && v != "" && src != "file" {
			v = maskSecret(o.Name, v)
		}
		out = append(out, fmt.Sprintf("%s=%s  # %s", o.Name, v, src))
	}
	return out
}

func maskSecret(name, v string) string {
	if u, err := url.Parse(v); err == nil && u.Scheme != "" && u.Host != "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		return u.String()
	}
	_ = name
	return "********"
}
