// Command probe is the probe Lambda function: configuration, dependencies,
// lambda.Start. The logic lives in internal/probe.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/watcher-dev/watcher/internal/app"
	"github.com/watcher-dev/watcher/internal/config"
)

func main() {
	ctx, log := context.Background(), app.Logger()
	cfg, err := config.LoadProbe(config.OS())
	app.ExitOn(log, "configuration", err)
	aws, err := app.AWS(ctx)
	app.ExitOn(log, "aws configuration", err)
	out, err := app.ProbeSink(ctx, aws, cfg, log)
	app.ExitOn(log, "results sink", err)
	h := app.NewProbe(cfg, out.Sink, out.Recorder, secretsmanager.NewFromConfig(aws), log)
	lambda.Start(h.SpillTo(out.Spill))
}
