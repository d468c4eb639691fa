// Package nettest makes misbehaving network peers on loopback for tests.
package nettest

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

// StalledAddr returns a loopback address whose connects never complete: a
// listening socket that never accepts, its accept queue already full, so
// the kernel drops every further SYN as a black-holed address would.
func StalledAddr(tb testing.TB) string {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		tb.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		tb.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	d := net.Dialer{Timeout: 5 * time.Second}
	filler, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		tb.Fatalf("fill the accept queue of %s: %v", addr, err)
	}
	tb.Cleanup(func() { _ = filler.Close() })
	return addr
}
