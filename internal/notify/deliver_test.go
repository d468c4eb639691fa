package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/addrpolicy"
	"github.com/watcher-dev/watcher/internal/dev/moto"
)

func TestMain(m *testing.M) { moto.Main(m) }

// testSecret is the shared secret of the tests' webhooks.
var testSecret = []byte("test-webhook-secret-0123456789")

// memOutbox is an in-memory Outbox: a test double of the store's outbox,
// with its contract (oldest first, a claim that keeps a message from a
// concurrent Due for claimFor).
type memOutbox struct {
	mu   sync.Mutex
	msgs []*memMessage
}

type memMessage struct {
	Message
	next   time.Time
	sent   *time.Time
	reason string
}

const claimFor = 5 * time.Minute

func (o *memOutbox) add(channel string, body []byte, at time.Time) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	id := int64(len(o.msgs) + 1)
	o.msgs = append(o.msgs, &memMessage{Message: Message{ID: id, Channel: channel, Body: body}, next: at})
	return id
}

func (o *memOutbox) Due(_ context.Context, now time.Time, limit int) ([]Message, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var due []Message
	for _, m := range o.msgs {
		if len(due) < limit && m.sent == nil && !m.next.After(now) {
			m.next = now.Add(claimFor)
			due = append(due, m.Message)
		}
	}
	return due, nil
}

func (o *memOutbox) get(id int64) (*memMessage, error) {
	if id < 1 || int(id) > len(o.msgs) {
		return nil, fmt.Errorf("no message %d", id)
	}
	return o.msgs[id-1], nil
}

func (o *memOutbox) Sent(_ context.Context, id int64, at time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	m, err := o.get(id)
	if err != nil {
		return err
	}
	if m.sent != nil {
		return fmt.Errorf("message %d sent twice", id)
	}
	m.sent = &at
	return nil
}

func (o *memOutbox) Failed(_ context.Context, id int64, attempts int, next time.Time, reason string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	m, err := o.get(id)
	if err != nil {
		return err
	}
	m.Attempts, m.next, m.reason = attempts, next, reason
	return nil
}

func (o *memOutbox) unsent() []*memMessage {
	o.mu.Lock()
	defer o.mu.Unlock()
	var u []*memMessage
	for _, m := range o.msgs {
		if m.sent == nil {
			u = append(u, m)
		}
	}
	return u
}

// clock is the tests' now(), moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// delivery is one request a receiver took.
type delivery struct {
	ID        string // X-Watcher-Delivery
	Event     Event
	Signed    bool // the signature verified
	UserAgent string
	Type      string
}

// receiver is a real webhook receiver on a loopback port, which can go
// down (its listener closed: the port refuses) and come back on the same
// port. It answers status (200 unless set).
type receiver struct {
	t    *testing.T
	addr string

	mu     sync.Mutex
	got    []delivery
	status int
	srv    *http.Server
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{t: t, status: http.StatusOK}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	t.Cleanup(r.down)
	return r
}

func (r *receiver) url() string { return "http://" + r.addr + "/hooks/watcher" }

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d := delivery{
		ID:        req.Header.Get(HeaderDelivery),
		Signed:    Verify(testSecret, body, req.Header.Get(HeaderSignature)),
		UserAgent: req.Header.Get("User-Agent"),
		Type:      req.Header.Get("Content-Type"),
	}
	if err := json.Unmarshal(body, &d.Event); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	status := r.status
	if status/100 == 2 {
		r.got = append(r.got, d)
	}
	r.mu.Unlock()
	w.WriteHeader(status)
}

