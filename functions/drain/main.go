// Command drain is the drain Lambda function: it writes the results queue's
// messages to the database. Configuration, dependencies, lambda.Start; the
// logic lives in internal/drain.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/watcher-dev/watcher/internal/app"
	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/drain"
	"github.com/watcher-dev/watcher/internal/store"
)

func main() {
	ctx, log := context.Background(), app.Logger()
	cfg, err := config.LoadDrain(config.OS())
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	aws, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Error("aws configuration", "err", err)
		os.Exit(1)
	}
	opts, err := app.StoreOptions(aws, cfg)
	if err != nil {
		log.Error("database", "err", err)
		os.Exit(1)
	}
	st, err := app.OpenStore(ctx, cfg, append(opts, store.WithLogger(log))...)
	if err != nil {
		log.Error("database", "err", err)
		os.Exit(1)
	}
	lambda.Start(drain.New(st, log))
}
