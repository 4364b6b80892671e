package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/envoi/envoi/internal/lists"
	"github.com/envoi/envoi/internal/mailcatcher"
	"github.com/envoi/envoi/internal/testenv"
)

// TestMain lets a test start this binary as a real envoi process (for crash tests):
// with ENVOI_TEST_MAIN=worker it runs `envoi worker` instead of the tests.
func TestMain(m *testing.M) {
	if cmd := os.Getenv("ENVOI_TEST_MAIN"); cmd != "" {
		main2(strings.Fields(cmd))
		return
	}
	os.Exit(m.Run())
}

func main2(args []string) {
	os.Args = append([]string{"envoi"}, args...)
	main()
}

// testApp is a running Envoi (web + worker) on real services.
type testApp struct {
	*App
	t     *testing.T
	SMTP  *mailcatcher.Catcher
	Env   map[string]string
	Clock *testenv.Clock
	HTTP  *http.Client
}

type appOpts struct {
	noWorker bool
	env      map[string]string // overrides
	logTo    io.Writer         // every log line, at debug level (default: none)
}

func startApp(t *testing.T, o appOpts) *testApp {
	t.Helper()
	smtp := testenv.SMTP(t)
	env := testenv.Env(t, smtp)
	ln := testenv.Listen(t, env)
	for k, v := range o.env {
		env[k] = v
	}
	clock := &testenv.Clock{}
	a := &App{Config: testenv.Config(t, env), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: clock.Now, Listener: ln,
		// Cheap password hashes: tests sign in often (production keeps argon2id's defaults).
		PasswordParams: &argon2id.Params{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}}
	if testing.Verbose() {
		a.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if o.logTo != nil {
		a.Log = slog.New(slog.NewTextHandler(o.logTo, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx := context.Background()
	if err := a.Open(ctx, OpenOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.StartWeb(); err != nil {
		t.Fatal(err)
	}
	if !o.noWorker {
		if err := a.StartWorker(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Lists.Create(ctx, lists.New{Slug: "newsletter", Name: "The Weekly Letter", Description: "News every Friday."}); err != nil {
		t.Fatal(err)
	}
	return &testApp{App: a, t: t, SMTP: smtp, Env: env, Clock: clock, HTTP: &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type response struct {
	Status int
	Body   string
	Header http.Header
}

func (ta *testApp) do(method, path, contentType, body string, header ...string) response {
	ta.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = ta.URL() + path
	}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		ta.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := ta.HTTP.Do(req)
	if err != nil {
		ta.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := response{res.StatusCode, string(b), res.Header}
	ta.checkOpenAPI(method, path, contentType, body, header, out)
	return out
}

func (ta *testApp) get(path string) response { return ta.do("GET", path, "", "") }

func (ta *testApp) postForm(path string, v url.Values) response {
	return ta.do("POST", path, "application/x-www-form-urlencoded", v.Encode())
}

func (ta *testApp) signup(email string) response {
	return ta.postForm("/subscribe/newsletter", url.Values{"email": {email}, "name": {"Ann"}, "consent": {"yes"}})
}

// waitMail waits for n messages to rcpt and returns them.
func (ta *testApp) waitMail(rcpt string, n int) []mailcatcher.Message {
	ta.t.Helper()
	_, ok := ta.SMTP.Wait(15*time.Second, func([]mailcatcher.Message) bool { return len(ta.SMTP.To(rcpt)) >= n })
	got := ta.SMTP.To(rcpt)
	if !ok {
		ta.t.Fatalf("want %d message(s) to %s, got %d", n, rcpt, len(got))
	}
	return got
}

var linkRE = regexp.MustCompile(`https?://[^\s"<>]+/(confirm|unsubscribe|preferences)/[A-Za-z0-9_-]+`)

// link returns the first confirm, unsubscribe or preferences link in a message's text part.
func link(t *testing.T, m mailcatcher.Message, kind string) string {
	t.Helper()
	for _, l := range linkRE.FindAllStringSubmatch(m.Part("text/plain"), -1) {
		if l[1] == kind {
			return l[0]
		}
	}
	t.Fatalf("no %s link in message:\n%s", kind, m.Part("text/plain"))
	return ""
}

// status returns the subscription status of an address on the newsletter list.
func (ta *testApp) status(email string) string {
	ta.t.Helper()
	var s string
	err := ta.Store.DB.Get(&s, `SELECT sn.status FROM subscriptions sn JOIN subscribers sr ON sr.id = sn.subscriber_id WHERE sr.email = $1`, email)
	if err != nil {
		return "none"
	}
	return s
}

func (ta *testApp) count(query string, args ...any) int {
	ta.t.Helper()
	var n int
	if err := ta.Store.DB.Get(&n, query, args...); err != nil {
		ta.t.Fatal(err)
	}
	return n
}

// waitFor polls the database through check until it returns nil. After timeout
// it fails the test with check's last error, which says what is still missing.
func (ta *testApp) waitFor(timeout time.Duration, check func() error) {
	ta.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			ta.t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitMessagesDone waits until the ledger has no transactional message left
// queued: each one was sent, failed or skipped, so none is on its way or will
// be tried again. Every message is written to the ledger before the request
// that caused it is answered, so after this, no more mail can arrive for the
// requests made so far.
func (ta *testApp) waitMessagesDone(timeout time.Duration) {
	ta.t.Helper()
	ta.waitFor(timeout, func() error {
		if n := ta.count(`SELECT count(*) FROM transactional_messages WHERE status = 'queued'`); n != 0 {
			return fmt.Errorf("%d transactional message(s) still queued", n)
		}
		return nil
	})
}

func (ta *testApp) consentActions(email string) string {
	ta.t.Helper()
	var acts []string
	err := ta.Store.DB.Select(&acts, `SELECT action || '/' || source FROM consent_log cl JOIN subscribers sr ON sr.id = cl.subscriber_id WHERE sr.email = $1 ORDER BY cl.id`, email)
	if err != nil {
		ta.t.Fatal(err)
	}
	return strings.Join(acts, ",")
}
