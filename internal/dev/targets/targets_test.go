package targets

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/regex"
)

// fast keeps the default mode's delays short so tests stay quick; the
// mapping from path to status and slowness is the same.
var fast = Options{FastDelay: time.Millisecond, SlowDelay: 3 * time.Millisecond}

// liveness bounds waits for something that must happen, so a broken build
// fails instead of hanging; it is not a performance threshold.
const liveness = 10 * time.Second

func startFarm(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(t.Context(), "127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close farm: %v", err)
		}
	})
	return s
}

// noFollow returns redirects to the caller instead of following them.
var noFollow = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func TestFarm(t *testing.T) {
	farm := startFarm(t, fast)
	type exchange struct {
		resp    *http.Response
		body    []byte
		elapsed time.Duration
		hops    int
	}
	cases := []struct {
		name       string
		method     string
		path       string
		reqBody    string
		header     http.Header
		user       string
		wantStatus int
		wantBody   []byte // nil: not checked
		check      func(t *testing.T, x exchange)
	}{
		{name: "fixed benchmark reply", path: "/site/1?" + FixedReply().Query(), wantStatus: 200, wantBody: Body(2048),
			check: func(t *testing.T, x exchange) {
				if x.elapsed < 100*time.Millisecond {
					t.Errorf("answered after %s, before the fixed 100ms delay", x.elapsed)
				}
				if x.resp.ContentLength != 2048 {
					t.Errorf("Content-Length %d, want 2048", x.resp.ContentLength)
				}
			}},
		{name: "delay in whole milliseconds", path: "/site/2?delay=30&status=200", wantStatus: 200, wantBody: []byte(Welcome),
			check: func(t *testing.T, x exchange) {
				if x.elapsed < 30*time.Millisecond {
					t.Errorf("answered after %s, before the 30ms delay", x.elapsed)
				}
			}},
		{name: "status only, error has empty body", path: "/site/3?status=503", wantStatus: 503, wantBody: []byte{}},
		{name: "status 201 keeps welcome", path: "/site/3?status=201", wantStatus: 201, wantBody: []byte(Welcome)},
		{name: "error status with size", path: "/site/3?status=500&size=40", wantStatus: 500, wantBody: Body(40)},
		{name: "size shorter than welcome", path: "/x?size=5&status=200", wantStatus: 200, wantBody: []byte("You a")},
		{name: "size zero", path: "/x?size=0&status=200", wantStatus: 200, wantBody: []byte{}},
		{name: "large size", path: "/x?size=200000&status=200&delay=0", wantStatus: 200, wantBody: Body(200000)},
		{name: "no content", path: "/x?status=204", wantStatus: 204, wantBody: []byte{}},
		{name: "head has no body", method: http.MethodHead, path: "/x?status=200", wantStatus: 200, wantBody: []byte{}},
		{name: "post to default mode", method: http.MethodPost, path: "/x?status=200", reqBody: `{"a":1}`, wantStatus: 200, wantBody: []byte(Welcome)},
		{name: "unknown parameter", path: "/site/1?dealy=100ms", wantStatus: 400},
		{name: "status out of range", path: "/site/1?status=700", wantStatus: 400},
		{name: "negative size", path: "/site/1?size=-1", wantStatus: 400},
		{name: "bad delay", path: "/site/1?delay=soon", wantStatus: 400},
		{name: "body on 204", path: "/site/1?status=204&size=3", wantStatus: 400},
		{name: "parameter twice", path: "/site/1?status=200&status=404", wantStatus: 400},
		{name: "parameter a mode does not take", path: "/endless?size=3", wantStatus: 400},
		{name: "hang takes no parameters", path: "/hang?delay=1", wantStatus: 400},
		{name: "bad redirect count", path: "/redirect/x/site/1", wantStatus: 400},
		{name: "backtrack default", path: "/backtrack/1", wantStatus: 200, wantBody: []byte(strings.Repeat("a", 63) + "b")},
		{name: "backtrack sized", path: "/backtrack/1?size=10", wantStatus: 200, wantBody: []byte("aaaaaaaaab")},
		{name: "drip fixed size", path: "/drip/1?size=30&every=1ms", wantStatus: 200, wantBody: Body(30)},
		{name: "drip with status", path: "/drip/1?size=3&every=1&status=500", wantStatus: 500, wantBody: Body(3)},
		{name: "slow headers, finite", path: "/slow-headers/1?count=3&every=1ms", wantStatus: 200, wantBody: []byte(Welcome),
			check: func(t *testing.T, x exchange) {
				for i := range 3 {
					if got := x.resp.Header.Get(fmt.Sprintf("X-Slow-%d", i)); got != fmt.Sprint(i) {
						t.Errorf("header X-Slow-%d = %q, want %d", i, got, i)
					}
				}
			}},
		{name: "slow headers, error status and size", path: "/slow-headers/1?count=1&every=1ms&status=502&size=100", wantStatus: 502, wantBody: Body(100)},
		{name: "huge headers", path: "/huge-headers/1?size=100000", wantStatus: 200, wantBody: []byte(Welcome),
			check: func(t *testing.T, x exchange) {
				n := 0
				for k, vs := range x.resp.Header {
					if strings.HasPrefix(k, "X-Pad-") {
						n += len(k) + len(": \r\n") + len(vs[0])
					}
				}
				if n != 100000 {
					t.Errorf("padding headers take %d bytes, want 100000", n)
				}
			}},
		{name: "redirect chain reaches its target", path: "/redirect/3/site/1?" + FixedReply().Query(), wantStatus: 200, wantBody: Body(2048),
			check: func(t *testing.T, x exchange) {
				if x.hops != 3 {
					t.Errorf("followed %d redirects, want 3", x.hops)
				}
				if got := x.resp.Request.URL.RequestURI(); got != "/site/1?"+FixedReply().Query() {
					t.Errorf("ended at %s", got)
				}
			}},
		{name: "redirect chain to root", path: "/redirect/1", wantStatus: 0,
			check: func(t *testing.T, x exchange) {
				want, _ := fast.Expect("/")
				if x.resp.StatusCode != want.Status || x.hops != 1 {
					t.Errorf("status %d after %d hops, want %d after 1", x.resp.StatusCode, x.hops, want.Status)
				}
			}},
		{name: "echo", method: http.MethodPut, path: "/echo/7?x=1", reqBody: `{"ping":1}`, user: "monitor",
			header: http.Header{"Content-Type": {"application/json"}, "X-Probe": {"a", "b"}}, wantStatus: 200,
			check: func(t *testing.T, x exchange) {
				var e Echo
				if err := json.Unmarshal(x.body, &e); err != nil {
					t.Fatalf("decode echo: %v", err)
				}
				if e.Method != http.MethodPut || e.Path != "/echo/7" || e.Query != "x=1" || e.Body != `{"ping":1}` || e.BodyBytes != 10 {
					t.Errorf("echo = %+v", e)
				}
				if !e.BasicAuth || e.BasicAuthUser != "monitor" {
					t.Errorf("basic auth = %v %q, want monitor", e.BasicAuth, e.BasicAuthUser)
				}
				if got := e.Headers["X-Probe"]; len(got) != 2 || got[0] != "a" || got[1] != "b" {
					t.Errorf("X-Probe = %q", got)
				}
				if got := e.Headers["Content-Type"]; len(got) != 1 || got[0] != "application/json" {
					t.Errorf("Content-Type = %q", got)
				}
			}},
		{name: "echo with status", path: "/echo?status=418", wantStatus: 418},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var x exchange
			client := &http.Client{
				Transport: &http.Transport{DisableKeepAlives: true},
				CheckRedirect: func(_ *http.Request, via []*http.Request) error {
					x.hops = len(via)
					return nil
				},
			}
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			req, err := http.NewRequestWithContext(t.Context(), method, farm.URL()+tc.path, strings.NewReader(tc.reqBody))
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range tc.header {
				req.Header[k] = vs
			}
			if tc.user != "" {
				req.SetBasicAuth(tc.user, "secret")
			}
			start := time.Now()
			x.resp, err = client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer x.resp.Body.Close()
			x.body, err = io.ReadAll(x.resp.Body)
			x.elapsed = time.Since(start)
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if tc.wantStatus != 0 && x.resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %.200q", x.resp.StatusCode, tc.wantStatus, x.body)
			}
			if tc.wantStatus == 400 && !bytes.HasPrefix(x.body, []byte("targets: ")) {
				t.Errorf("400 body %q does not say why", x.body)
			}
			if tc.wantBody != nil && !bytes.Equal(x.body, tc.wantBody) {
				t.Errorf("body %.80q (%d bytes), want %.80q (%d bytes)", x.body, len(x.body), tc.wantBody, len(tc.wantBody))
			}
			if tc.check != nil {
				tc.check(t, x)
			}
		})
	}
}

