package probe

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/watcher-dev/watcher/internal/app"
	"github.com/watcher-dev/watcher/internal/check"
	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/meter"
	"github.com/watcher-dev/watcher/internal/queue"
	"github.com/watcher-dev/watcher/internal/secrets"
	"github.com/watcher-dev/watcher/internal/store"
)

// What each output is meant to be.
var (
	_ Sink               = (*store.Store)(nil)
	_ meter.Recorder     = (*store.Store)(nil)
	_ Claimer            = (*store.Store)(nil)
	_ Sink               = (*queue.Sink)(nil)
	_ meter.Recorder     = (*queue.Sink)(nil)
	_ meter.QueueCounter = (*queue.Sink)(nil)
)

// FromConfig builds a probe handler from the probe's configuration: the one
// constructor the Lambda main, the local fleet and the benchmark share. sm
// reads basic-auth passwords from Secrets Manager (nil: the environment only).
func FromConfig(c config.Probe, out Outputs, sm secrets.SecretsManager, log *slog.Logger) *Handler {
	checker := check.New(check.Options{
		Policy:           check.Policy{AllowLoopback: c.AllowLoopback, AllowPrivate: c.AllowPrivate},
		ReuseConnections: c.ReuseConns,
		FreshDNS:         c.FreshDNS,
	})
	return New(Config{
		Location:   c.Location,
		BatchSize:  c.BatchSize,
		FlushEvery: c.FlushEvery,
		Meter:      app.Meter(c.Common, cost.NominalProbeMemoryMB),
	}, checker, out, secrets.New(os.LookupEnv, sm), log)
}

// OutputsFromConfig returns where a Lambda probe's records go. With a route
// to the database (DATABASE_URL) it writes there, claims its shards there,
// and spills to the record queue if one is configured; without one, the
// record queue takes everything and the drain function empties it into the
// database.
func OutputsFromConfig(ctx context.Context, awsCfg aws.Config, c config.Probe, log *slog.Logger) (Outputs, error) {
	var q *queue.Sink
	if c.RecordQueueURL != "" {
		var err error
		if q, err = queue.NewFromConfig(awsCfg, c.RecordQueueURL); err != nil {
			return Outputs{}, fmt.Errorf("record queue: %w", err)
		}
	}
	if c.QueueSink() {
		return Outputs{Sink: q, Recorder: q}, nil
	}
	st, err := app.OpenStore(ctx, awsCfg, c.Common, store.WithLogger(log))
	if err != nil {
		return Outputs{}, err
	}
	out := Outputs{Sink: st, Recorder: st, Claimer: st}
	if q != nil {
		out.Spill = q // never a typed nil in the interface
	}
	return out, nil
}
