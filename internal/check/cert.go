package check

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"unicode"

	"github.com/watcher-dev/watcher/internal/record"
)

// handshakeLeaf is the leaf certificate a TLS handshake saw: the verified
// chain's first certificate, or, when verification failed, the first one
// the server sent (an expired or untrusted certificate is worth recording).
// nil when the handshake failed before the server sent any.
func handshakeLeaf(cs tls.ConnectionState, err error) *x509.Certificate {
	if err != nil {
		var verr *tls.CertificateVerificationError
		if errors.As(err, &verr) && len(verr.UnverifiedCertificates) > 0 {
			return verr.UnverifiedCertificates[0]
		}
		return nil
	}
	if len(cs.PeerCertificates) > 0 {
		return cs.PeerCertificates[0]
	}
	return nil
}

// connLeaf is the leaf certificate of a connection the transport handed a
// request: nil for a plain TCP connection.
func connLeaf(c any) *x509.Certificate {
	tc, ok := c.(interface{ ConnectionState() tls.ConnectionState })
	if !ok {
		return nil
	}
	return handshakeLeaf(tc.ConnectionState(), nil)
}

// recordLeaf writes what a check records of its leaf certificate into res:
// its expiry and its issuer's name.
func recordLeaf(leaf *x509.Certificate, res *record.Result) {
	if leaf == nil {
		return
	}
	notAfter := leaf.NotAfter.UTC()
	res.TLSNotAfter, res.TLSIssuer = &notAfter, issuerName(leaf)
}

// issuerName is the issuer's common name, else its organization, else its
// whole distinguished name, as valid UTF-8 without control characters (the
// server chose it, and it is stored as text) and at most record.MaxIssuer
// bytes.
func issuerName(c *x509.Certificate) string {
	name := c.Issuer.CommonName
	if name == "" && len(c.Issuer.Organization) > 0 {
		name = c.Issuer.Organization[0]
	}
	if name == "" {
		name = c.Issuer.String()
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(name, ""))
	if len(name) > record.MaxIssuer {
		name = strings.ToValidUTF8(name[:record.MaxIssuer], "")
	}
	return strings.TrimSpace(name)
}
