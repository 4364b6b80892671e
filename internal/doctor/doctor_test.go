package doctor_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/envoi/envoi/internal/doctor"
	"github.com/envoi/envoi/internal/doctor/dnstest"
)

var (
	keysOnce            sync.Once
	rsaKey, rsaWeak     *rsa.PrivateKey
	edKey, edOther      ed25519.PrivateKey
	rsaRecord, edRecord string
)

func keys(t *testing.T) {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaWeak, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
			panic(err)
		}
		_, edKey, _ = ed25519.GenerateKey(rand.Reader)
		_, edOther, _ = ed25519.GenerateKey(rand.Reader)
		rsaRecord, _ = doctor.DKIMRecord(rsaKey.Public())
		edRecord, _ = doctor.DKIMRecord(edKey.Public())
	})
}

// txt is a TXT zone line, the value split into 255-byte strings.
func txt(name, value string) string {
	var parts []string
	for len(value) > 255 {
		parts = append(parts, value[:255])
		value = value[255:]
	}
	parts = append(parts, value)
	return fmt.Sprintf("%s TXT \"%s\"", name, strings.Join(parts, "\" \""))
}

// goodZone: every check passes for good.test, relay.test and bounces.good.test.
func goodZone() []string {
	return []string{
		`good.test. TXT "v=spf1 include:_spf.relay.test ~all"`,
		`good.test. TXT "google-site-verification=abc"`,
		`good.test. MX 10 mx.good.test.`,
		`mx.good.test. A 192.0.2.30`,
		`_spf.relay.test. TXT "v=spf1 ip4:192.0.2.0/28 ip6:2001:db8:10::/48 -all"`,
		`relay.test. A 192.0.2.10`,
		txt("sel._domainkey.good.test.", rsaRecord),
		`_dmarc.good.test. TXT "v=DMARC1; p=reject; rua=mailto:dmarc@good.test"`,
		`bounces.good.test. MX 10 in.good.test.`,
		`bounces.good.test. TXT "v=spf1 include:_spf.relay.test -all"`,
		`in.good.test. A 192.0.2.40`,
	}
}

func goodInput() doctor.Input {
	return doctor.Input{Domain: "good.test", FromDomain: "good.test", InboundDomain: "bounces.good.test", RelayHost: "relay.test",
		DKIMDomain: "good.test", DKIMSelector: "sel", DKIMPublicKey: rsaKey.Public()}
}

// without drops the lines that start with any of prefixes.
func without(zone []string, prefixes ...string) []string {
	var out []string
	for _, l := range zone {
		drop := false
		for _, p := range prefixes {
			drop = drop || strings.HasPrefix(l, p)
		}
		if !drop {
			out = append(out, l)
		}
	}
	return out
}

type want struct {
	status doctor.Status
	has    []string // in found or fix
}

