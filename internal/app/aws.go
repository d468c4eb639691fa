package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/probe"
	"github.com/watcher-dev/watcher/internal/rdsauth"
	"github.com/watcher-dev/watcher/internal/sqssink"
	"github.com/watcher-dev/watcher/internal/store"
)

// StoreOptions adds RDS IAM authentication when the configuration asks for it.
func StoreOptions(awsCfg aws.Config, c config.Common) ([]store.Option, error) {
	if !c.DatabaseIAMAuth {
		return nil, nil
	}
	pw, err := rdsauth.FromURL(c.DatabaseURL, awsCfg.Region, awsCfg.Credentials)
	if err != nil {
		return nil, err
	}
	return []store.Option{store.WithPassword(store.PasswordFunc(pw))}, nil
}

// ProbeOutputs is where a probe's results and invocation records go.
type ProbeOutputs struct {
	Sink     probe.Sink
	Recorder probe.Recorder
	Spill    probe.Sink // nil: none
}

// ProbeSink returns where a probe writes its results and invocation
// records, and its durable spill. With a route to the database
// (DATABASE_URL) it writes there and spills to the results queue, if one is
// configured; without one, the results queue is its sink and the drain
// function empties it into the database.
func ProbeSink(ctx context.Context, awsCfg aws.Config, c config.Probe, log *slog.Logger) (ProbeOutputs, error) {
	var queue *sqssink.Sink
	if c.ResultsQueueURL != "" {
		var err error
		if queue, err = sqssink.NewFromConfig(awsCfg, c.ResultsQueueURL); err != nil {
			return ProbeOutputs{}, fmt.Errorf("results queue: %w", err)
		}
	}
	if c.DatabaseURL == "" {
		return ProbeOutputs{Sink: queue, Recorder: queue}, nil
	}
	opts, err := StoreOptions(awsCfg, c.Common)
	if err != nil {
		return ProbeOutputs{}, err
	}
	st, err := OpenStore(ctx, c.Common, append(opts, store.WithLogger(log))...)
	if err != nil {
		return ProbeOutputs{}, err
	}
	out := ProbeOutputs{Sink: st, Recorder: st}
	if queue != nil {
		out.Spill = queue // never a typed nil in the interface
	}
	return out, nil
}
