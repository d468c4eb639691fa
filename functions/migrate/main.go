// Command migrate is the migrate Lambda function: on every deploy (as a
// CloudFormation custom resource) and daily, it applies the embedded
// migrations with the owner's credentials and ensures the application
// roles. Configuration, dependencies, lambda.Start; the logic lives in
// internal/migrator.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/watcher-dev/watcher/internal/app"
	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/migrator"
	"github.com/watcher-dev/watcher/internal/store"
)

func main() {
	ctx, log := context.Background(), app.Logger()
	cfg, err := config.LoadMigrate(config.OS())
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	aws, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Error("aws configuration", "err", err)
		os.Exit(1)
	}
	migrate := func(ctx context.Context, url string) error { return store.Migrate(ctx, url, store.WithLogger(log)) }
	lambda.Start(migrator.NewHandler(secretsmanager.NewFromConfig(aws), cfg.SecretARN, migrate, migrator.Options{IAM: cfg.IAMAuth}, log))
}
