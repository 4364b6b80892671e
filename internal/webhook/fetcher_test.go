package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestHTTPCertFetcher serves the certificate from a local TLS server that the
// client reaches whatever the host name: no network.
func TestHTTPCertFetcher(t *testing.T) {
	var hits atomic.Int32
	var payload atomic.Value
	payload.Store(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: testRSA().cert.Raw}))
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if strings.HasSuffix(r.URL.Path, "missing.pem") {
			http.NotFound(w, r)
			return
		}
		w.Write(payload.Load().([]byte))
	}))
	defer srv.Close()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // the test server's cert names 127.0.0.1
	roots := x509.NewCertPool()
	roots.AddCert(testRSA().cert)

	f := &HTTPCertFetcher{Client: &http.Client{Transport: tr}, Roots: roots, Now: clock}
	ctx := context.Background()
	c, err := f.Fetch(ctx, testCertURL)
	if err != nil || !c.Equal(testRSA().cert) {
		t.Fatalf("Fetch: %v, %v", c, err)
	}
	if _, err := f.Fetch(ctx, testCertURL); err != nil || hits.Load() != 1 {
		t.Errorf("second Fetch: %v after %d requests, want the cache", err, hits.Load())
	}
	if _, err := f.Fetch(ctx, "https://sns.evil.com/x.pem"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("other host: %v", err)
	}
	if _, err := f.Fetch(ctx, "https://sns.eu-west-1.amazonaws.com/missing.pem"); err == nil || errors.Is(err, ErrUnauthorized) {
		t.Errorf("404: %v, want a temporary error", err)
	}
	// A certificate not chaining to the roots is refused.
	g := &HTTPCertFetcher{Client: &http.Client{Transport: tr}, Roots: x509.NewCertPool(), Now: clock}
	if _, err := g.Fetch(ctx, testCertURL); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("untrusted: %v", err)
	}
	// More than 64 KiB is refused.
	payload.Store([]byte(strings.Repeat("x", 65<<10)))
	if _, err := g.Fetch(ctx, "https://sns.eu-west-1.amazonaws.com/big.pem"); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("64 KiB: %v", err)
	}
}