func TestDefaultDistribution(t *testing.T) {
	const n = 10000
	var slow, s500, s404, s200 int
	for i := range n {
		r, err := Options{}.Expect(fmt.Sprintf("/site/%d", i))
		if err != nil {
			t.Fatal(err)
		}
		switch r.Status {
		case 500:
			s500++
		case 404:
			s404++
		case 200:
			s200++
			if !bytes.Equal(r.Body(), []byte(Welcome)) {
				t.Fatalf("/site/%d: 200 with body %q", i, r.Body())
			}
		default:
			t.Fatalf("/site/%d: status %d", i, r.Status)
		}
		switch r.Delay {
		case DefaultSlowDelay:
			slow++
		case DefaultFastDelay:
		default:
			t.Fatalf("/site/%d: delay %s", i, r.Delay)
		}
	}
	t.Logf("over %d paths: %d slow, %d x 500, %d x 404, %d x 200", n, slow, s500, s404, s200)
	for _, c := range []struct {
		name      string
		got, want int
	}{{"slow", slow, n / 5}, {"500", s500, n / 10}, {"404", s404, n / 10}} {
		if d := c.got - c.want; d < -n/50 || d > n/50 { // within 2 percentage points
			t.Errorf("%s: %d of %d, want about %d", c.name, c.got, n, c.want)
		}
	}
}

