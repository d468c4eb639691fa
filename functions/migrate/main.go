// Command migrate is the migrate Lambda function: on every deploy (as a
// CloudFormation custom resource) and daily, it applies the embedded
// migrations with the owner's credentials and ensures the application
// roles. Configuration, dependencies, lambda.Start; the logic lives in
// internal/migrator.
package main

import (
	"context"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/watcher-dev/watcher/internal/app"
	"github.com/watcher-dev/watcher/internal/migrator"
	"github.com/watcher-dev/watcher/internal/store"
)

func main() {
	ctx, log := context.Background(), app.Logger()
	secretARN := os.Getenv("WATCHER_DB_SECRET_ARN")
	iam, err := strconv.ParseBool(os.Getenv("DATABASE_IAM_AUTH"))
	if secretARN == "" || err != nil {
		log.Error("configuration: WATCHER_DB_SECRET_ARN is required and DATABASE_IAM_AUTH must be true or false")
		os.Exit(1)
	}
	aws, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Error("aws configuration", "err", err)
		os.Exit(1)
	}
	migrate := func(ctx context.Context, url string) error { return store.Migrate(ctx, url, store.WithLogger(log)) }
	lambda.Start(migrator.NewHandler(secretsmanager.NewFromConfig(aws), secretARN, migrate, migrator.Options{IAM: iam}, log))
}
