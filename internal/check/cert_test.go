package check

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/certtest"
	"github.com/watcher-dev/watcher/internal/record"
)

// TestRunRecordsCertificate runs checks against HTTPS servers with real
// certificates of known expiry, made by the test, and expects the leaf's
// exact expiry and its issuer recorded: also when the certificate fails
// verification, never for plain HTTP, and for the last hop of a redirect.
func TestRunRecordsCertificate(t *testing.T) {
	ca := certtest.NewCA(t, pkix.Name{CommonName: "Watcher Test CA", Organization: []string{"Watcher"}})
	inTenDays := time.Now().Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
	expired := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	trusting := Options{Policy: Policy{AllowLoopback: true}, RootCAs: ca.Pool}

	tests := []struct {
		name     string
		opt      Options
		url      func(t *testing.T) string
		err      string
		notAfter time.Time // zero: none recorded
		issuer   string
	}{
		{
			name:     "valid certificate",
			opt:      trusting,
			url:      func(t *testing.T) string { return ca.Server(t, inTenDays, false, http.HandlerFunc(welcome)).URL },
			notAfter: inTenDays, issuer: "Watcher Test CA",
		},
		{
			name:     "over HTTP/2",
			opt:      trusting,
			url:      func(t *testing.T) string { return ca.Server(t, inTenDays, true, http.HandlerFunc(welcome)).URL },
			notAfter: inTenDays, issuer: "Watcher Test CA",
		},
		{
			name:     "expired certificate fails and is recorded",
			opt:      trusting,
			url:      func(t *testing.T) string { return ca.Server(t, expired, false, http.HandlerFunc(welcome)).URL },
			err:      record.ErrTLS,
			notAfter: expired, issuer: "Watcher Test CA",
		},
		{
			name:     "untrusted certificate fails and is recorded",
			opt:      loopbackOnly,
			url:      func(t *testing.T) string { return ca.Server(t, inTenDays, false, http.HandlerFunc(welcome)).URL },
			err:      record.ErrTLS,
			notAfter: inTenDays, issuer: "Watcher Test CA",
		},
		{
			name: "plain HTTP records none",
			opt:  trusting,
			url:  func(t *testing.T) string { return serve(t, welcome) },
		},
		{
			name: "redirect from HTTPS to plain HTTP: the last hop has none",
			opt:  trusting,
			url: func(t *testing.T) string {
				plain := serve(t, welcome)
				return ca.Server(t, inTenDays, false, http.RedirectHandler(plain, http.StatusFound)).URL
			},
		},
		{
			name: "redirect to another HTTPS server: the last hop's",
			opt:  trusting,
			url: func(t *testing.T) string {
				last := ca.Server(t, expired.AddDate(0, 0, 100), false, http.HandlerFunc(welcome)).URL
				first := ca.Server(t, inTenDays, false, http.RedirectHandler(last, http.StatusFound)).URL
				return serve(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, first, http.StatusFound) })
			},
			notAfter: expired.AddDate(0, 0, 100), issuer: "Watcher Test CA",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := New(tt.opt).Run(context.Background(), &Request{URL: tt.url(t)})
			if got.Error != tt.err {
				t.Errorf("Error = %q (%s), want %q", got.Error, got.ErrorDetail, tt.err)
			}
			switch {
			case tt.notAfter.IsZero() && (got.TLSNotAfter != nil || got.TLSIssuer != ""):
				t.Errorf("certificate %v by %q recorded, want none", got.TLSNotAfter, got.TLSIssuer)
			case !tt.notAfter.IsZero() && (got.TLSNotAfter == nil || !got.TLSNotAfter.Equal(tt.notAfter)):
				t.Errorf("TLSNotAfter = %v, want %v", fmtPtr(got.TLSNotAfter), tt.notAfter)
			case got.TLSIssuer != tt.issuer:
				t.Errorf("TLSIssuer = %q, want %q", got.TLSIssuer, tt.issuer)
			}
		})
	}
}

// TestRunRecordsCertificateOnAReusedConnection: a check on a kept-alive
// connection has no handshake of its own, and still records the
// connection's certificate.
func TestRunRecordsCertificateOnAReusedConnection(t *testing.T) {
	ca := certtest.NewCA(t, pkix.Name{Organization: []string{"Watcher Org"}})
	notAfter := time.Now().Add(40 * 24 * time.Hour).UTC().Truncate(time.Second)
	s := ca.Server(t, notAfter, false, http.HandlerFunc(welcome))
	c := New(Options{Policy: Policy{AllowLoopback: true}, RootCAs: ca.Pool, ReuseConnections: true})
	defer c.Close()
	for i := range 2 {
		got := c.Run(context.Background(), &Request{URL: s.URL})
		if got.Error != "" || got.TLSNotAfter == nil || !got.TLSNotAfter.Equal(notAfter) || got.TLSIssuer != "Watcher Org" {
			t.Fatalf("check %d: error %q, certificate %s by %q; want none, %v by Watcher Org",
				i+1, got.Error, fmtPtr(got.TLSNotAfter), got.TLSIssuer, notAfter)
		}
		if i == 1 && got.TLS != 0 {
			t.Errorf("second check has a handshake of %v: the connection was not reused", got.TLS)
		}
	}
}

func TestIssuerName(t *testing.T) {
	tests := []struct {
		name   string
		issuer pkix.Name
		want   string
	}{
		{"common name first", pkix.Name{CommonName: "R11", Organization: []string{"Let's Encrypt"}}, "R11"},
		{"else the organization", pkix.Name{Organization: []string{"Example Corp", "Other"}}, "Example Corp"},
		{"else the whole name", pkix.Name{Country: []string{"DE"}, Locality: []string{"Berlin"}}, "L=Berlin,C=DE"},
		{"control characters dropped", pkix.Name{CommonName: "Evil\x00\nCA\x7f"}, "EvilCA"},
		{"invalid UTF-8 dropped", pkix.Name{CommonName: "Bad\xff CA"}, "Bad CA"},
		{"cut to MaxIssuer bytes on a character boundary", pkix.Name{CommonName: strings.Repeat("é", 150)}, strings.Repeat("é", record.MaxIssuer/2)},
		{"none", pkix.Name{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := issuerName(&x509.Certificate{Issuer: tt.issuer}); got != tt.want {
				t.Errorf("issuerName = %q, want %q", got, tt.want)
			}
		})
	}
}
