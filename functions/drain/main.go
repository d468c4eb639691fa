// Command drain is the drain Lambda function: it writes the record queue's
// messages to the database. Configuration, dependencies, lambda.Start; the
// logic lives in internal/drain.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/watcher-dev/watcher/internal/app"
	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/drain"
	"github.com/watcher-dev/watcher/internal/meter"
	"github.com/watcher-dev/watcher/internal/store"
)

var _ drain.Writer = (*store.Store)(nil)

func main() {
	app.TuneRuntime()
	ctx, log := context.Background(), app.Logger()
	cfg, err := config.LoadDrain(config.OS())
	app.ExitOn(log, "configuration", err)
	aws, err := app.AWS(ctx)
	app.ExitOn(log, "aws configuration", err)
	st, err := app.OpenStore(ctx, aws, cfg, store.WithLogger(log))
	app.ExitOn(log, "database", err)
	mc := app.Meter(cfg, cost.NominalDrainMemoryMB)
	mc.Function = cost.FunctionDrain
	lambda.Start(drain.New(st, log, meter.New(mc, st, log)))
}
