package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/envoi/envoi/internal/doctor"
	"github.com/envoi/envoi/internal/doctor/dnstest"
)

// TestDoctor runs envoi doctor end to end against a local DNS server: the
// configuration's relay, DKIM key and From address are what it checks, and no
// database or Redis is opened (none runs at the URLs given).
func TestDoctor(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, _ := doctor.DKIMRecord(key.Public())
	zone := []string{
		`good.test. TXT "v=spf1 include:_spf.relay.test -all"`,
		`good.test. MX 10 mx.good.test.`,
		`mx.good.test. A 192.0.2.30`,
		`_spf.relay.test. TXT "v=spf1 ip4:192.0.2.10 -all"`,
		`relay.test. A 192.0.2.10`,
		`sel._domainkey.good.test. TXT "` + rec + `"`,
		`_dmarc.good.test. TXT "v=DMARC1; p=reject"`,
		`bounces.good.test. MX 10 mx.good.test.`,
		`bounces.good.test. TXT "v=spf1 include:_spf.relay.test -all"`,
	}
	srv := dnstest.Start(t, zone...)
	env := map[string]string{
		"ENVOI_SECRET_KEY":    strings.Repeat("k", 40),
		"ENVOI_FROM":          "News <news@good.test>",
		"ENVOI_SMTP_URL":      "smtp://relay.test:587?tls=starttls",
		"ENVOI_DKIM_DOMAIN":   "good.test",
		"ENVOI_DKIM_SELECTOR": "sel",
		"ENVOI_DKIM_KEY_FILE": keyFile,
		"ENVOI_DNS_RESOLVER":  srv.Addr,
		"ENVOI_DATABASE_URL":  "postgres://nobody@127.0.0.1:1/none?sslmode=disable",
		"ENVOI_REDIS_URL":     "redis://127.0.0.1:1/0",
		"ENVOI_LOG_LEVEL":     "error",
	}
	doc := func(env map[string]string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"doctor"}, args...), &out, &errb, func(k string) string { return env[k] })
		return code, out.String(), errb.String()
	}

	env["ENVOI_INBOUND_DOMAIN"] = "bounces.good.test"
	code, out, errs := doc(env, "--domain", "good.test", "--json")
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", code, out, errs)
	}
	var rep struct {
		Domain string
		Checks []struct{ Name, Status, Found, Fix string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]string{}
	for _, c := range rep.Checks {
		got[c.Name] = c.Status
	}
	wantAll := map[string]string{"spf": "ok", "spf-inbound": "ok", "dkim": "ok", "dmarc": "ok", "inbound-mx": "ok", "from-domain": "ok"}
	if rep.Domain != "good.test" || len(got) != len(wantAll) {
		t.Fatalf("report %+v", rep)
	}
	for n, s := range wantAll {
		if got[n] != s {
			t.Errorf("%s: %s, want %s\n%s", n, got[n], s, out)
		}
	}
	if !strings.Contains(out, `"found": "sel._domainkey.good.test: k=ed25519; matches ENVOI_DKIM_KEY_FILE"`) {
		t.Errorf("JSON output:\n%s", out)
	}

	// --inbound wins over the environment; a broken zone exits 1 and says why.
	env2 := map[string]string{}
	for k, v := range env {
		env2[k] = v
	}
	broken := dnstest.Start(t, append(zone[:6:6], `other.test. TXT "v=spf1 -all"`)...)
	env2["ENVOI_DNS_RESOLVER"] = broken.Addr
	code, out, _ = doc(env2, "--domain", "good.test", "--inbound", "other.test")
	if code != 1 {
		t.Errorf("broken zone: exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{"envoi doctor: good.test", "✘  dmarc", `Add TXT _dmarc.good.test "v=DMARC1; p=none`,
		"✘  spf-inbound", "Add ip4:192.0.2.10", "SPF record of other.test", "✘  inbound-mx", "Add MX other.test 10", "✔  dkim", "✔  spf "} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}

	// Usage errors exit 2; a key file that does not load exits 1.
	if code, _, errs := doc(env); code != 2 || !strings.Contains(errs, "usage: envoi doctor --domain") {
		t.Errorf("no --domain: exit %d %q", code, errs)
	}
	if code, _, errs := doc(env, "--domain", "news@good.test"); code != 2 || !strings.Contains(errs, "not a domain name") {
		t.Errorf("an address as --domain: exit %d %q", code, errs)
	}
	if code, _, _ := doc(env, "--domain", "good.test", "extra"); code != 2 {
		t.Errorf("extra argument: exit %d", code)
	}
	env2["ENVOI_DKIM_KEY_FILE"] = filepath.Join(t.TempDir(), "none.pem")
	if code, _, errs := doc(env2, "--domain", "good.test"); code != 1 || !strings.Contains(errs, "ENVOI_DKIM_KEY_FILE") {
		t.Errorf("missing key file: exit %d %q", code, errs)
	}
}
