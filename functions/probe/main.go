// Command probe is the probe Lambda function: configuration, dependencies,
// lambda.Start. The logic lives in internal/probe.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/watcher-dev/watcher/internal/app"
	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/probe"
	"github.com/watcher-dev/watcher/internal/regex"
)

func main() {
	app.TuneRuntime()
	regex.ServeWorkerIfAsked() // this binary is also its own regex worker
	ctx, log := context.Background(), app.Logger()
	cfg, err := config.LoadProbe(config.OS())
	app.ExitOn(log, "configuration", err)
	aws, err := app.AWS(ctx)
	app.ExitOn(log, "aws configuration", err)
	out, err := probe.OutputsFromConfig(ctx, aws, cfg, log)
	app.ExitOn(log, "outputs", err)
	lambda.Start(probe.FromConfig(cfg, out, secretsmanager.NewFromConfig(aws), log))
}
