package migrator

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// scramIterations is PostgreSQL's default scram_iterations.
const scramIterations = 4096

// scramVerifier returns the SCRAM-SHA-256 verifier of password in the form
// PostgreSQL stores in pg_authid (RFC 5802, RFC 7677):
//
//	SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>
//
// ALTER ROLE ... PASSWORD with this string stores it as is, so the password
// itself never reaches the server: not its logs, not pg_stat_statements.
//
// PostgreSQL normalizes a password with SASLprep before hashing it; for
// printable ASCII that is the identity, and other passwords are refused
// rather than hashed differently from how the server would.
func scramVerifier(password string, salt []byte, iterations int) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	for i := range len(password) {
		if c := password[i]; c < 0x20 || c > 0x7e {
			return "", errors.New("password has characters other than printable ASCII")
		}
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("salt password: %w", err)
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	server := mac(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(stored[:]), b64(server)), nil
}

// newScramVerifier is scramVerifier with a fresh random salt.
func newScramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt) // never fails (crypto/rand)
	return scramVerifier(password, salt, scramIterations)
}
