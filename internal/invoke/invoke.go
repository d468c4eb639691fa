// Package invoke starts functions asynchronously: through the AWS Lambda
// Invoke API (InvocationType Event), or in process for local runs.
package invoke

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// LambdaAPI is the one call Lambda makes of the SDK client.
type LambdaAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// Lambda invokes functions through the Lambda API.
type Lambda struct {
	Client LambdaAPI
	// Sync waits for the result (RequestResponse): for the Runtime Interface
	// Emulator, which runs every invocation synchronously anyway.
	Sync bool
}

// Invoke starts function with payload and returns once Lambda has queued it.
// A function named by an ARN is invoked in the ARN's region, which for a
// probe in another region is not the caller's.
func (l Lambda) Invoke(ctx context.Context, function string, payload []byte) error {
	in := &lambda.InvokeInput{FunctionName: aws.String(function), Payload: payload, InvocationType: types.InvocationTypeEvent}
	if l.Sync {
		in.InvocationType = types.InvocationTypeRequestResponse
	}
	var opts []func(*lambda.Options)
	if region := arnRegion(function); region != "" {
		opts = append(opts, func(o *lambda.Options) { o.Region = region })
	}
	out, err := l.Client.Invoke(ctx, in, opts...)
	if err != nil {
		return fmt.Errorf("lambda invoke %s: %w", function, err)
	}
	if out.FunctionError != nil {
		return fmt.Errorf("lambda invoke %s: function error %s: %s", function, *out.FunctionError, out.Payload)
	}
	return nil
}

// arnRegion returns the region of a function ARN
// (arn:aws:lambda:REGION:ACCOUNT:function:NAME), "" for a plain name.
func arnRegion(function string) string {
	parts := strings.SplitN(function, ":", 5)
	if len(parts) < 5 || parts[0] != "arn" || parts[2] != "lambda" {
		return ""
	}
	return parts[3]
}

// Handler is the Lambda handler contract (aws-lambda-go's lambda.Handler).
type Handler interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// InProcess runs handlers in goroutines of this process, as Lambda would run
// them in their own sandboxes: each with its own deadline, none awaited by
// the caller. Wait blocks until all have returned.
type InProcess struct {
	Functions map[string]Handler
	// Timeout is each invocation's deadline, like a function's configured timeout.
	Timeout time.Duration
	Log     *slog.Logger
	// Done, if set, receives each invocation's outcome (for progress display).
	Done func(function string, result []byte, err error)

	wg sync.WaitGroup
}

// Invoke starts the named handler and returns at once.
func (p *InProcess) Invoke(ctx context.Context, function string, payload []byte) error {
	h, ok := p.Functions[function]
	if !ok {
		return fmt.Errorf("no function %q here", function)
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		// The caller's cancellation must not end an invocation it merely started.
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.Timeout)
		defer cancel()
		out, err := h.Invoke(ictx, payload)
		if err != nil {
			p.Log.Error("invocation failed", "function", function, "err", err)
		}
		if p.Done != nil {
			p.Done(function, out, err)
		}
	}()
	return nil
}

// Wait blocks until every started invocation has returned.
func (p *InProcess) Wait() { p.wg.Wait() }
