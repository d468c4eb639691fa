// Package check runs one HTTP check against one target and measures it:
// status, response time, per-phase times (from net/http/httptrace), body
// size and regex match, each failure named by an error class. It also owns
// the address policy that keeps user-supplied targets away from the probe's
// own network (loopback, cloud metadata, private ranges).
package check

import (
	"time"

	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/regex"
)

// DefaultBodyCap is how much of a body is read and searched by default.
const DefaultBodyCap = endpoint.BodyCap

// Request is one check ready to run: everything resolved, the regex compiled.
type Request struct {
	URL      string
	Method   string
	Headers  map[string]string
	Body     string
	Username string // basic auth is sent when Username is set
	Password string // resolved secret; never logged
	Regex    *regex.Regex
	Timeout  time.Duration // whole check up to the end of the body; endpoint.DefaultTimeout when zero
}
