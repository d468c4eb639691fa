package app

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// ExitOn ends a cold start that cannot go on: Lambda reports the failed
// init, and the log names the step that failed.
func ExitOn(log *slog.Logger, step string, err error) {
	if err != nil {
		log.Error("cold start failed", "step", step, "err", err)
		os.Exit(1)
	}
}

// AWS loads the function's AWS configuration (region and credentials from
// the Lambda environment).
func AWS(ctx context.Context) (aws.Config, error) { return awsconfig.LoadDefaultConfig(ctx) }
