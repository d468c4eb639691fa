package targets

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Echo is the JSON document /echo answers with, so a test can verify what a
// probe sent. Headers are as received (Authorization included: the farm is a
// local test fixture and its answers go only to the probe that asked).
type Echo struct {
	Method        string              `json:"method"`
	Path          string              `json:"path"`
	Query         string              `json:"query"`
	Host          string              `json:"host"`
	Proto         string              `json:"proto"`
	Headers       map[string][]string `json:"headers"`
	Body          string              `json:"body"`
	BodyBytes     int64               `json:"body_bytes"`      // all bytes received; Body keeps the first 1 MiB
	BasicAuthUser string              `json:"basic_auth_user"` // "" without basic auth
	BasicAuth     bool                `json:"basic_auth"`
}

// handler serves every mode. It holds only immutable, precomputed data.
type handler struct {
	opts Options
	// head is the start of the body stream: Welcome then whole filler lines.
	// tail is whole filler lines, so any stream position after head is a
	// position in tail's cycle.
	head, tail []byte
	// hugeValue is one huge-headers header value.
	hugeValue string
}

// Handler returns the farm as an http.Handler. Every wait in it ends when the
// request's context does, so no request outlives its client.
func Handler(opts Options) http.Handler {
	const block = 32 << 10
	tail := make([]byte, 0, block+len(filler))
	for len(tail) < block {
		tail = append(tail, filler...)
	}
	head := append([]byte(Welcome), tail...)
	return &handler{
		opts:      opts.withDefaults(),
		head:      head,
		tail:      tail,
		hugeValue: strings.Repeat("x", 4000),
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m, rest := mode(r.URL.Path)
	var err error
	switch m {
	case "":
		err = h.serveDefault(w, r)
	case ModeEcho:
		err = h.serveEcho(w, r)
	case ModeHang:
		err = h.serveHang(r)
	case ModeDrip:
		err = h.serveDrip(w, r)
	case ModeEndless:
		err = h.serveEndless(w, r)
	case ModeHugeHeaders:
		err = h.serveHugeHeaders(w, r)
	case ModeSlowHeaders:
		err = h.serveSlowHeaders(w, r)
	case ModeRedirect:
		err = h.serveRedirect(w, r, rest)
	case ModeRedirectLoop:
		h.serveRedirectLoop(w, r)
	case ModeBacktrack:
		err = h.serveBacktrack(w, r)
	}
	if err != nil {
		http.Error(w, "targets: "+err.Error(), http.StatusBadRequest)
	}
}

// sleep waits d or until ctx ends, reporting whether the full wait elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// writeHead sets the common headers and writes the status line; size < 0
// means unknown length (chunked).
func writeHead(w http.ResponseWriter, status, size int) {
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	if size >= 0 {
		hd.Set("Content-Length", strconv.Itoa(size))
	}
	w.WriteHeader(status)
}

// writeBody writes the first n bytes of the body stream; n < 0 writes until
// the client goes away. It stops at the first write error.
func (h *handler) writeBody(ctx context.Context, w io.Writer, n int) {
	first := h.head
	if n >= 0 && n < len(first) {
		first = first[:n]
	}
	if _, err := w.Write(first); err != nil {
		return
	}
	left := n - len(first)
	for n < 0 || left > 0 {
		if ctx.Err() != nil {
			return
		}
		chunk := h.tail
		if n >= 0 && left < len(chunk) {
			chunk = chunk[:left]
		}
		if _, err := w.Write(chunk); err != nil {
			return
		}
		left -= len(chunk)
	}
}

// streamByte returns the body stream's byte at pos as a one-byte slice.
func (h *handler) streamByte(pos int) []byte {
	if pos < len(h.head) {
		return h.head[pos : pos+1]
	}
	i := (pos - len(h.head)) % len(h.tail)
	return h.tail[i : i+1]
}

func (h *handler) serveDefault(w http.ResponseWriter, r *http.Request) error {
	rep, err := h.opts.reply(r.URL.Path, r.URL.RawQuery)
	if err != nil {
		return err
	}
	if !sleep(r.Context(), rep.Delay) {
		return nil
	}
	writeHead(w, rep.Status, rep.Size)
	if rep.Size > 0 {
		h.writeBody(r.Context(), w, rep.Size)
	}
	return nil
}

func (h *handler) serveEcho(w http.ResponseWriter, r *http.Request) error {
	p, err := parseQuery(r.URL.RawQuery, false, []string{"delay", "status"})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if p.has("status") {
		status = p.status
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, echoBodyCap))
	if err != nil {
		// Mostly the client went away mid-body and the 400 goes nowhere; a
		// malformed body still gets told.
		return fmt.Errorf("read body: %w", err)
	}
	rest, _ := io.Copy(io.Discard, r.Body)
	user, _, hasAuth := r.BasicAuth()
	e := Echo{
		Method:        r.Method,
		Path:          r.URL.Path,
		Query:         r.URL.RawQuery,
		Host:          r.Host,
		Proto:         r.Proto,
		Headers:       r.Header,
		Body:          string(body),
		BodyBytes:     int64(len(body)) + rest,
		BasicAuthUser: user,
		BasicAuth:     hasAuth,
	}
	out, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode echo: %w", err)
	}
	if !sleep(r.Context(), p.delay) {
		return nil
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	_, _ = w.Write(out)
	return nil
}

func (h *handler) serveHang(r *http.Request) error {
	if _, err := parseParams(r.URL.RawQuery); err != nil {
		return err
	}
	<-r.Context().Done()
	return nil
}

