// Command fanout is the fanout Lambda function: configuration, dependencies,
// lambda.Start. The logic lives in internal/fanout.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/watcher-dev/watcher/internal/addrpolicy"
	"github.com/watcher-dev/watcher/internal/app"
	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/fanout"
	"github.com/watcher-dev/watcher/internal/invoke"
	"github.com/watcher-dev/watcher/internal/notify"
	"github.com/watcher-dev/watcher/internal/queue"
)

func main() {
	app.TuneRuntime()
	ctx, log := context.Background(), app.Logger()
	cfg, err := config.LoadFanout(config.OS())
	app.ExitOn(log, "configuration", err)
	aws, err := app.AWS(ctx)
	app.ExitOn(log, "aws configuration", err)
	st, err := app.OpenStore(ctx, aws, cfg.Common)
	app.ExitOn(log, "database", err)
	var spill fanout.Spill // never a typed nil
	if cfg.RecordQueueURL != "" {
		q, err := queue.NewFromConfig(aws, cfg.RecordQueueURL)
		app.ExitOn(log, "record queue", err)
		spill = q
	}
	// Alerts are always evaluated; notifications go to the channels
	// configured. The webhook may reach public addresses only, as the
	// checks of a probe outside a VPC.
	ncfg, err := notify.LoadConfig(ctx, os.Getenv, secretsmanager.NewFromConfig(aws))
	app.ExitOn(log, "alert notifications", err)
	alerting := &fanout.Alerting{Store: st, Channels: ncfg.Channels(), Senders: ncfg.Senders(addrpolicy.Policy{}, aws)}
	lambda.Start(fanout.FromConfig(cfg, st, invoke.Lambda{Client: lambdasdk.NewFromConfig(aws)}, spill, alerting, log))
}