// TestServerMatchesExpect checks that what the farm answers is what Expect
// predicts, path by path.
func TestServerMatchesExpect(t *testing.T) {
	farm := startFarm(t, fast)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for i := range 300 {
		path := fmt.Sprintf("/site/%d", i)
		if i%7 == 0 {
			path += "?size=100" // a fixed part mixed with hashed parts
		}
		want, err := fast.Expect(farm.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		resp, err := client.Get(farm.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		elapsed := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want.Status || !bytes.Equal(body, want.Body()) {
			t.Errorf("%s: got %d %q, want %d %q", path, resp.StatusCode, body, want.Status, want.Body())
		}
		if elapsed < want.Delay {
			t.Errorf("%s: answered after %s, before its delay %s", path, elapsed, want.Delay)
		}
	}
}

func TestExpect(t *testing.T) {
	cases := []struct {
		name    string
		target  string
		want    Reply
		wantErr bool
	}{
		{name: "fixed", target: "/site/1?delay=100ms&size=2048&status=200", want: FixedReply()},
		{name: "full URL", target: "http://127.0.0.1:1/site/1?" + FixedReply().Query(), want: FixedReply()},
		{name: "integer milliseconds", target: "/a?delay=250&status=404", want: Reply{Delay: 250 * time.Millisecond, Status: 404}},
		{name: "status 200 without size", target: "/a?status=200&delay=0", want: Reply{Status: 200, Size: len(Welcome)}},
		{name: "other mode", target: "/hang/1", wantErr: true},
		{name: "bad parameter", target: "/a?sizes=1", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Options{}.Expect(tc.target)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestHostileModesEndWithClient proves that no mode outlives its client: each
// handler returns once the client gives up.
func TestHostileModesEndWithClient(t *testing.T) {
	cases := []struct {
		name string
		path string
		// giveUp runs once the handler has started and returns when the
		// client has gone away.
		giveUp func(t *testing.T, resp <-chan result, cancel context.CancelFunc)
	}{
		{name: "hang", path: "/hang/1", giveUp: cancelWaiting},
		{name: "slow headers", path: "/slow-headers/1?every=1ms", giveUp: cancelWaiting},
		{name: "slow header delay", path: "/slow-headers/1?delay=1h", giveUp: cancelWaiting},
		{name: "default delay", path: "/site/1?delay=1h", giveUp: cancelWaiting},
		{name: "drip", path: "/drip/1?every=1ms", giveUp: readThenClose(40)},
		{name: "endless", path: "/endless/1", giveUp: readThenClose(3 << 20)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			started, done := make(chan struct{}), make(chan struct{})
			h := Handler(fast)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(started)
				defer close(done)
				h.ServeHTTP(w, r)
			}))
			defer srv.Close()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			res := make(chan result, 1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+tc.path, nil)
				resp, err := srv.Client().Do(req)
				res <- result{resp, err}
			}()
			wait(t, started, "handler start")
			tc.giveUp(t, res, cancel)
			wait(t, done, "handler return after the client left")
		})
	}
}

type result struct {
	resp *http.Response
	err  error
}

func cancelWaiting(t *testing.T, res <-chan result, cancel context.CancelFunc) {
	cancel()
	select {
	case r := <-res:
		if !errors.Is(r.err, context.Canceled) {
			t.Errorf("request ended with %v, want context.Canceled", r.err)
		}
	case <-time.After(liveness):
		t.Fatal("request did not end on cancel")
	}
}

func readThenClose(n int64) func(*testing.T, <-chan result, context.CancelFunc) {
	return func(t *testing.T, res <-chan result, _ context.CancelFunc) {
		var r result
		select {
		case r = <-res:
		case <-time.After(liveness):
			t.Fatal("no response headers")
		}
		if r.err != nil {
			t.Fatal(r.err)
		}
		got, err := io.ReadAll(io.LimitReader(r.resp.Body, n))
		if err != nil || int64(len(got)) != n {
			t.Fatalf("read %d bytes, %v; want %d", len(got), err, n)
		}
		if !bytes.Equal(got, Body(int(n))) {
			t.Errorf("body is not the body stream")
		}
		r.resp.Body.Close()
	}
}

