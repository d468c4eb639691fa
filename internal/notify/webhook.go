package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/watcher-dev/watcher/internal/addrpolicy"
)

// Webhook headers and their fixed values.
const (
	HeaderDelivery  = "X-Watcher-Delivery"  // the event's id: receivers deduplicate on it
	HeaderSignature = "X-Watcher-Signature" // "sha256=" + hex HMAC-SHA256 of the body
	UserAgent       = "Watcher/1"
	// WebhookTimeout bounds one POST: connecting, sending, the response.
	WebhookTimeout = 10 * time.Second
)

// signaturePrefix names the HMAC's hash in the signature header.
const signaturePrefix = "sha256="

// Sender sends one message on its channel. An error means the message was
// not delivered and is to be tried again later.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Webhook POSTs events to one URL, signed with a shared secret. Safe for
// concurrent use.
type Webhook struct {
	url    string
	secret []byte
	client *http.Client
}

var _ Sender = (*Webhook)(nil)

// NewWebhook returns a sender to rawURL, signing with secret, connecting
// only where policy allows (the same policy as the checks of the location
// it runs in): a webhook URL is user input just as a target is. It follows
// no redirect and uses no proxy (a proxy would be dialed instead of the
// receiver, dodging the policy).
func NewWebhook(rawURL string, secret []byte, policy addrpolicy.Policy) *Webhook {
	dialer := &net.Dialer{Timeout: WebhookTimeout, Control: policy.Control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   WebhookTimeout,
		ResponseHeaderTimeout: WebhookTimeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
	return &Webhook{
		url:    rawURL,
		secret: secret,
		client: &http.Client{
			Transport: tr,
			Timeout:   WebhookTimeout,
			// A redirect is an answer that is not 2xx: a failure to retry.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Send POSTs m.Body as JSON. Any answer but a 2xx, and any transport error,
// is an error. Errors never name the URL (it may carry a token) nor the
// secret.
func (w *Webhook) Send(ctx context.Context, m Message) error {
	var head struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(m.Body, &head); err != nil || head.ID == "" {
		return errors.New("webhook: message body is not an event with an id")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(m.Body))
	if err != nil {
		return errors.New("webhook: cannot build the request for the configured URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderDelivery, head.ID)
	req.Header.Set(HeaderSignature, Sign(w.secret, m.Body))
	res, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop the URL from the message, keep the cause for errors.As
		}
		return fmt.Errorf("webhook: post: %w", err)
	}
	// Read a little of the answer so that the connection can be reused;
	// its content does not matter.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10))
	_ = res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("webhook: receiver answered %s", res.Status)
	}
	return nil
}

// Close closes idle connections.
func (w *Webhook) Close() { w.client.CloseIdleConnections() }

// Sign returns the signature header value of body: "sha256=" and the hex
// HMAC-SHA256 of the exact body bytes keyed with secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether header, an X-Watcher-Signature value, is the
// signature of body with secret. It compares in constant time; receivers
// use it before trusting a body.
func Verify(secret, body []byte, header string) bool {
	hexSum, ok := strings.CutPrefix(header, signaturePrefix)
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}