func TestCheck(t *testing.T) {
	keys(t)
	ok := want{status: doctor.OK}
	loop := []string{`a.loop.test. TXT "v=spf1 include:b.loop.test -all"`, `b.loop.test. TXT "v=spf1 include:a.loop.test -all"`}
	var chain []string
	for i := 0; i < 11; i++ {
		chain = append(chain, fmt.Sprintf(`c%d.chain.test. TXT "v=spf1 include:c%d.chain.test ip4:192.0.2.10 -all"`, i, i+1))
	}
	chain = append(chain, `c11.chain.test. TXT "v=spf1 -all"`)
	big := "v=spf1"
	for i := 0; i < 90; i++ {
		big += fmt.Sprintf(" ip4:198.51.100.%d", i)
	}
	big += " include:_spf.relay.test -all"
	for _, c := range []struct {
		name  string
		zone  []string
		input func(*doctor.Input)
		fail  []string // names answering SERVFAIL
		want  map[string]want
	}{
		{name: "Good", zone: goodZone(), want: map[string]want{
			"spf": {doctor.OK, []string{"the relay relay.test (192.0.2.10) passes", "1 of 10 DNS lookups"}}, "spf-inbound": ok,
			"dkim": {doctor.OK, []string{"k=rsa, 2048 bits", "matches"}}, "dmarc": {doctor.OK, []string{"DKIM and SPF aligned"}},
			"inbound-mx": {doctor.OK, []string{"in.good.test (10) → 192.0.2.40", "must reach Envoi's inbound listener"}}, "from-domain": ok}},
		{name: "NoSPF", zone: without(goodZone(), `good.test. TXT "v=spf1`), want: map[string]want{
			"spf": {doctor.Fail, []string{`Add a TXT record on good.test: "v=spf1 ip4:192.0.2.10 ~all"`}}, "spf-inbound": ok, "dmarc": ok}},
		{name: "TwoSPF", zone: append(goodZone(), `good.test. TXT "v=spf1 ip4:192.0.2.10 -all"`), want: map[string]want{
			"spf": {doctor.Fail, []string{"2 SPF records", "Merge them into a single TXT record on good.test"}}}},
		{name: "RelayNotAllowed", zone: append(without(goodZone(), "_spf.relay.test."), `_spf.relay.test. TXT "v=spf1 ip4:198.51.100.0/24 -all"`), want: map[string]want{
			"spf":         {doctor.Fail, []string{"not allowed", "Add ip4:192.0.2.10", "SPF record of good.test"}},
			"spf-inbound": {doctor.Fail, []string{"SPF record of bounces.good.test"}},
			"dmarc":       {doctor.OK, []string{"DKIM aligned", "does not pass"}}}},
		{name: "RelayByMX", zone: append(without(goodZone(), `good.test. TXT "v=spf1`), `good.test. TXT "v=spf1 mx a:relay.test/24 -all"`), want: map[string]want{
			"spf": {doctor.OK, []string{"passes", "2 of 10"}}}},
		{name: "RelayIPv6", zone: append(goodZone(), `relay.test. AAAA 2001:db8:11::1`), want: map[string]want{
			"spf": {doctor.Fail, []string{"Add ip6:2001:db8:11::1"}}}},
		{name: "Exists", zone: append(without(goodZone(), `good.test. TXT "v=spf1`), `good.test. TXT "v=spf1 exists:%{i}._spf.good.test -all"`), want: map[string]want{
			"spf": {doctor.Warn, []string{"unless exists:%{i}._spf.good.test (in good.test) allows it", "add ip4:192.0.2.10"}}}},
		{name: "PTR", zone: append(without(goodZone(), `good.test. TXT "v=spf1`), `good.test. TXT "v=spf1 ptr include:_spf.relay.test -all"`), want: map[string]want{
			"spf": {doctor.Warn, []string{"uses ptr", "passes"}}}},
		{name: "PlusAll", zone: append(without(goodZone(), `good.test. TXT "v=spf1`), `good.test. TXT "v=spf1 include:_spf.relay.test +all"`), want: map[string]want{
			"spf": {doctor.Fail, []string{"Replace +all with ~all"}}}},
		{name: "QuestionAll", zone: append(without(goodZone(), `good.test. TXT "v=spf1`), `good.test. TXT "v=spf1 include:_spf.relay.test ?all"`), want: map[string]want{
			"spf": {doctor.Warn, []string{"Replace ?all"}}}},
		{name: "IncludeLoop", zone: append(append(without(goodZone(), `good.test. TXT "v=spf1`), `good.test. TXT "v=spf1 include:a.loop.test -all"`), loop...), want: map[string]want{
			"spf": {doctor.Fail, []string{"loop", "at most 10"}}}},
		{name: "TooManyLookups", zone: append(append(without(goodZone(), `good.test. TXT "v=spf1`), `good.test. TXT "v=spf1 include:c0.chain.test -all"`), chain...), want: map[string]want{
			"spf": {doctor.Fail, []string{"more than 10", "at most 10"}}}},
		{name: "BrokenInclude", zone: append(without(goodZone(), `good.test. TXT "v=spf1`), `good.test. TXT "v=spf1 include:gone.test -all"`), want: map[string]want{
			"spf": {doctor.Fail, []string{"gone.test", "has no SPF record"}}}},
		{name: "BigSPFOverTCP", zone: append(without(goodZone(), `good.test. TXT "v=spf1`), txt("good.test.", big)), want: map[string]want{
			"spf": {doctor.OK, []string{"passes"}}}},
		{name: "LocalRelay", zone: goodZone(), input: func(in *doctor.Input) { in.RelayHost = "127.0.0.1" }, want: map[string]want{
			"spf": {doctor.Warn, []string{"development"}}}},
		{name: "DKIMMismatch", zone: goodZone(), input: func(in *doctor.Input) { in.DKIMPublicKey = edKey.Public() }, want: map[string]want{
			"dkim": {doctor.Fail, []string{"does not match", "Replace the TXT record at sel._domainkey.good.test with \"" + edRecord}}}},
		{name: "DKIMMissing", zone: without(goodZone(), "sel._domainkey"), want: map[string]want{
			"dkim": {doctor.Fail, []string{"no DKIM key at sel._domainkey.good.test", "Publish TXT sel._domainkey.good.test \"" + rsaRecord + "\""}}}},
		{name: "DKIMMissingNoKey", zone: without(goodZone(), "sel._domainkey"), input: func(in *doctor.Input) { in.DKIMPublicKey = nil }, want: map[string]want{
			"dkim": {doctor.Fail, []string{"Publish TXT sel._domainkey.good.test \"v=DKIM1; k=rsa; p=<the base64 public key"}}}},
		{name: "DKIMNoKeyToCompare", zone: goodZone(), input: func(in *doctor.Input) { in.DKIMPublicKey = nil }, want: map[string]want{
			"dkim": {doctor.Warn, []string{"not checked"}}}},
		{name: "DKIMRevoked", zone: append(without(goodZone(), "sel._domainkey"), `sel._domainkey.good.test. TXT "v=DKIM1; k=rsa; p="`), want: map[string]want{
			"dkim": {doctor.Fail, []string{"revoked", "Publish TXT"}}}},
		{name: "DKIMEd25519", zone: append(without(goodZone(), "sel._domainkey"), txt("sel._domainkey.good.test.", edRecord)),
			input: func(in *doctor.Input) { in.DKIMPublicKey = edKey.Public() }, want: map[string]want{"dkim": {doctor.OK, []string{"k=ed25519", "matches"}}}},
		{name: "DKIMEd25519Mismatch", zone: append(without(goodZone(), "sel._domainkey"), txt("sel._domainkey.good.test.", edRecord)),
			input: func(in *doctor.Input) { in.DKIMPublicKey = edOther.Public() }, want: map[string]want{"dkim": {doctor.Fail, []string{"does not match"}}}},
		{name: "DKIMWeak", zone: append(without(goodZone(), "sel._domainkey"), txt("sel._domainkey.good.test.", mustRecord(rsaWeak.Public()))),
			input: func(in *doctor.Input) { in.DKIMPublicKey = rsaWeak.Public() }, want: map[string]want{"dkim": {doctor.Warn, []string{"1024 bits", "2048-bit"}}}},
		{name: "DKIMNotConfigured", zone: goodZone(), input: func(in *doctor.Input) { in.DKIMDomain, in.DKIMSelector, in.DKIMPublicKey = "", "", nil }, want: map[string]want{
			"dkim": {doctor.Warn, []string{"not DKIM-signed; Gmail and Yahoo require it"}}, "dmarc": {doctor.OK, []string{"SPF aligned", "not DKIM-signed"}}}},
		{name: "DMARCMissing", zone: without(goodZone(), "_dmarc."), want: map[string]want{
			"dmarc": {doctor.Fail, []string{"no DMARC record", `Add TXT _dmarc.good.test "v=DMARC1; p=none; rua=mailto:`}}}},
		{name: "DMARCNotDMARC", zone: append(without(goodZone(), "_dmarc."), `_dmarc.good.test. TXT "p=reject"`), want: map[string]want{
			"dmarc": {doctor.Fail, []string{"does not start with v=DMARC1"}}}},
		{name: "DMARCNone", zone: append(without(goodZone(), "_dmarc."), `_dmarc.good.test. TXT "v=DMARC1; p=none"`), want: map[string]want{
			"dmarc": {doctor.Warn, []string{"monitoring only", "p=quarantine", "no rua="}}}},
		{name: "DMARCTwo", zone: append(goodZone(), `_dmarc.good.test. TXT "v=DMARC1; p=none"`), want: map[string]want{
			"dmarc": {doctor.Fail, []string{"2 DMARC records"}}}},
		{name: "DMARCOrgFallback", zone: append(goodZone(), `news.good.test. TXT "v=spf1 include:_spf.relay.test -all"`, `news.good.test. A 192.0.2.50`),
			input: func(in *doctor.Input) { in.Domain, in.FromDomain = "news.good.test", "news.good.test" }, want: map[string]want{
				"dmarc": {doctor.OK, []string{"_dmarc.good.test", "DKIM and SPF aligned with news.good.test"}}, "spf": ok, "from-domain": {doctor.OK, []string{"no MX but an address"}}}},
		{name: "DMARCSubdomainPolicy", zone: append(without(goodZone(), "_dmarc."), `_dmarc.good.test. TXT "v=DMARC1; p=reject; sp=none"`, `news.good.test. TXT "v=spf1 include:_spf.relay.test -all"`, `news.good.test. A 192.0.2.50`),
			input: func(in *doctor.Input) { in.Domain, in.FromDomain = "news.good.test", "news.good.test" }, want: map[string]want{
				"dmarc": {doctor.Warn, []string{"sp=none"}}}},
		{name: "DMARCJunkThenOrg", zone: append(goodZone(), `_dmarc.news.good.test. TXT "p=reject"`, `news.good.test. TXT "v=spf1 include:_spf.relay.test -all"`, `news.good.test. A 192.0.2.50`),
			input: func(in *doctor.Input) { in.Domain, in.FromDomain = "news.good.test", "news.good.test" }, want: map[string]want{
				"dmarc": {doctor.Warn, []string{"does not start with v=DMARC1", "apply _dmarc.good.test", "Delete it"}}}},
		{name: "SPFOfFromDomain", zone: append(goodZone(), `news.good.test. TXT "v=spf1 -all"`, `news.good.test. A 192.0.2.50`),
			input: func(in *doctor.Input) { in.FromDomain, in.InboundDomain = "news.good.test", "" }, want: map[string]want{
				"spf": ok, "spf-inbound": {}, "spf-from": {doctor.Fail, []string{"envelope sender is the From address", "SPF record of news.good.test"}},
				"dmarc": {doctor.OK, []string{"DKIM aligned with news.good.test", "does not pass"}}}},
		{name: "DKIMTesting", zone: append(without(goodZone(), "sel._domainkey"), txt("sel._domainkey.good.test.", strings.Replace(rsaRecord, "k=rsa;", "k=rsa; t=y;", 1))), want: map[string]want{
			"dkim": {doctor.Warn, []string{"t=y", "Remove t=y"}}}},
		{name: "Misaligned", zone: append(goodZone(), txt("sel._domainkey.other.test.", rsaRecord),
			`bounces.other.test. MX 10 in.good.test.`, `bounces.other.test. TXT "v=spf1 include:_spf.relay.test -all"`),
			input: func(in *doctor.Input) { in.DKIMDomain, in.InboundDomain = "other.test", "bounces.other.test" }, want: map[string]want{
				"dkim": ok, "spf-inbound": ok,
				"dmarc": {doctor.Fail, []string{"neither DKIM nor SPF is aligned", "d=other.test", "bounces.other.test is not aligned", "ENVOI_DKIM_DOMAIN=good.test"}}}},
		{name: "MisalignedDKIMOnly", zone: append(goodZone(), txt("sel._domainkey.other.test.", rsaRecord)),
			input: func(in *doctor.Input) { in.DKIMDomain = "other.test" }, want: map[string]want{
				"dmarc": {doctor.OK, []string{"SPF aligned", "d=other.test"}}}},
		{name: "StrictAlignment", zone: append(append(without(goodZone(), "_dmarc."), `_dmarc.good.test. TXT "v=DMARC1; p=reject; adkim=s; aspf=s"`), txt("sel._domainkey.mail.good.test.", rsaRecord)),
			input: func(in *doctor.Input) { in.DKIMDomain = "mail.good.test" }, want: map[string]want{
				"dmarc": {doctor.Fail, []string{"(strict)", "ENVOI_DKIM_DOMAIN=good.test exactly"}}}},
		{name: "InboundNoMX", zone: without(goodZone(), "bounces.good.test. MX"), want: map[string]want{
			"inbound-mx": {doctor.Fail, []string{"no MX and no A record", "Add MX bounces.good.test 10"}}}},
		{name: "InboundAFallback", zone: append(without(goodZone(), "bounces.good.test. MX"), `bounces.good.test. A 192.0.2.41`), want: map[string]want{
			"inbound-mx": {doctor.Warn, []string{"192.0.2.41", "Add MX bounces.good.test"}}}},
		{name: "InboundMXDead", zone: without(goodZone(), "in.good.test."), want: map[string]want{
			"inbound-mx": {doctor.Fail, []string{"in.good.test (10) → no address", "Give in.good.test an A/AAAA record"}}}},
		{name: "InboundNotConfigured", zone: goodZone(), input: func(in *doctor.Input) { in.InboundDomain = "" }, want: map[string]want{
			"inbound-mx": {doctor.Warn, []string{"bounces go back to the From address", "not processed"}}, "dmarc": ok, "spf-inbound": {}}},
		{name: "FromDomainNoMX", zone: without(goodZone(), "good.test. MX"), want: map[string]want{
			"from-domain": {doctor.Fail, []string{"neither MX nor A", "Add MX good.test"}}}},
		{name: "ServFail", zone: goodZone(), fail: []string{"_dmarc.good.test", "bounces.good.test"}, want: map[string]want{
			"dmarc": {doctor.Warn, []string{"could not look up TXT _dmarc.good.test: SERVFAIL"}}, "inbound-mx": {doctor.Warn, []string{"could not look up"}},
			"spf-inbound": {doctor.Warn, []string{"could not look up"}}, "spf": ok}},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := dnstest.Start(t, c.zone...)
			for _, n := range c.fail {
				srv.Fail(n)
			}
			in := goodInput()
			in.Resolver = srv.Addr
			if c.input != nil {
				c.input(&in)
			}
			rep := doctor.Check(context.Background(), in)
			for name, w := range c.want {
				got := rep.Get(name)
				if w.status == "" { // the check must be absent
					if got.Name != "" {
						t.Errorf("%s: want no such check, got %+v", name, got)
					}
					continue
				}
				if got.Status != w.status {
					t.Errorf("%s: status %s, want %s\n  found: %s\n  fix: %s", name, got.Status, w.status, got.Found, got.Fix)
				}
				for _, s := range w.has {
					if !strings.Contains(got.Found+" | "+got.Fix, s) {
						t.Errorf("%s: want %q in\n  found: %s\n  fix: %s", name, s, got.Found, got.Fix)
					}
				}
			}
			if c.name == "Good" && rep.Failed() {
				t.Errorf("good zone failed: %+v", rep)
			}
			if t.Failed() {
				var b bytes.Buffer
				rep.WriteText(&b, false)
				t.Log("\n" + b.String())
			}
		})
	}
}