func (h *handler) serveDrip(w http.ResponseWriter, r *http.Request) error {
	p, err := parseParams(r.URL.RawQuery, "delay", "status", "size", "every")
	if err != nil {
		return err
	}
	status, size, every := http.StatusOK, -1, defaultEvery
	if p.has("status") {
		status = p.status
	}
	if p.has("size") {
		size = p.size
	}
	if p.has("every") {
		every = p.every
	}
	ctx := r.Context()
	if !sleep(ctx, p.delay) {
		return nil
	}
	rc := http.NewResponseController(w)
	writeHead(w, status, size)
	if rc.Flush() != nil {
		return nil
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for pos := 0; size < 0 || pos < size; pos++ {
		select {
		case <-ctx.Done():
			abort()
		case <-t.C:
		}
		if _, err := w.Write(h.streamByte(pos)); err != nil {
			return nil
		}
		if rc.Flush() != nil {
			return nil
		}
	}
	return nil
}

func (h *handler) serveEndless(w http.ResponseWriter, r *http.Request) error {
	p, err := parseParams(r.URL.RawQuery, "delay", "status")
	if err != nil {
		return err
	}
	status := http.StatusOK
	if p.has("status") {
		status = p.status
	}
	if !sleep(r.Context(), p.delay) {
		return nil
	}
	writeHead(w, status, -1)
	h.writeBody(r.Context(), w, -1)
	abort() // only the end of the request ends the body
	return nil
}

// abort ends a response that has no natural end, so the client sees a cut
// connection rather than a clean, short body (net/http's documented way).
func abort() { panic(http.ErrAbortHandler) }

func (h *handler) serveHugeHeaders(w http.ResponseWriter, r *http.Request) error {
	p, err := parseParams(r.URL.RawQuery, "delay", "status", "size")
	if err != nil {
		return err
	}
	status, size := http.StatusOK, hugeHeaderSize
	if p.has("status") {
		status = p.status
	}
	if p.has("size") {
		size = p.size
	}
	if size > maxHeaderBytes {
		return fmt.Errorf("%w size=%d: at most %d", errBadParam, size, maxHeaderBytes)
	}
	if !sleep(r.Context(), p.delay) {
		return nil
	}
	hd := w.Header()
	// Each line is "X-Pad-NNNNNN: value\r\n"; count its bytes so the total is exact.
	for i := 0; size > 0; i++ {
		name := fmt.Sprintf("X-Pad-%06d", i)
		over := len(name) + len(": \r\n")
		n := min(len(h.hugeValue), max(size-over, 1))
		hd[name] = []string{h.hugeValue[:n]}
		size -= over + n
	}
	bodySize := naturalSize(status)
	writeHead(w, status, bodySize)
	h.writeBody(r.Context(), w, bodySize)
	return nil
}

// serveSlowHeaders takes over the connection, because net/http buffers
// headers until the body starts and could not trickle them.
func (h *handler) serveSlowHeaders(w http.ResponseWriter, r *http.Request) error {
	p, err := parseParams(r.URL.RawQuery, "delay", "status", "size", "every", "count")
	if err != nil {
		return err
	}
	status, every := http.StatusOK, defaultEvery
	if p.has("status") {
		status = p.status
	}
	if p.has("every") {
		every = p.every
	}
	size := naturalSize(status)
	if p.has("size") {
		size = p.size
	}
	if !sleep(r.Context(), p.delay) {
		return nil
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return fmt.Errorf("hijack connection: %w", err)
	}
	// After a hijack net/http no longer notices the client leaving: watch the
	// connection ourselves, and close it when the server shuts down.
	ctx, cancel := context.WithCancel(r.Context())
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		_, _ = io.Copy(io.Discard, conn)
		cancel()
	}()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer func() {
		stop()
		cancel()
		_ = conn.Close()
		<-readDone
	}()
	h.writeSlowHeaders(ctx, conn, brw, status, size, every, p.count)
	return nil
}

func (h *handler) writeSlowHeaders(ctx context.Context, conn net.Conn, brw *bufio.ReadWriter, status, size int, every time.Duration, count int) {
	bw := brw.Writer
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	if bw.Flush() != nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 0; count == 0 || i < count; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fmt.Fprintf(bw, "X-Slow-%d: %d\r\n", i, i)
		if bw.Flush() != nil {
			return
		}
	}
	fmt.Fprintf(bw, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", size)
	h.writeBody(ctx, bw, size)
	_ = bw.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite() // let the client read the end before the close
	}
}

func (h *handler) serveRedirect(w http.ResponseWriter, r *http.Request, rest string) error {
	nStr, target, _ := strings.Cut(rest, "/")
	n, err := strconv.Atoi(nStr)
	if err != nil || n < 1 {
		return fmt.Errorf("%w: want /redirect/N/path with N >= 1, got %q", errBadParam, r.URL.Path)
	}
	loc := "/" + target
	if n > 1 {
		loc = "/" + ModeRedirect + "/" + strconv.Itoa(n-1) + loc
	}
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusFound)
	return nil
}

func (h *handler) serveRedirectLoop(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Location", r.URL.RequestURI())
	w.WriteHeader(http.StatusFound)
}

func (h *handler) serveBacktrack(w http.ResponseWriter, r *http.Request) error {
	p, err := parseParams(r.URL.RawQuery, "delay", "status", "size")
	if err != nil {
		return err
	}
	status, size := http.StatusOK, backtrackSize
	if p.has("status") {
		status = p.status
	}
	if p.has("size") {
		size = p.size
	}
	if size < 1 || size > echoBodyCap {
		return fmt.Errorf("%w size=%d: want 1..%d", errBadParam, size, echoBodyCap)
	}
	if !sleep(r.Context(), p.delay) {
		return nil
	}
	body := make([]byte, size)
	for i := range body {
		body[i] = 'a'
	}
	body[size-1] = 'b'
	writeHead(w, status, size)
	_, _ = w.Write(body)
	return nil
}
