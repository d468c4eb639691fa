// Package certtest makes real TLS certificates for tests: a certificate
// authority, leaf certificates for loopback with the expiry a test names,
// and HTTPS servers that present them.
package certtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// CA is a certificate authority made for one test.
type CA struct {
	Cert *x509.Certificate
	Pool *x509.CertPool // holds Cert only: a checker's RootCAs
	key  *ecdsa.PrivateKey
}

// NewCA makes a certificate authority whose subject is name (its common
// name, organization or neither), valid from an hour ago for ten years.
func NewCA(tb testing.TB, name pkix.Name) *CA {
	tb.Helper()
	key := newKey(tb)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          newSerial(tb),
		Subject:               name,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("create CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("parse CA certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Pool: pool, key: key}
}

// Leaf issues a certificate for localhost, 127.0.0.1 and ::1 that expires
// at notAfter, to the second (what a certificate holds), and was valid
// from 30 days before it (or an hour ago, if earlier). Its Leaf field is
// the parsed certificate: Leaf.NotAfter is the exact expiry.
func (ca *CA) Leaf(tb testing.TB, notAfter time.Time) tls.Certificate {
	tb.Helper()
	key := newKey(tb)
	notAfter = notAfter.UTC().Truncate(time.Second)
	notBefore := notAfter.AddDate(0, 0, -30)
	if hourAgo := time.Now().Add(-time.Hour); hourAgo.Before(notBefore) {
		notBefore = hourAgo
	}
	tmpl := &x509.Certificate{
		SerialNumber: newSerial(tb),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatalf("create leaf certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("parse leaf certificate: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.Cert.Raw}, PrivateKey: key, Leaf: leaf}
}

// Server starts an HTTPS server on loopback presenting a leaf certificate
// that expires at notAfter, closed when the test ends. http2 offers
// HTTP/2 too.
func (ca *CA) Server(tb testing.TB, notAfter time.Time, http2 bool, h http.Handler) *httptest.Server {
	tb.Helper()
	s := httptest.NewUnstartedServer(h)
	s.EnableHTTP2 = http2
	s.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Leaf(tb, notAfter)}}
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // a client refusing the certificate is often the point
	s.StartTLS()
	tb.Cleanup(s.Close)
	return s
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("generate key: %v", err)
	}
	return key
}

// newSerial is a random serial number, as a CA issues them.
func newSerial(tb testing.TB) *big.Int {
	tb.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		tb.Fatalf("serial number: %v", err)
	}
	return n
}