func mustRecord(pub crypto.PublicKey) string {
	r, err := doctor.DKIMRecord(pub)
	if err != nil {
		panic(err)
	}
	return r
}

// TestUnreachableResolver: no answer at all is inconclusive (warn), never fail.
func TestUnreachableResolver(t *testing.T) {
	keys(t)
	in := goodInput()
	in.Resolver = "127.0.0.1:1"
	rep := doctor.Check(context.Background(), in)
	for _, c := range rep.Checks {
		if c.Status != doctor.Warn {
			t.Errorf("%s: %s (%s), want warn", c.Name, c.Status, c.Found)
		}
	}
}

// TestPublicKeyFromFile reads the key formats internal/send signs with.
func TestPublicKeyFromFile(t *testing.T) {
	keys(t)
	dir := t.TempDir()
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(edKey)
	rsa8, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	for _, c := range []struct {
		name, typ string
		der       []byte
		pub       crypto.PublicKey
	}{
		{"rsa1.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), rsaKey.Public()},
		{"rsa8.pem", "PRIVATE KEY", rsa8, rsaKey.Public()},
		{"ed.pem", "PRIVATE KEY", pkcs8, edKey.Public()},
	} {
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: c.typ, Bytes: c.der}), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := doctor.PublicKeyFromFile(p)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		a, _ := doctor.DKIMRecord(got)
		b, _ := doctor.DKIMRecord(c.pub)
		if a != b {
			t.Errorf("%s: key differs", c.name)
		}
	}
	if _, err := doctor.PublicKeyFromFile(filepath.Join(dir, "none.pem")); err == nil {
		t.Error("a missing file loaded")
	}
}
