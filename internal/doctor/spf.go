package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// maxSPFLookups is RFC 7208 4.6.4's limit on DNS-querying mechanisms and
// modifiers (include, a, mx, ptr, exists, redirect) over a whole evaluation.
const maxSPFLookups = 10

// spfOutcome is an SPF check's result plus what DMARC's alignment needs.
type spfOutcome struct {
	Result
	passes bool // the relay's addresses all pass (or the relay is unknown/local)
}

// spfWalk evaluates one SPF tree for a set of addresses, visiting every
// mechanism (not only up to the first match) so the lookup count is the
// record's worst case, as the receivers' limit applies to it.
type spfWalk struct {
	r       *resolver
	ctx     context.Context
	ips     []net.IP
	lookups int
	chain   []string // include/redirect path, for loop reporting
	skipped []string // exists: and ptr mechanisms, which are not evaluated
}

var errTooManyLookups = errors.New("too many DNS lookups")

// spfPermError is a broken record somewhere in the tree.
type spfPermError struct{ msg string }

func (e *spfPermError) Error() string { return e.msg }

// records returns the v=spf1 records of domain.
func spfRecords(txts []string) []string {
	var out []string
	for _, t := range txts {
		if l := strings.ToLower(t); l == "v=spf1" || strings.HasPrefix(l, "v=spf1 ") {
			out = append(out, t)
		}
	}
	return out
}

func (w *spfWalk) count(what string) error {
	w.lookups++
	if w.lookups > maxSPFLookups {
		return fmt.Errorf("%w (more than %d, at %s via %s)", errTooManyLookups, maxSPFLookups, what, strings.Join(w.chain, " → "))
	}
	return nil
}

// eval returns, for each address of w.ips, the qualifier of the first mechanism
// of domain's record that matches it ("" when none does: neutral).
func (w *spfWalk) eval(domain string) ([]byte, error) {
	w.chain = append(w.chain, domain)
	defer func() { w.chain = w.chain[:len(w.chain)-1] }()
	txts, err := w.r.TXT(w.ctx, domain)
	if err != nil {
		return nil, err
	}
	recs := spfRecords(txts)
	switch len(recs) {
	case 0:
		return nil, &spfPermError{fmt.Sprintf("%s (reached through %s) has no SPF record", domain, strings.Join(w.chain[:len(w.chain)-1], " → "))}
	case 1:
	default:
		return nil, &spfPermError{fmt.Sprintf("%s (reached through %s) has %d SPF records", domain, strings.Join(w.chain[:len(w.chain)-1], " → "), len(recs))}
	}
	res := make([]byte, len(w.ips))
	matched := make([]bool, len(w.ips))
	set := func(i int, q byte) {
		if !matched[i] {
			matched[i], res[i] = true, q
		}
	}
	var redirect string
	hasAll := false
	for _, term := range strings.Fields(recs[0])[1:] {
		lt := strings.ToLower(term)
		if v, ok := strings.CutPrefix(lt, "redirect="); ok {
			redirect = v
			continue
		}
		if strings.Contains(lt, "=") && !strings.ContainsAny(strings.SplitN(lt, "=", 2)[0], ":/") {
			continue // another modifier (exp=…)
		}
		q := byte('+')
		if strings.ContainsRune("+-~?", rune(lt[0])) {
			q, lt = lt[0], lt[1:]
		}
		name, arg, _ := strings.Cut(lt, ":")
		if i := strings.IndexByte(name, '/'); i >= 0 { // a/24, mx/24
			name, arg = name[:i], lt[i:]
		}
		switch name {
		case "all":
			hasAll = true
			for i := range w.ips {
				set(i, q)
			}
		case "ip4", "ip6":
			n, err := parseCIDR(arg)
			if err != nil {
				return nil, &spfPermError{fmt.Sprintf("%s: bad %s", domain, term)}
			}
			for i, ip := range w.ips {
				if n.Contains(ip) {
					set(i, q)
				}
			}
		case "a", "mx":
			if err := w.count(name + " in " + domain); err != nil {
				return nil, err
			}
			host, c4, c6 := splitDualCIDR(arg, domain)
			var hosts []string
			if name == "mx" {
				mxs, _, err := w.r.MX(w.ctx, host)
				if err != nil {
					return nil, err
				}
				for _, mx := range mxs {
					hosts = append(hosts, mx.Mx)
				}
			} else {
				hosts = []string{host}
			}
			for _, h := range hosts {
				addrs, err := w.r.IPs(w.ctx, h)
				if err != nil {
					return nil, err
				}
				for _, a := range addrs {
					bits, size := c6, 128
					if a.To4() != nil {
						bits, size = c4, 32
					}
					n := &net.IPNet{IP: a, Mask: net.CIDRMask(bits, size)}
					n.IP = n.IP.Mask(n.Mask)
					for i, ip := range w.ips {
						if n.Contains(ip) {
							set(i, q)
						}
					}
				}
			}
		case "include":
			if err := w.count("include:" + arg); err != nil {
				return nil, err
			}
			if slices.Contains(w.chain, arg) {
				return nil, fmt.Errorf("%w (include loop: %s → %s)", errTooManyLookups, strings.Join(w.chain, " → "), arg)
			}
			inner, err := w.eval(arg)
			if err != nil {
				return nil, err
			}
			for i := range w.ips {
				if inner[i] == '+' {
					set(i, q)
				}
			}
		case "exists", "ptr":
			// Macros and reverse look-ups are not evaluated: they count, match nothing here.
			if err := w.count(name + " in " + domain); err != nil {
				return nil, err
			}
			w.skipped = append(w.skipped, term+" (in "+domain+")")
		default:
			return nil, &spfPermError{fmt.Sprintf("%s: unknown mechanism %q", domain, term)}
		}
	}
	if redirect != "" && !hasAll {
		if err := w.count("redirect=" + redirect); err != nil {
			return nil, err
		}
		if slices.Contains(w.chain, redirect) {
			return nil, fmt.Errorf("%w (redirect loop: %s → %s)", errTooManyLookups, strings.Join(w.chain, " → "), redirect)
		}
		inner, err := w.eval(redirect)
		if err != nil {
			return nil, err
		}
		for i := range w.ips {
			set(i, inner[i])
		}
	}
	return res, nil
}

