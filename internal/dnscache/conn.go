package dnscache

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// conn is what Go's resolver takes for a connection to a name server: a
// stream (not a net.PacketConn, so the resolver frames each message with a
// two-byte length, as over TCP) whose answers the cache writes. It serves
// one resolver exchange: a query written, its answer read.
type conn struct {
	cache  *Cache
	ctx    context.Context // the resolver's, for this exchange
	server string

	mu       sync.Mutex
	deadline time.Time
	in       []byte // written, not yet a whole message
	out      []byte // answers, framed, not yet read
	closed   bool
}

func newConn(ctx context.Context, c *Cache, server string) *conn {
	return &conn{cache: c, ctx: ctx, server: server}
}

// Write takes framed queries and answers each whole one before returning:
// from the cache, or after the server answered.
func (c *conn) Write(b []byte) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	c.in = append(c.in, b...)
	deadline := c.deadline
	var queries [][]byte
	for len(c.in) >= 2 {
		n := int(c.in[0])<<8 | int(c.in[1])
		if len(c.in) < 2+n {
			break
		}
		queries = append(queries, c.in[2:2+n])
		c.in = c.in[2+n:]
	}
	c.mu.Unlock()

	for _, q := range queries {
		ans, err := c.answer(q, deadline)
		if err != nil {
			return 0, err
		}
		c.mu.Lock()
		c.out = append(c.out, byte(len(ans)>>8), byte(len(ans)))
		c.out = append(c.out, ans...)
		c.mu.Unlock()
	}
	return len(b), nil
}

// answer answers one query within the connection's deadline.
func (c *conn) answer(query []byte, deadline time.Time) ([]byte, error) {
	ctx := c.ctx
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	ans, err := c.cache.answer(ctx, c.server, query)
	if errors.Is(err, context.DeadlineExceeded) && c.ctx.Err() == nil {
		err = os.ErrDeadlineExceeded // the connection's deadline, as a socket reports it
	}
	if len(ans) > 0xffff {
		return nil, errors.New("dnscache: answer too long")
	}
	return ans, err
}

// Read returns answers written so far; io.EOF when there are none, as a
// server that hung up.
func (c *conn) Read(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(c.out) == 0 {
		return 0, io.EOF
	}
	n := copy(b, c.out)
	c.out = c.out[n:]
	return n, nil
}

func (c *conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return nil
}

func (c *conn) SetReadDeadline(time.Time) error    { return nil } // reads never wait
func (c *conn) SetWriteDeadline(t time.Time) error { return c.SetDeadline(t) }

func (c *conn) LocalAddr() net.Addr  { return addr("dnscache") }
func (c *conn) RemoteAddr() net.Addr { return addr(c.server) }

// addr names the ends of a conn.
type addr string

func (a addr) Network() string { return "dnscache" }
func (a addr) String() string  { return string(a) }
