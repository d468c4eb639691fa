// Command migrate is the migrate Lambda function: on every deploy (as a
// CloudFormation custom resource) and every 15 minutes, it applies the
// embedded migrations with the owner's credentials and ensures the
// application roles; scheduled, it also does the database's upkeep and,
// with WATCHER_STATUS_BUCKET, publishes the status page to S3.
// Configuration, dependencies, lambda.Start; the logic lives in
// internal/migrator.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/watcher-dev/watcher/internal/app"
	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/migrator"
	"github.com/watcher-dev/watcher/internal/status"
	"github.com/watcher-dev/watcher/internal/store"
)

func main() {
	app.TuneRuntime()
	ctx, log := context.Background(), app.Logger()
	cfg, err := config.LoadMigrate(config.OS())
	app.ExitOn(log, "configuration", err)
	aws, err := app.AWS(ctx)
	app.ExitOn(log, "aws configuration", err)
	migrate := func(ctx context.Context, url string) error { return store.Migrate(ctx, url, store.WithLogger(log)) }
	opt := migrator.Options{
		IAM: cfg.IAMAuth, SSLRootCert: cfg.SSLRootCert, Retention: cfg.Retention, RoleSecrets: cfg.RoleSecrets,
		StatusTitle: cfg.StatusTitle, Metrics: os.Stdout,
	}
	if cfg.StatusBucket != "" {
		opt.StatusPage, err = status.NewS3(s3.NewFromConfig(aws), cfg.StatusBucket, cfg.StatusPrefix)
		app.ExitOn(log, "status page", err)
	}
	lambda.Start(migrator.NewHandler(secretsmanager.NewFromConfig(aws), cfg.SecretARN, migrate, opt, log))
}
