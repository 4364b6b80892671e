// Package dnstest serves a zone written in a test from 127.0.0.1 (UDP and TCP
// on the same port), for the doctor's tests and the command's.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server answers from its records as a recursive resolver would: the records
// of the asked name and type, NOERROR with none when the name has records of
// other types, NXDOMAIN when it has none, SERVFAIL for the names in Fail.
type Server struct {
	Addr string // host:port to give the doctor

	mu    sync.Mutex
	rrs   []dns.RR
	fail  map[string]bool
	count int
}

// Start serves records (zone-file lines like `example.test. TXT "v=spf1 -all"`,
// names fully qualified) until the test ends.
func Start(tb testing.TB, records ...string) *Server {
	tb.Helper()
	s := &Server{fail: map[string]bool{}}
	for _, line := range records {
		s.Add(tb, line)
	}
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ; try++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			tb.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if try == 10 {
			tb.Fatal(err)
		}
	}
	s.Addr = pc.LocalAddr().String()
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: s}, {Listener: ln, Handler: s}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		tb.Cleanup(func() { srv.Shutdown() })
	}
	return s
}

// Add adds one record.
func (s *Server) Add(tb testing.TB, line string) {
	tb.Helper()
	rr, err := dns.NewRR(line)
	if err != nil {
		tb.Fatalf("dnstest: %q: %v", line, err)
	}
	s.mu.Lock()
	s.rrs = append(s.rrs, rr)
	s.mu.Unlock()
}

// Fail makes every question about name answer SERVFAIL.
func (s *Server) Fail(name string) {
	s.mu.Lock()
	s.fail[dns.Fqdn(strings.ToLower(name))] = true
	s.mu.Unlock()
}

// Queries is how many questions were asked so far.
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	s.mu.Lock()
	s.count++
	failed := s.fail[name]
	known := false
	for _, rr := range s.rrs {
		if strings.ToLower(rr.Header().Name) != name {
			continue
		}
		known = true
		if rr.Header().Rrtype == q.Qtype {
			m.Answer = append(m.Answer, dns.Copy(rr))
		}
	}
	s.mu.Unlock()
	switch {
	case failed:
		m.Answer = nil
		m.Rcode = dns.RcodeServerFailure
	case !known:
		m.Rcode = dns.RcodeNameError
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := 512
		if o := req.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}