func (r *receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// down closes the listener and every connection: the port refuses.
func (r *receiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// up listens on the same port again.
func (r *receiver) up() {
	r.t.Helper()
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("listen again on %s: %v", r.addr, err)
	}
	r.serve(ln)
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *receiver) setStatus(s int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = s
}

var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// testEvent returns the JSON body of an "opened" down event of alert id.
func testEvent(t *testing.T, alertID int64, at time.Time) []byte {
	t.Helper()
	code := 503
	ev := Event{
		ID:       fmt.Sprintf("alert-%d-opened", alertID),
		Event:    "opened",
		Kind:     "down",
		AlertID:  alertID,
		Endpoint: EndpointRef{ID: 7, Name: "shop", URL: "https://shop.example.com/", Group: "Public", Location: "home"},
		At:       at,
		OpenedAt: at,
		Summary:  fmt.Sprintf("shop is down at home (alert %d)", alertID),
		Checks: []CheckRef{
			{PlannedAt: at.Add(-time.Minute), Error: "timeout", ResponseTimeMS: 10000},
			{PlannedAt: at, StatusCode: &code, ResponseTimeMS: 12.5},
		},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempts int
		want     time.Duration
	}{
		{0, 15 * time.Second},
		{1, 15 * time.Second},
		{2, 30 * time.Second},
		{3, time.Minute},
		{4, 2 * time.Minute},
		{5, 2 * time.Minute},
		{1000, 2 * time.Minute},
	} {
		if got := Backoff(tc.attempts); got != tc.want {
			t.Errorf("Backoff(%d) = %v, want %v", tc.attempts, got, tc.want)
		}
	}
}

func TestSignVerify(t *testing.T) {
	body := []byte(`{"id":"alert-1-opened"}`)
	sig := Sign(testSecret, body)
	if !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Fatalf("Sign = %q, want sha256= and 64 hex digits", sig)
	}
	for _, tc := range []struct {
		name   string
		secret []byte
		body   []byte
		header string
		want   bool
	}{
		{"valid", testSecret, body, sig, true},
		{"upper-case hex", testSecret, body, "sha256=" + strings.ToUpper(strings.TrimPrefix(sig, "sha256=")), true},
		{"other body", testSecret, []byte(`{"id":"alert-2-opened"}`), sig, false},
		{"body with a trailing newline", testSecret, append(body, '\n'), sig, false},
		{"other secret", []byte("another-secret-0123456789"), body, sig, false},
		{"no prefix", testSecret, body, strings.TrimPrefix(sig, "sha256="), false},
		{"other hash", testSecret, body, "sha1=" + strings.TrimPrefix(sig, "sha256="), false},
		{"truncated", testSecret, body, sig[:len(sig)-2], false},
		{"not hex", testSecret, body, "sha256=zz", false},
		{"empty", testSecret, body, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Verify(tc.secret, tc.body, tc.header); got != tc.want {
				t.Errorf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWebhookSend(t *testing.T) {
	r := newReceiver(t)
	w := NewWebhook(r.url(), testSecret, addrpolicy.Policy{AllowLoopback: true})
	defer w.Close()
	body := testEvent(t, 42, t0)
	if err := w.Send(context.Background(), Message{ID: 1, Channel: ChannelWebhook, Body: body}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := r.deliveries()
	if len(got) != 1 {
		t.Fatalf("receiver got %d deliveries, want 1", len(got))
	}
	d := got[0]
	if !d.Signed {
		t.Error("the signature does not verify")
	}
	if d.ID != "alert-42-opened" || d.Event.ID != d.ID {
		t.Errorf("delivery header %q, event id %q; want alert-42-opened", d.ID, d.Event.ID)
	}
	if d.UserAgent != UserAgent || d.Type != "application/json" {
		t.Errorf("User-Agent %q, Content-Type %q", d.UserAgent, d.Type)
	}
	if d.Event.Endpoint.Name != "shop" || len(d.Event.Checks) != 2 || *d.Event.Checks[1].StatusCode != 503 {
		t.Errorf("event arrived as %+v", d.Event)
	}

	for _, tc := range []struct {
		name   string
		status int
		want   string
	}{
		{"server error", http.StatusInternalServerError, "500"},
		{"redirect is not followed", http.StatusFound, "302"},
		{"client error", http.StatusUnauthorized, "401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.setStatus(tc.status)
			err := w.Send(context.Background(), Message{ID: 2, Channel: ChannelWebhook, Body: body})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Send with the receiver answering %d: %v, want an error naming %s", tc.status, err, tc.want)
			}
		})
	}
	r.setStatus(http.StatusOK)

	if err := w.Send(context.Background(), Message{ID: 3, Body: []byte("not json")}); err == nil {
		t.Error("Send of a body that is not an event: no error")
	}
}

// TestWebhookPolicy: the webhook obeys the checks' address policy, and a
// refused notification stays pending with the reason.
func TestWebhookPolicy(t *testing.T) {
	r := newReceiver(t)
	for _, tc := range []struct {
		name   string
		url    string
		policy addrpolicy.Policy
		reason string
	}{
		{"cloud metadata", "http://169.254.169.254/latest/meta-data/", addrpolicy.Policy{AllowLoopback: true, AllowPrivate: true}, "link-local"},
		{"loopback under the default policy", r.url(), addrpolicy.Policy{}, "loopback"},
		{"private under the default policy", "http://10.1.2.3:8080/hook", addrpolicy.Policy{}, "private"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWebhook(tc.url, testSecret, tc.policy)
			err := w.Send(context.Background(), Message{ID: 1, Body: testEvent(t, 1, t0)})
			var refused *addrpolicy.RefusedError
			if !errors.As(err, &refused) || refused.Reason != tc.reason {
				t.Fatalf("Send = %v, want a *addrpolicy.RefusedError for %s", err, tc.reason)
			}

			out := &memOutbox{}
			out.add(ChannelWebhook, testEvent(t, 1, t0), t0)
			clk := &clock{t: t0}
			sum, err := Deliver(context.Background(), out, map[string]Sender{ChannelWebhook: w}, clk.now)
			if err != nil {
				t.Fatal(err)
			}
			if sum != (DeliverSummary{Failed: 1}) {
				t.Errorf("summary %+v, want one failed", sum)
			}
			u := out.unsent()
			if len(u) != 1 || u[0].Attempts != 1 || !strings.Contains(u[0].reason, "refused: "+tc.reason) {
				t.Fatalf("outbox after a refused send: %+v, want the message pending after 1 attempt, reason naming the refusal", u)
			}
			if !u[0].next.Equal(t0.Add(Backoff(1))) {
				t.Errorf("next attempt %v, want %v", u[0].next, t0.Add(Backoff(1)))
			}
			if strings.Contains(u[0].reason, string(testSecret)) {
				t.Error("the reason holds the secret")
			}
		})
	}
	if n := len(r.deliveries()); n != 0 {
		t.Errorf("the receiver got %d deliveries through a refusing policy", n)
	}
}

// TestDeliverReceiverDown: a receiver that is down for ten minutes gets
// every notification once it is back, exactly once and in order of
// creation; none is dropped meanwhile. Deliver runs once a minute, as the
// fanout does.
func TestDeliverReceiverDown(t *testing.T) {
	r := newReceiver(t)
	w := NewWebhook(r.url(), testSecret, addrpolicy.Policy{AllowLoopback: true})
	defer w.Close()
	senders := map[string]Sender{ChannelWebhook: w}
	out := &memOutbox{}
	clk := &clock{t: t0}
	ctx := context.Background()
	deliver := func() DeliverSummary {
		t.Helper()
		sum, err := Deliver(ctx, out, senders, clk.now)
		if err != nil {
			t.Fatalf("Deliver at %v: %v", clk.now(), err)
		}
		return sum
	}

	out.add(ChannelWebhook, testEvent(t, 1, clk.now()), clk.now())
	if sum := deliver(); sum != (DeliverSummary{Sent: 1}) {
		t.Fatalf("receiver up: %+v, want one sent", sum)
	}

	r.down()
	out.add(ChannelWebhook, testEvent(t, 2, clk.now()), clk.now())
	out.add(ChannelWebhook, testEvent(t, 3, clk.now()), clk.now())
	want := 3
	for minute := 0; minute < 10; minute++ {
		if minute == 4 || minute == 7 {
			want++
			out.add(ChannelWebhook, testEvent(t, int64(want), clk.now()), clk.now())
		}
		if sum := deliver(); sum.Sent != 0 {
			t.Fatalf("minute %d, receiver down: %+v", minute, sum)
		}
		if u := out.unsent(); len(u) != want-1 {
			t.Fatalf("minute %d: %d unsent, want %d: a notification was dropped", minute, len(u), want-1)
		}
		clk.advance(time.Minute)
	}
	attempted := 0
	for _, m := range out.unsent() {
		attempted = max(attempted, m.Attempts)
		if m.reason == "" {
			t.Errorf("message %d waits without a reason", m.ID)
		}
	}
	if attempted < 4 {
		t.Errorf("the oldest message was attempted %d times in ten minutes, want retries", attempted)
	}

	r.up()
	for range 3 { // the last backoff is at most two minutes
		deliver()
		clk.advance(time.Minute)
	}
	if u := out.unsent(); len(u) != 0 {
		t.Fatalf("%d notifications unsent after the receiver came back", len(u))
	}
	var ids []string
	for _, d := range r.deliveries() {
		if !d.Signed {
			t.Errorf("delivery %s: signature does not verify", d.ID)
		}
		ids = append(ids, d.ID)
	}
	var wantIDs []string
	for i := 1; i <= want; i++ {
		wantIDs = append(wantIDs, fmt.Sprintf("alert-%d-opened", i))
	}
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("the receiver got %v, want each once in order of creation: %v", ids, wantIDs)
	}
	if sum := deliver(); sum != (DeliverSummary{}) {
		t.Errorf("a Deliver with nothing due: %+v", sum)
	}
}

// TestDeliverNoSender: a message of a channel without a sender is kept,
// with a reason, and sent once its channel has a sender.
func TestDeliverNoSender(t *testing.T) {
	r := newReceiver(t)
	w := NewWebhook(r.url(), testSecret, addrpolicy.Policy{AllowLoopback: true})
	out := &memOutbox{}
	clk := &clock{t: t0}
	out.add(ChannelSNS, testEvent(t, 1, t0), t0)
	out.add(ChannelWebhook, testEvent(t, 2, t0), t0)

	sum, err := Deliver(context.Background(), out, map[string]Sender{ChannelWebhook: w}, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	if sum != (DeliverSummary{Sent: 1, Failed: 1}) {
		t.Errorf("summary %+v, want one sent, one failed", sum)
	}
	u := out.unsent()
	if len(u) != 1 || u[0].Channel != ChannelSNS || !strings.Contains(u[0].reason, `no sender configured for channel "sns"`) {
		t.Fatalf("unsent %+v, want the sns message kept with its reason", u)
	}

	clk.advance(time.Minute)
	sum, err = Deliver(context.Background(), out, map[string]Sender{ChannelWebhook: w, ChannelSNS: w}, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	if sum != (DeliverSummary{Sent: 1}) || len(out.unsent()) != 0 {
		t.Errorf("with a sender: %+v, unsent %d", sum, len(out.unsent()))
	}
}

// TestDeliverEndedContext: a Deliver whose context has ended attempts
// nothing and counts nothing as failed.
func TestDeliverEndedContext(t *testing.T) {
	r := newReceiver(t)
	w := NewWebhook(r.url(), testSecret, addrpolicy.Policy{AllowLoopback: true})
	out := &memOutbox{}
	out.add(ChannelWebhook, testEvent(t, 1, t0), t0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	clk := &clock{t: t0}
	sum, err := Deliver(ctx, out, map[string]Sender{ChannelWebhook: w}, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	if sum != (DeliverSummary{}) || len(r.deliveries()) != 0 || out.unsent()[0].Attempts != 0 {
		t.Errorf("ended context: %+v, %d delivered", sum, len(r.deliveries()))
	}
}
