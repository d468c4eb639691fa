// Package app wires the handlers from configuration: the one place that
// turns a config.Fanout or config.Probe into a ready handler, shared by the
// Lambda mains and the local `watcher` command.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/watcher-dev/watcher/internal/check"
	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/fanout"
	"github.com/watcher-dev/watcher/internal/probe"
	"github.com/watcher-dev/watcher/internal/secrets"
	"github.com/watcher-dev/watcher/internal/store"
)

// Logger returns the JSON logger the functions use.
func Logger() *slog.Logger {
	level := slog.LevelInfo
	if v := os.Getenv("LOG_LEVEL"); v != "" {
		_ = level.UnmarshalText([]byte(v))
	}
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
}

// MemoryMB is the function's configured memory, 0 outside Lambda.
func MemoryMB() int {
	if lambdacontext.MemoryLimitInMB > 0 {
		return lambdacontext.MemoryLimitInMB
	}
	n, _ := strconv.Atoi(os.Getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
	return n
}

// memoryMB is the function's configured memory inside Lambda and nominal
// elsewhere (infra/cdk.json's defaults), so that a local run records what
// AWS would bill for it.
func memoryMB(nominal int) int {
	if m := MemoryMB(); m > 0 {
		return m
	}
	return nominal
}

// Pricing returns the architecture a function is priced as and its price:
// WATCHER_ARCH, else the running architecture inside Lambda and arm64 (what
// infra deploys) elsewhere; the price table's price for the region, with
// WATCHER_PRICE_* in place of its fields.
func Pricing(c config.Common) (string, cost.Price) {
	arch := c.Pricing.Arch
	if arch == "" {
		arch = cost.ARM64
		if a := cost.ArchOf(runtime.GOARCH); a != "" && os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
			arch = a
		}
	}
	return arch, cost.DefaultTable().Price(c.Region, arch).Override(c.Pricing.Price)
}

// emfWriter is stdout inside Lambda, where CloudWatch reads EMF lines from
// the log, and nothing elsewhere.
func emfWriter() io.Writer {
	if os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
		return os.Stdout
	}
	return nil
}

// OpenStore connects to the database named by the configuration.
func OpenStore(ctx context.Context, c config.Common, opts ...store.Option) (*store.Store, error) {
	if c.DatabaseURL == "" {
		return nil, fmt.Errorf("open store: DATABASE_URL is not set")
	}
	st, err := store.Open(ctx, c.DatabaseURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}

// NewFanout builds the fanout handler.
func NewFanout(c config.Fanout, st fanout.Store, inv fanout.Invoker, log *slog.Logger) *fanout.Handler {
	arch, price := Pricing(c.Common)
	return fanout.New(fanout.Config{
		Probes:     c.Probes,
		SpanOffset: c.SpanOffset,
		MaxDelay:   c.MaxDelay,
		Plan:       c.Plan,
		Region:     c.Region,
		MemoryMB:   memoryMB(cost.NominalFanoutMemoryMB),
		Arch:       arch,
		Price:      price,
		EMF:        emfWriter(),
	}, st, inv, log, time.Now)
}

// NewProbe builds a probe handler writing to sink.
func NewProbe(c config.Probe, sink probe.Sink, rec probe.Recorder, sm secrets.SecretsManager, log *slog.Logger) *probe.Handler {
	checker := check.New(check.Options{
		Policy:           check.Policy{AllowLoopback: c.AllowLoopback, AllowPrivate: c.AllowPrivate},
		ReuseConnections: c.ReuseConns,
	})
	arch, price := Pricing(c.Common)
	return probe.New(probe.Config{
		Location:  c.Location,
		Region:    c.Region,
		MemoryMB:  memoryMB(cost.NominalProbeMemoryMB),
		Arch:      arch,
		Price:     price,
		BatchSize: c.BatchSize,
		EMF:       emfWriter(),
	}, checker, sink, rec, secrets.New(os.LookupEnv, sm), log)
}
