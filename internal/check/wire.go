package check

import (
	"context"
	"sync"
	"time"

	"github.com/watcher-dev/watcher/internal/record"
)

// wire times one check's fresh connection as the kernel saw it, so that a
// probe short of CPU (a Lambda function's CFS quota runs out within a
// period, and its threads then wait up to the rest of the period) does not
// add its own waiting to the site's times. Stalls cost the probe twice
// otherwise: a response that arrives while the probe is throttled is read
// late, and a request the probe could have sent is sent late.
//
// With receive timestamps on the socket (SO_TIMESTAMPNS), every read knows
// when its bytes reached the kernel. The check's times are then
//
//	end of response (kernel) - start - the probe's own delays
//
// where the probe's delays are the time from the start to connect(2) beyond
// the DNS lookup, and at each point where the connection waits on the probe
// (established, and the TLS handshake done) the time to its next write. The
// DNS lookup, the TCP handshake (its RTT from TCP_INFO), every network wait
// and the transfer stay in, whatever the probe's CPU.
//
// It applies only where it is exact: one fresh connection per check, the
// response's reads stamped. A redirect to a second connection, a reused
// connection or a last read without a stamp leaves the check's times as the
// wall clock measured them. Over HTTP/2 the transport reads frames on its
// own and may read a later one before the body's end reaches the check:
// then the end is later than it was, never earlier. (The kernel turns stamping on for the whole
// host some moments after the first socket asks, and off after the last
// closes; keepStamping holds it on for the process.)
type wire struct {
	mu         sync.Mutex
	tls        bool          // a TLS handshake comes before the request
	conns      int           // connects begun; more than one and the wall clock stands
	unstamped  bool          // a socket without receive stamps
	connectAt  time.Time     // just before connect(2)
	synRTT     time.Duration // the TCP handshake, as the kernel measured it
	ready      time.Time     // when the connection last began to wait on the probe
	waiting    bool          // for the probe's next write since ready
	handshaken bool          // the request is the next write (TLS done, or plain HTTP)
	requested  bool          // the request's first write has been sent
	delay      time.Duration // the probe's own delays at the ready points
	firstRx    time.Time     // kernel time of the read that brought the response's first byte
	lastRx     time.Time     // kernel time of the latest bytes received
}

type wireKey struct{}

// testHookConnected, when set, runs as each wired connection is
// established (a test stops the process there).
var testHookConnected func()

// withWire gives ctx a wire for the check's connection to fill; the
// caller sets its tls once the request's scheme is known.
func withWire(ctx context.Context) (context.Context, *wire) {
	w := new(wire)
	return context.WithValue(ctx, wireKey{}, w), w
}

func wireFrom(ctx context.Context) *wire {
	w, _ := ctx.Value(wireKey{}).(*wire)
	return w
}

// connecting is called just before connect(2); stamps says whether the
// socket will stamp its reads.
func (w *wire) connecting(stamps bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conns++
	w.connectAt = time.Now()
	w.unstamped = w.unstamped || !stamps
}

// connected is called once connect(2) has succeeded, with the handshake's
// RTT.
func (w *wire) connected(rtt time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.synRTT = rtt
	w.ready, w.waiting = w.connectAt.Add(rtt), true
	w.handshaken = !w.tls
	if testHookConnected != nil {
		testHookConnected()
	}
}

// handshakeDone is called when the TLS handshake has ended: the connection
// waits on the probe's request from the arrival of the server's last
// handshake bytes.
func (w *wire) handshakeDone() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ready, w.waiting, w.handshaken = w.lastRx, !w.lastRx.IsZero(), true // unknown: no delay counted
}

// writing is called just before each write to the connection.
func (w *wire) writing() {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiting {
		w.waiting = false
		if d := now.Sub(w.ready); d > 0 {
			w.delay += d
		}
	}
	if w.handshaken {
		w.requested = true
	}
}

// received is called after each read that returned bytes, with the kernel's
// stamp of their arrival (zero when there was none).
func (w *wire) received(at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lastRx = at // zero: this read's time is unknown, and so the check's end
}

// firstByte is called when the first byte of the response has been read:
// the read that brought it was the latest.
func (w *wire) firstByte() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.firstRx = w.lastRx
}

// apply replaces res's response time, time to first byte and connect time
// (as the wall clock measured them from start) with the kernel's, where
// they can be had exactly (see wire). The response time stays between the
// TCP handshake's RTT and the wall clock's; outside, a clock step or a
// stamp from before start, the wall clock stands. A nil w does nothing.
func (w *wire) apply(start time.Time, res *record.Result) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conns != 1 || w.unstamped || !w.requested || w.lastRx.IsZero() {
		return
	}
	delay := w.delay
	if d := w.connectAt.Sub(start) - res.DNS; d > 0 {
		delay += d
	}
	response := w.lastRx.Sub(start) - delay
	if response < w.synRTT || response > res.ResponseTime {
		return
	}
	res.ResponseTime, res.Connect = response, w.synRTT
	if ttfb := w.firstRx.Sub(start) - delay; !w.firstRx.IsZero() && ttfb > 0 && ttfb <= response {
		res.TTFB = ttfb
	}
}