func wait(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(liveness):
		t.Fatalf("no %s within %s", what, liveness)
	}
}

// TestCloseEndsRequests proves Close ends requests in flight, hijacked ones
// included, and returns only after their handlers did.
func TestCloseEndsRequests(t *testing.T) {
	farm, err := Start(t.Context(), "127.0.0.1:0", fast)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(farm.URL() + "/drip/1?every=1ms")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	conn, err := net.Dial("tcp", strings.TrimPrefix(farm.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /slow-headers/1 HTTP/1.1\r\nHost: farm\r\n\r\n")
	br := bufio.NewReader(conn)
	if line, err := br.ReadString('\n'); err != nil || line != "HTTP/1.1 200 OK\r\n" {
		t.Fatalf("status line %q, %v", line, err)
	}

	closed := make(chan struct{})
	go func() {
		defer close(closed)
		if err := farm.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()
	wait(t, closed, "Close")
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("drip body ended cleanly after Close; want a cut connection")
	}
	if _, err := io.ReadAll(br); err != nil {
		t.Errorf("slow-headers connection: %v, want EOF", err)
	}
	select {
	case <-farm.Done():
	default:
		t.Error("Done not closed after Close")
	}
}

func TestStartEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	farm, err := Start(ctx, "127.0.0.1:0", fast)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	wait(t, farm.Done(), "stop after the context ended")
	if err := farm.Close(); err != nil {
		t.Errorf("close after stop: %v", err)
	}
}

func TestRedirectLoop(t *testing.T) {
	farm := startFarm(t, fast)
	client := &http.Client{CheckRedirect: noFollow}
	path := "/redirect-loop/9?a=b"
	resp, err := client.Get(farm.URL() + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != path {
		t.Errorf("got %d to %q, want 302 to %q", resp.StatusCode, resp.Header.Get("Location"), path)
	}
	// A client that follows redirects gives up: the loop never ends.
	_, err = http.Get(farm.URL() + path)
	if err == nil || !strings.Contains(err.Error(), "stopped after 10 redirects") {
		t.Errorf("following the loop: %v, want stopped after 10 redirects", err)
	}
}

func TestBacktrackBodyDefeatsBacktrackRegex(t *testing.T) {
	farm := startFarm(t, fast)
	resp, err := http.Get(farm.URL() + "/backtrack/1")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	re, err := regex.Compile(BacktrackRegex, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if re.Engine() != regex.EngineBacktrack {
		t.Fatalf("engine %s, want %s", re.Engine(), regex.EngineBacktrack)
	}
	if _, err := re.Match(body); !errors.Is(err, regex.ErrTimeout) {
		t.Errorf("match on the backtrack body: %v, want a timeout", err)
	}
	if ok, err := re.Match([]byte("aaaa")); !ok || err != nil {
		t.Errorf("match on aaaa: %v, %v; want a quick match", ok, err)
	}
}

func TestBodyStream(t *testing.T) {
	const n = 100000
	b := Body(n)
	if !bytes.HasPrefix(b, []byte(Welcome)) {
		t.Fatalf("body starts %q", b[:30])
	}
	if i := bytes.Index(bytes.ToLower(b[1:]), []byte("welcome")); i+1 != len("You are always ") {
		t.Errorf("\"welcome\" found again at %d: the filler must not contain it", i+1)
	}
	h := Handler(Options{}).(*handler)
	for pos := range n {
		if got := h.streamByte(pos)[0]; got != b[pos] {
			t.Fatalf("drip byte %d is %q, body has %q", pos, got, b[pos])
		}
	}
	for _, size := range []int{0, 1, 23, 24, len(h.head), len(h.head) + 1, n} {
		var out bytes.Buffer
		h.writeBody(context.Background(), &out, size)
		if !bytes.Equal(out.Bytes(), Body(size)) {
			t.Errorf("writeBody(%d) differs from Body(%d)", size, size)
		}
	}
}

func TestURLOfUnspecifiedAddress(t *testing.T) {
	farm := startFarm(t, fast)
	if !strings.HasPrefix(farm.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %s", farm.URL())
	}
	if got := dialable(&net.TCPAddr{IP: net.IPv4zero, Port: 80}); got != "127.0.0.1:80" {
		t.Errorf("dialable(0.0.0.0:80) = %s", got)
	}
	if got := dialable(&net.TCPAddr{IP: net.IPv6unspecified, Port: 80}); got != "[::1]:80" {
		t.Errorf("dialable([::]:80) = %s", got)
	}
}
