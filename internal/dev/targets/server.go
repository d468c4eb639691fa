package targets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is a running farm on a TCP address.
type Server struct {
	srv  *http.Server
	url  string
	stop context.CancelFunc // cancels every request's context
	done chan struct{}      // closed when Serve has returned
	err  error              // Serve's error, other than a normal close

	// mu guards closed; handlers join inflight under a read lock so that Close,
	// once it holds the write lock, waits for a set that can no longer grow.
	mu       sync.RWMutex
	closed   bool
	inflight sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// Start listens on addr (such as "127.0.0.1:0" or ":8080") and serves the
// farm until Close or until ctx ends. Ending ctx also ends every request.
func Start(ctx context.Context, addr string, opts Options) (*Server, error) {
	opts = opts.withDefaults()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for target farm on %s: %w", addr, err)
	}
	base, stop := context.WithCancel(ctx)
	s := &Server{stop: stop, done: make(chan struct{}), url: "http://" + dialable(ln.Addr())}
	inner := Handler(opts)
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(inner, w, r) }),
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
		ErrorLog:          slog.NewLogLogger(opts.Logger.With("component", "targets").Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.err = fmt.Errorf("serve target farm: %w", err)
		}
	}()
	// base ends with ctx or with Close; either way the server must stop (a
	// second Close just waits for the first).
	context.AfterFunc(base, func() { _ = s.Close() })
	return s, nil
}

func (s *Server) serve(h http.Handler, w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		http.Error(w, "targets: shutting down", http.StatusServiceUnavailable)
		return
	}
	s.inflight.Add(1)
	s.mu.RUnlock()
	defer s.inflight.Done()
	h.ServeHTTP(w, r)
}

// dialable turns a listener address into one a client can dial: an
// unspecified IP (":8080") becomes loopback.
func dialable(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	ip := net.IPv4(127, 0, 0, 1)
	if tcp.IP.To4() == nil {
		ip = net.IPv6loopback
	}
	return (&net.TCPAddr{IP: ip, Port: tcp.Port}).String()
}

// URL returns the farm's base URL, such as "http://127.0.0.1:40123".
func (s *Server) URL() string { return s.url }

// Done is closed once the server has stopped serving.
func (s *Server) Done() <-chan struct{} { return s.done }

// Close stops the farm: it ends every request's context, closes the listener
// and connections, and returns once every handler has returned. It is safe
// to call more than once; it returns the error that stopped serving, if any.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		// Cut connections before ending contexts, so an unfinished response
		// reaches its client cut, never as a clean short one.
		closeErr := s.srv.Close()
		s.stop()
		<-s.done
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.inflight.Wait()
		s.closeErr = errors.Join(s.err, closeErr)
	})
	return s.closeErr
}
