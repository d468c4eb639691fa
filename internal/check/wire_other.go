//go:build !linux

package check

import (
	"net"
	"syscall"
)

// stampSocket: receive stamps are read on Linux only; elsewhere a check's
// times are the wall clock's.
func stampSocket(syscall.RawConn) bool { return false }

func keepStamping() {}

func wireConn(conn net.Conn, _ *wire) net.Conn { return conn }
