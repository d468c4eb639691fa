// Command drain is the drain Lambda function: it writes the results queue's
// messages to the database. Configuration, dependencies, lambda.Start; the
// logic lives in internal/drain.
package main

import (
	"context"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/watcher-dev/watcher/internal/app"
	"github.com/watcher-dev/watcher/internal/drain"
	"github.com/watcher-dev/watcher/internal/rdsauth"
	"github.com/watcher-dev/watcher/internal/store"
)

func main() {
	ctx, log := context.Background(), app.Logger()
	dbURL := os.Getenv("DATABASE_URL")
	iam, err := strconv.ParseBool(cmpOr(os.Getenv("DATABASE_IAM_AUTH"), "false"))
	if dbURL == "" || err != nil {
		log.Error("configuration: DATABASE_URL is required and DATABASE_IAM_AUTH must be true or false")
		os.Exit(1)
	}
	opts := []store.Option{store.WithLogger(log)}
	if iam {
		aws, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			log.Error("aws configuration", "err", err)
			os.Exit(1)
		}
		pw, err := rdsauth.FromURL(dbURL, aws.Region, aws.Credentials)
		if err != nil {
			log.Error("configuration", "err", err)
			os.Exit(1)
		}
		opts = append(opts, store.WithPassword(store.PasswordFunc(pw)))
	}
	st, err := store.Open(ctx, dbURL, opts...)
	if err != nil {
		log.Error("database", "err", err)
		os.Exit(1)
	}
	lambda.Start(drain.New(st, log))
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
