// Package doctor checks a sending domain's DNS (SPF, DKIM, DMARC, MX) and says
// in plain words what to fix. It asks one DNS server (Input.Resolver) for
// everything, the relay's addresses included, and opens nothing else.
package doctor

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Status is how a check came out.
type Status string

const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "fail"
)

// rank orders statuses by gravity.
func (s Status) rank() int {
	switch s {
	case Fail:
		return 2
	case Warn:
		return 1
	}
	return 0
}

// Result is one check: what was found and, unless all is well, what to do.
type Result struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Found  string `json:"found"`
	Fix    string `json:"fix"`
}

// Report is every check of one domain, in a fixed order.
type Report struct {
	Domain string   `json:"domain"`
	Checks []Result `json:"checks"`
}

// Failed reports whether any check failed.
func (r Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return true
		}
	}
	return false
}

// Get returns the check named name (zero Result if none).
func (r Report) Get(name string) Result {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return Result{}
}

// Input is what the doctor checks. Domain is required; the rest may be empty.
type Input struct {
	Domain        string           // the domain whose mail is checked (SPF, DMARC)
	FromDomain    string           // ENVOI_FROM's domain; "" is Domain
	InboundDomain string           // the VERP envelope sender's domain; "" if bounces are not processed
	RelayHost     string           // the SMTP relay (host name or IP) whose addresses SPF must allow
	DKIMDomain    string           // d=; "" if mail is not signed
	DKIMSelector  string           // s=
	DKIMPublicKey crypto.PublicKey // *rsa.PublicKey or ed25519.PublicKey; nil if none
	Resolver      string           // host:port of the DNS server to ask
}

// Check names, in the order of the report.
const (
	CheckSPF         = "spf"
	CheckSPFInbound  = "spf-inbound" // the inbound domain's, when it is the envelope sender's
	CheckSPFFrom     = "spf-from"    // the From domain's, when it is the envelope sender's and not Domain
	CheckDKIM        = "dkim"
	CheckDMARC       = "dmarc"
	CheckInboundMX   = "inbound-mx"
	CheckFromAddress = "from-domain"
)

// Check runs every check against in.Resolver.
func Check(ctx context.Context, in Input) Report {
	in.Domain = normDomain(in.Domain)
	in.FromDomain = normDomain(in.FromDomain)
	if in.FromDomain == "" {
		in.FromDomain = in.Domain
	}
	in.InboundDomain = normDomain(in.InboundDomain)
	in.DKIMDomain = normDomain(in.DKIMDomain)
	in.RelayHost = strings.TrimSuffix(strings.TrimSpace(in.RelayHost), ".")
	r := newResolver(in.Resolver)
	rep := Report{Domain: in.Domain}

	spf := checkSPF(ctx, r, CheckSPF, in.Domain, in.RelayHost)
	rep.Checks = append(rep.Checks, spf.Result)
	envelope := in.FromDomain
	envSPF := spf
	if in.InboundDomain != "" {
		envelope = in.InboundDomain
		if in.InboundDomain != in.Domain {
			envSPF = checkSPF(ctx, r, CheckSPFInbound, in.InboundDomain, in.RelayHost)
		} else {
			envSPF.Name = CheckSPFInbound
		}
		rep.Checks = append(rep.Checks, envSPF.Result)
	} else if in.FromDomain != in.Domain {
		envSPF = checkSPF(ctx, r, CheckSPFFrom, in.FromDomain, in.RelayHost)
		envSPF.Found = "(no inbound domain: the envelope sender is the From address) " + envSPF.Found
		rep.Checks = append(rep.Checks, envSPF.Result)
	}
	rep.Checks = append(rep.Checks, checkDKIM(ctx, r, in))
	rep.Checks = append(rep.Checks, checkDMARC(ctx, r, in, envelope, envSPF))
	rep.Checks = append(rep.Checks, checkInboundMX(ctx, r, in.InboundDomain, in.FromDomain))
	rep.Checks = append(rep.Checks, checkFromDomain(ctx, r, in.FromDomain))
	return rep
}

func normDomain(d string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
}

// orgDomain is d's organizational domain (the public suffix plus one label).
func orgDomain(d string) string {
	o, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return o
}

// finding gathers a check's observations and fixes, the worst status winning.
type finding struct {
	status Status
	found  []string
	fix    []string
}

func (f *finding) add(s Status, found, fix string) {
	if s.rank() > f.status.rank() {
		f.status = s
	}
	if found != "" {
		f.found = append(f.found, found)
	}
	if fix != "" {
		f.fix = append(f.fix, fix)
	}
}

func (f *finding) result(name string) Result {
	s := f.status
	if s == "" {
		s = OK
	}
	return Result{Name: name, Status: s, Found: strings.Join(f.found, "; "), Fix: strings.Join(f.fix, " ")}
}

// tempFound words a look-up that got no answer.
func tempFound(err error) string {
	return err.Error() + " (the check is inconclusive)"
}

const tempFix = "Run envoi doctor again later, or point ENVOI_DNS_RESOLVER at a DNS server that answers."

// WriteText prints the report for people: one line per check, advice indented.
// ascii uses OK/!!/XX instead of ✔/!/✘.
func (r Report) WriteText(w io.Writer, ascii bool) {
	marks, arrow := map[Status]string{OK: "✔", Warn: "!", Fail: "✘"}, "→"
	if ascii {
		marks, arrow = map[Status]string{OK: "ok", Warn: "!!", Fail: "XX"}, "->"
	}
	fmt.Fprintf(w, "envoi doctor: %s\n", r.Domain)
	var fails, warns int
	for _, c := range r.Checks {
		fmt.Fprintf(w, "%-2s %-12s %s\n", marks[c.Status], c.Name, c.Found)
		if c.Fix != "" {
			for _, l := range strings.Split(c.Fix, "\n") {
				fmt.Fprintf(w, "   %-12s %s %s\n", "", arrow, l)
			}
		}
		switch c.Status {
		case Fail:
			fails++
		case Warn:
			warns++
		}
	}
	fmt.Fprintf(w, "%d failed, %d warnings, %d ok\n", fails, warns, len(r.Checks)-fails-warns)
}
