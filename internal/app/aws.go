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

// ProbeSink returns where a probe writes its results and invocation
// records: the database when it has a route to it (DATABASE_URL), otherwise
// the results queue that the drain function empties into the database.
func ProbeSink(ctx context.Context, awsCfg aws.Config, c config.Probe, log *slog.Logger) (probe.Sink, probe.Recorder, error) {
	if c.DatabaseURL == "" {
		q, err := sqssink.NewFromConfig(awsCfg, c.ResultsQueueURL)
		if err != nil {
			return nil, nil, fmt.Errorf("results queue: %w", err)
		}
		return q, q, nil
	}
	opts, err := StoreOptions(awsCfg, c.Common)
	if err != nil {
		return nil, nil, err
	}
	st, err := OpenStore(ctx, c.Common, append(opts, store.WithLogger(log))...)
	if err != nil {
		return nil, nil, err
	}
	return st, st, nil
}