// parseCIDR parses an ip4:/ip6: argument, a bare address being a /32 or /128.
func parseCIDR(s string) (*net.IPNet, error) {
	if !strings.Contains(s, "/") {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, errors.New("bad address")
		}
		if ip.To4() != nil {
			s += "/32"
		} else {
			s += "/128"
		}
	}
	_, n, err := net.ParseCIDR(s)
	return n, err
}

// splitDualCIDR splits "domain/24//64" (each part optional) of a: and mx:.
func splitDualCIDR(arg, def string) (host string, c4, c6 int) {
	host, c4, c6 = arg, 32, 128
	if i := strings.Index(host, "//"); i >= 0 {
		if n, err := strconv.Atoi(host[i+2:]); err == nil && n >= 0 && n <= 128 {
			c6 = n
		}
		host = host[:i]
	}
	if i := strings.IndexByte(host, '/'); i >= 0 {
		if n, err := strconv.Atoi(host[i+1:]); err == nil && n >= 0 && n <= 32 {
			c4 = n
		}
		host = host[:i]
	}
	if host == "" {
		host = def
	}
	return host, c4, c6
}

// isLocal reports whether the relay is this machine (development).
func isLocal(host string) bool {
	h := strings.ToLower(strings.Trim(host, "[]"))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// allQualifier returns the qualifier of the record's own all ("" if none).
func allQualifier(rec string) (byte, bool) {
	for _, term := range strings.Fields(strings.ToLower(rec))[1:] {
		switch term {
		case "all", "+all":
			return '+', true
		case "-all", "~all", "?all":
			return term[0], true
		}
	}
	return 0, false
}

// checkSPF checks domain's SPF record and whether it authorizes the relay.
func checkSPF(ctx context.Context, r *resolver, name, domain, relay string) spfOutcome {
	var f finding
	out := func(passes bool) spfOutcome {
		return spfOutcome{Result: f.result(name), passes: passes}
	}
	// The relay's addresses, through the same resolver.
	var ips []net.IP
	local := relay == "" || isLocal(relay)
	if !local {
		var err error
		ips, err = r.IPs(ctx, relay)
		switch {
		case err != nil && isTemp(err):
			f.add(Warn, tempFound(err), tempFix)
			local = true
		case err != nil || len(ips) == 0:
			f.add(Warn, "the relay "+relay+" has no A or AAAA record, so whether SPF allows it is unknown", "Check that the SMTP relay host in ENVOI_SMTP_URL resolves.")
			local = true
		}
	}
	txts, err := r.TXT(ctx, domain)
	if err != nil {
		if isTemp(err) {
			f.add(Warn, tempFound(err), tempFix)
			return out(true)
		}
		f.add(Fail, err.Error(), "")
		return out(false)
	}
	recs := spfRecords(txts)
	switch len(recs) {
	case 0:
		inc := "include:<your relay provider's SPF domain>"
		if len(ips) > 0 {
			inc = strings.TrimSpace(spfMechanisms(ips))
		}
		f.add(Fail, "no SPF record on "+domain,
			fmt.Sprintf("Add a TXT record on %s: \"v=spf1 %s ~all\" (one record only).", domain, inc))
		return out(false)
	case 1:
		f.add(OK, fmt.Sprintf("%s: %q", domain, recs[0]), "")
	default:
		f.add(Fail, fmt.Sprintf("%d SPF records on %s (receivers treat that as a permanent error)", len(recs), domain),
			fmt.Sprintf("Merge them into a single TXT record on %s starting with v=spf1 and delete the others.", domain))
		return out(false)
	}
	rec := recs[0]
	switch q, ok := allQualifier(rec); {
	case !ok:
		if !strings.Contains(strings.ToLower(rec), "redirect=") {
			f.add(Warn, "no all at the end (other senders are neutral)", fmt.Sprintf("End the SPF record of %s with ~all (or -all once you are sure every sender is listed).", domain))
		}
	case q == '+':
		f.add(Fail, "+all lets anyone send as "+domain, fmt.Sprintf("Replace +all with ~all (or -all) in the SPF record of %s.", domain))
	case q == '?':
		f.add(Warn, "?all says nothing about other senders", fmt.Sprintf("Replace ?all with ~all (or -all) in the SPF record of %s.", domain))
	}

	w := &spfWalk{r: r, ctx: ctx, ips: ips}
	res, err := w.eval(domain)
	var perm *spfPermError
	switch {
	case errors.Is(err, errTooManyLookups):
		f.add(Fail, err.Error(), fmt.Sprintf("Reduce the SPF record of %s to at most %d include/a/mx/ptr/exists/redirect lookups, nested includes counted: replace some include: with the ip4:/ip6: ranges they stand for, and drop senders you no longer use.", domain, maxSPFLookups))
		return out(false)
	case errors.As(err, &perm):
		f.add(Fail, perm.msg, "Fix or remove that part of the SPF record of "+domain+": one broken include makes the whole record a permanent error.")
		return out(false)
	case err != nil && isTemp(err):
		f.add(Warn, tempFound(err), tempFix)
		return out(true)
	case err != nil:
		f.add(Fail, err.Error(), "")
		return out(false)
	}
	f.add(OK, fmt.Sprintf("%d of %d DNS lookups", w.lookups, maxSPFLookups), "")
	for _, sk := range w.skipped {
		if strings.HasPrefix(strings.TrimLeft(strings.ToLower(sk), "+-~?"), "ptr") {
			f.add(Warn, "it uses ptr, which RFC 7208 says not to use (slow, and some receivers skip it)", "Replace ptr in the SPF record of "+domain+" with ip4:/ip6: or a: mechanisms.")
			break
		}
	}
	if local {
		if relay != "" && isLocal(relay) {
			f.add(Warn, "the relay is "+relay+" (development): whether SPF allows the real relay is not checked", "Run envoi doctor with the production ENVOI_SMTP_URL to check the relay.")
		}
		return out(true)
	}
	var bad []string
	for i, ip := range ips {
		if res[i] != '+' {
			bad = append(bad, ip.String())
		}
	}
	if len(bad) > 0 {
		var badIPs []net.IP
		for _, s := range bad {
			badIPs = append(badIPs, net.ParseIP(s))
		}
		mech := spfMechanisms(badIPs)
		if len(w.skipped) > 0 {
			f.add(Warn, fmt.Sprintf("the relay %s (%s) is not allowed by it, unless %s allows it: the doctor does not evaluate those", relay, strings.Join(bad, ", "), strings.Join(w.skipped, ", ")),
				fmt.Sprintf("If the relay is not covered there, add%s (or the include: your relay's provider documents) to the SPF record of %s.", mech, domain))
			return out(false)
		}
		f.add(Fail, fmt.Sprintf("the relay %s (%s) is not allowed by it", relay, strings.Join(bad, ", ")),
			fmt.Sprintf("Add%s (or the include: your relay's provider documents) to the SPF record of %s, before its all.", mech, domain))
		return out(false)
	}
	var all []string
	for _, ip := range ips {
		all = append(all, ip.String())
	}
	f.add(OK, fmt.Sprintf("the relay %s (%s) passes", relay, strings.Join(all, ", ")), "")
	return out(true)
}

// spfMechanisms is " ip4:… ip6:…" for ips.
func spfMechanisms(ips []net.IP) string {
	mech := ""
	for _, ip := range ips {
		if ip.To4() != nil {
			mech += " ip4:" + ip.String()
		} else {
			mech += " ip6:" + ip.String()
		}
	}
	return mech
}
