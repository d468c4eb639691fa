// Command fanout is the fanout Lambda function: configuration, dependencies,
// lambda.Start. The logic lives in internal/fanout.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/watcher-dev/watcher/internal/app"
	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/invoke"
)

func main() {
	ctx, log := context.Background(), app.Logger()
	cfg, err := config.LoadFanout(config.OS())
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	aws, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Error("aws configuration", "err", err)
		os.Exit(1)
	}
	opts, err := app.StoreOptions(aws, cfg.Common)
	if err != nil {
		log.Error("database", "err", err)
		os.Exit(1)
	}
	st, err := app.OpenStore(ctx, cfg.Common, opts...)
	if err != nil {
		log.Error("database", "err", err)
		os.Exit(1)
	}
	lambda.Start(app.NewFanout(cfg, st, invoke.Lambda{Client: lambdasdk.NewFromConfig(aws)}, log))
}
