package fanout

import (
	"log/slog"

	"github.com/watcher-dev/watcher/internal/app"
	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/invoke"
	"github.com/watcher-dev/watcher/internal/queue"
	"github.com/watcher-dev/watcher/internal/spool"
	"github.com/watcher-dev/watcher/internal/store"
)

// FromConfig builds the fanout handler from the fanout's configuration:
// the one constructor the Lambda main and the local fleet share. spill keeps
// what the database refused (nil: none); alerting evaluates alerts and sends
// their notifications (nil: off).
func FromConfig(c config.Fanout, st Store, inv Invoker, spill Spill, alerting *Alerting, log *slog.Logger) *Handler {
	return New(Config{
		Probes:        c.Probes,
		SpanOffset:    c.SpanOffset,
		MaxDelay:      c.MaxDelay,
		Lead:          c.DispatchLead,
		ProbeMemoryMB: c.ProbeMemoryMB,
		Plan:          c.Plan,
		Meter:         app.Meter(c.Common, cost.NominalFanoutMemoryMB),
		Local:         c.Region == "local",
		Spill:         spill,
		Alerting:      alerting,
	}, st, inv, log, RealClock{})
}

// What the fanout's dependencies are meant to be.
var (
	_ Store      = (*store.Store)(nil)
	_ AlertStore = (*store.Store)(nil)
	_ Invoker    = invoke.Lambda{}
	_ Invoker    = (*invoke.InProcess)(nil)
	_ Spill      = (*queue.Sink)(nil)
	_ Spill      = (*spool.Dir)(nil)
	_ Waiting    = (*spool.Dir)(nil)
)
