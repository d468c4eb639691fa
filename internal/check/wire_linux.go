package check

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stampSocket asks the kernel to stamp each read of c's socket with the
// arrival time of its bytes (SO_TIMESTAMPNS, which TCP supports: the stamp
// of the last segment a read consumed).
func stampSocket(c syscall.RawConn) bool {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); cerr != nil {
		return false
	}
	return err == nil
}

// keepStamping holds the kernel's receive stamping on for as long as the
// process lives, with one socket that asks for it: stamping is turned on
// for the host a moment after the first socket asks (reads before that have
// no stamp) and off again after the last one closes.
var keepStamping = sync.OnceFunc(func() {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1) != nil {
		_ = unix.Close(fd)
	}
})

// wireConn reads conn with recvmsg(2) to get each read's kernel stamp and
// tells w of every read and write. conn must be a *net.TCPConn whose socket
// stampSocket set up; anything else is returned as it is.
func wireConn(conn net.Conn, w *wire) net.Conn {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return conn
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return conn
	}
	var rtt time.Duration
	_ = raw.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			rtt = time.Duration(info.Rtt) * time.Microsecond
		}
	})
	w.connected(rtt)
	c := &stampedConn{TCPConn: tc, raw: raw, w: w}
	c.recv = c.recvmsg
	return c
}

// stampedConn is a TCP connection whose reads carry their kernel stamps.
type stampedConn struct {
	*net.TCPConn
	raw  syscall.RawConn
	w    *wire
	recv func(fd uintptr) bool // c.recvmsg, bound once

	// The current read, for recv.
	p   []byte
	n   int
	err error
	at  time.Time
	oob [64]byte
}

func (c *stampedConn) Write(p []byte) (int, error) {
	c.w.writing()
	return c.TCPConn.Write(p)
}

func (c *stampedConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.p, c.n, c.err, c.at = p, 0, nil, time.Time{}
	if err := c.raw.Read(c.recv); err != nil {
		return 0, err // the deadline, or a closed connection
	}
	n, err := c.n, c.err
	c.p = nil
	switch {
	case err != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(),
			Err: os.NewSyscallError("recvmsg", err)}
	case n == 0:
		return 0, io.EOF
	}
	c.w.received(c.at)
	return n, nil
}

// recvmsg is one non-blocking recvmsg(2) for Read; false asks the runtime
// to wait until the socket is readable.
func (c *stampedConn) recvmsg(fd uintptr) bool {
	for {
		n, oobn, _, _, err := unix.Recvmsg(int(fd), c.p, c.oob[:], 0)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return false
		}
		c.n, c.err = n, err
		if err == nil {
			c.at = rxStamp(c.oob[:oobn])
		}
		return true
	}
}

// rxStamp finds the SCM_TIMESTAMPNS message in oob; zero when absent.
func rxStamp(oob []byte) time.Time {
	for len(oob) > 0 {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return time.Time{}
		}
		// A struct timespec of two 64-bit fields (64-bit Linux only).
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && len(data) == 16 {
			sec, nsec := binary.NativeEndian.Uint64(data), binary.NativeEndian.Uint64(data[8:])
			return time.Unix(int64(sec), int64(nsec))
		}
		oob = rest
	}
	return time.Time{}
}
