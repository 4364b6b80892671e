package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// queryTimeout bounds each DNS exchange (UDP, then TCP on truncation).
const queryTimeout = 3 * time.Second

// TempError is a look-up that did not get an answer (SERVFAIL, REFUSED, a
// timeout): the record may well exist, so a check that meets one warns
// instead of failing.
type TempError struct {
	Name string
	Type string
	Err  error
}

func (e *TempError) Error() string {
	return fmt.Sprintf("could not look up %s %s: %v", e.Type, e.Name, e.Err)
}

func (e *TempError) Unwrap() error { return e.Err }

// isTemp reports whether err is a look-up that got no answer.
func isTemp(err error) bool {
	var t *TempError
	return errors.As(err, &t)
}

// answer is the outcome of one question: the records of the asked type, and
// whether the name exists at all (NXDOMAIN: false).
type answer struct {
	rrs    []dns.RR
	exists bool
}

// resolver asks one DNS server, recursion desired, and remembers the answers
// of one run (an SPF tree is walked once per relay address).
type resolver struct {
	addr string
	udp  *dns.Client
	tcp  *dns.Client

	mu    sync.Mutex
	cache map[string]answer
}

func newResolver(addr string) *resolver {
	return &resolver{
		addr:  addr,
		udp:   &dns.Client{Net: "udp", Timeout: queryTimeout},
		tcp:   &dns.Client{Net: "tcp", Timeout: queryTimeout},
		cache: map[string]answer{},
	}
}

// DefaultResolver is the first nameserver of /etc/resolv.conf, as host:port.
func DefaultResolver() (string, error) {
	cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return "", err
	}
	if len(cc.Servers) == 0 {
		return "", errors.New("/etc/resolv.conf lists no nameserver")
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port), nil
}

// query asks for name's records of type t. NXDOMAIN and "no records of that
// type" are answers (empty); anything else that is not NOERROR is a *TempError.
func (r *resolver) query(ctx context.Context, name string, t uint16) (answer, error) {
	name = dns.Fqdn(strings.ToLower(name))
	key := name + "/" + dns.TypeToString[t]
	r.mu.Lock()
	a, ok := r.cache[key]
	r.mu.Unlock()
	if ok {
		return a, nil
	}
	if _, ok := dns.IsDomainName(name); !ok {
		return answer{}, fmt.Errorf("%q is not a domain name", strings.TrimSuffix(name, "."))
	}
	m := new(dns.Msg)
	m.SetQuestion(name, t)
	m.RecursionDesired = true
	m.SetEdns0(1232, false)
	temp := func(err error) error {
		return &TempError{Name: strings.TrimSuffix(name, "."), Type: dns.TypeToString[t], Err: err}
	}
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	resp, _, err := r.udp.ExchangeContext(qctx, m, r.addr)
	cancel()
	if err == nil && resp.Truncated {
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		resp, _, err = r.tcp.ExchangeContext(qctx, m, r.addr)
		cancel()
	}
	if err != nil {
		return answer{}, temp(err)
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
		a = answer{exists: true}
		for _, rr := range resp.Answer {
			if rr.Header().Rrtype == t {
				a.rrs = append(a.rrs, rr)
			}
		}
	case dns.RcodeNameError:
		a = answer{}
	default:
		return answer{}, temp(errors.New(dns.RcodeToString[resp.Rcode]))
	}
	r.mu.Lock()
	r.cache[key] = a
	r.mu.Unlock()
	return a, nil
}

// TXT returns name's TXT records, each one's strings joined (RFC 7208 3.3).
func (r *resolver) TXT(ctx context.Context, name string) ([]string, error) {
	a, err := r.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range a.rrs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, nil
}

// MX returns name's MX records and whether the name exists.
func (r *resolver) MX(ctx context.Context, name string) ([]*dns.MX, bool, error) {
	a, err := r.query(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, false, err
	}
	var out []*dns.MX
	for _, rr := range a.rrs {
		out = append(out, rr.(*dns.MX))
	}
	return out, a.exists, nil
}

// IPs returns name's A and AAAA addresses (an IP literal is itself).
func (r *resolver) IPs(ctx context.Context, name string) ([]net.IP, error) {
	if ip := net.ParseIP(strings.Trim(name, "[]")); ip != nil {
		return []net.IP{ip}, nil
	}
	var out []net.IP
	a, err := r.query(ctx, name, dns.TypeA)
	if err != nil {
		return nil, err
	}
	for _, rr := range a.rrs {
		out = append(out, rr.(*dns.A).A)
	}
	aaaa, err := r.query(ctx, name, dns.TypeAAAA)
	if err != nil {
		return nil, err
	}
	for _, rr := range aaaa.rrs {
		out = append(out, rr.(*dns.AAAA).AAAA)
	}
	return out, nil
}
