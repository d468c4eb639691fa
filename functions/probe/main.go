// Command probe is the probe Lambda function: configuration, dependencies,
// lambda.Start. The logic lives in internal/probe.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/watcher-dev/watcher/internal/app"
	"github.com/watcher-dev/watcher/internal/config"
)

func main() {
	ctx, log := context.Background(), app.Logger()
	cfg, err := config.LoadProbe(config.OS())
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	aws, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Error("aws configuration", "err", err)
		os.Exit(1)
	}
	sink, rec, err := app.ProbeSink(ctx, aws, cfg, log)
	if err != nil {
		log.Error("results sink", "err", err)
		os.Exit(1)
	}
	lambda.Start(app.NewProbe(cfg, sink, rec, secretsmanager.NewFromConfig(aws), log))
}
