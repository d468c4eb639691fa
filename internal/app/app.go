// Package app holds what every function's main shares and no handler: the
// logger, the cold-start exit, the AWS configuration, the database
// connection (with RDS IAM authentication where configured) and the meter
// configuration a function prices itself with. Each handler package builds
// its own handler from its own configuration, so a function links only the
// handler it runs.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/meter"
	"github.com/watcher-dev/watcher/internal/rdsauth"
	"github.com/watcher-dev/watcher/internal/secrets"
	"github.com/watcher-dev/watcher/internal/store"
)

// Logger returns the JSON logger the functions use. It counts the bytes it
// writes, which CloudWatch Logs bills: the meter of a handler built with it
// records them per invocation (meter.CountedLogger).
func Logger() *slog.Logger {
	level := slog.LevelInfo
	if v := os.Getenv("LOG_LEVEL"); v != "" {
		_ = level.UnmarshalText([]byte(v))
	}
	out := meter.NewLogCounter(os.Stdout)
	return meter.CountedLogger(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level}), out)
}

// ExitOn ends a cold start that cannot go on: Lambda reports the failed
// init, and the log names the step that failed.
func ExitOn(log *slog.Logger, step string, err error) {
	if err != nil {
		log.Error("cold start failed", "step", step, "err", err)
		os.Exit(1)
	}
}

// TuneRuntime fits the Go runtime to a Lambda function's share of a CPU,
// before the function does anything else. Lambda shows every function two
// vCPUs but gives it memory/1,769 of one (cost.FullVCPUMemoryMB): below a
// whole vCPU a second P only adds the scheduler's spinning and work
// stealing, which the quota bills like any work (in the sandbox a shard
// spent about a tenth less of its quota with GOMAXPROCS 1; README,
// Cost). A function's live heap is small next to its memory (a 10,000-check
// probe peaks at 24 MB of 256), so the collector runs a quarter as often
// (GOGC 400) under a soft limit of half the memory, which brings it back
// before the function nears its memory. Outside Lambda, and for each
// setting its environment variable gives (GOMAXPROCS, GOGC, GOMEMLIMIT),
// the runtime is left alone.
func TuneRuntime() {
	mb := memoryMB()
	if mb <= 0 {
		return
	}
	if os.Getenv("GOMAXPROCS") == "" && mb < cost.FullVCPUMemoryMB {
		runtime.GOMAXPROCS(1)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(mb) << 20 / 2)
	}
}

// AWS loads the function's AWS configuration (region and credentials from
// the Lambda environment).
func AWS(ctx context.Context) (aws.Config, error) { return awsconfig.LoadDefaultConfig(ctx) }

// inLambda reports whether the process runs as a Lambda function.
func inLambda() bool { return os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" }

// memoryMB is the function's configured memory, 0 outside Lambda.
func memoryMB() int {
	if lambdacontext.MemoryLimitInMB > 0 {
		return lambdacontext.MemoryLimitInMB
	}
	n, _ := strconv.Atoi(os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
	return n
}

// Meter returns what a function prices and reports its invocations with:
//   - memory: the function's inside Lambda, nominal elsewhere (infra's
//     defaults), so that a local run records what AWS would bill for it;
//   - architecture: WATCHER_ARCH, else the running one inside Lambda and
//     arm64 (what infra deploys) elsewhere;
//   - price: the price table's for the region, with WATCHER_PRICE_* in
//     place of its fields;
//   - NAT: whether its traffic passes a NAT gateway (WATCHER_VPC);
//   - EMF lines: to stdout inside Lambda, where CloudWatch reads them from
//     the log, and nowhere elsewhere.
func Meter(c config.Common, nominalMB int) meter.Config {
	arch := c.Pricing.Arch
	if arch == "" {
		arch = cost.ARM64
		if a := cost.ArchOf(runtime.GOARCH); a != "" && inLambda() {
			arch = a
		}
	}
	mc := meter.Config{
		VPC:      c.VPC,
		Region:   c.Region,
		Arch:     arch,
		MemoryMB: nominalMB,
		Price:    cost.DefaultTable().Price(c.Region, arch).Override(c.Pricing.Price),
		// Checks are priced for as long as the upkeep keeps them.
		StorageKept: c.Pricing.StorageKept,
	}
	if m := memoryMB(); m > 0 {
		mc.MemoryMB = m
	}
	if inLambda() {
		mc.EMF = io.Writer(os.Stdout)
		mc.ProcessStart = meter.LambdaProcessStart(os.Getenv, time.Now()) // the init phase is billed
	}
	return mc
}

// OpenStore connects to the database named by the configuration, with RDS
// IAM authentication or the password of a Secrets Manager secret when the
// configuration asks for either (awsCfg is then used for the tokens or the
// secret; it is not read otherwise).
func OpenStore(ctx context.Context, awsCfg aws.Config, c config.Common, opts ...store.Option) (*store.Store, error) {
	if c.DatabaseURL == "" {
		return nil, fmt.Errorf("open store: DATABASE_URL is not set")
	}
	switch {
	case c.DatabaseIAMAuth:
		pw, err := rdsauth.FromURL(c.DatabaseURL, awsCfg.Region, awsCfg.Credentials)
		if err != nil {
			return nil, err
		}
		opts = append(opts, store.WithPassword(store.PasswordFunc(pw)))
	case c.DatabasePasswordSecretARN != "":
		// The secret's region, which for a function in another region
		// (an intranet probe elsewhere) is not its own.
		opts = append(opts, store.WithPassword(SecretPassword(secrets.NewRegional(awsCfg), c.DatabasePasswordSecretARN)))
	}
	st, err := store.Open(ctx, c.DatabaseURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}

// SecretsManager is the one call SecretPassword makes to AWS.
type SecretsManager = secrets.SecretsManager

// SecretPassword returns the password of the database secret at arn, a
// JSON object with a "password" field. It is read on the first connection
// of the process and kept (the secrets are not rotated), so that a cold
// start succeeds while Secrets Manager or the database is unreachable, as
// with IAM tokens; a failed read is tried again on the next connection.
// Errors name the secret, never its value.
func SecretPassword(sm SecretsManager, arn string) store.PasswordFunc {
	var mu sync.Mutex
	var password string
	return func(ctx context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if password != "" {
			return password, nil
		}
		pw, err := secrets.DatabasePassword(ctx, sm, arn)
		if err != nil {
			return "", fmt.Errorf("database %w", err)
		}
		password = pw
		return password, nil
	}
}
