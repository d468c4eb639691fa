package invoke_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/jackc/pgx/v5"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/invoke"
	"github.com/watcher-dev/watcher/internal/plan"
)

// goBuild builds a package of this module into dir and returns the binary.
func goBuild(t *testing.T, dir, name, pkg string, extra ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	args := append([]string{"build", "-o", out}, extra...)
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRIE runs bootstrap under the Lambda Runtime Interface Emulator and
// returns the emulator's endpoint.
func startRIE(t *testing.T, rie, bootstrap string, env ...string) string {
	t.Helper()
	api, port := freePort(t), freePort(t)
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", port),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", api),
		bootstrap)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_REGION=eu-west-1",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=120",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512",
	}, env...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("emulator and function output:\n%s", logs.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for range 200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("emulator did not listen on %s:\n%s", addr, logs.String())
	return ""
}

// TestProbeBootstrapUnderRIE builds the real probe bootstrap, runs it under
// the Runtime Interface Emulator and invokes it through the AWS SDK Lambda
// client, as the fanout does in AWS; the checks land in PostgreSQL.
func TestProbeBootstrapUnderRIE(t *testing.T) {
	dir := t.TempDir()
	rie := goBuild(t, dir, "aws-lambda-rie", "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie")
	bootstrap := goBuild(t, dir, "bootstrap", "github.com/watcher-dev/watcher/functions/probe", "-tags", "lambda.norpc")
	dbURL := pgtest.New(t)

	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "You are always welcome!")
	}))
	defer site.Close()

	rieURL := startRIE(t, rie, bootstrap,
		"DATABASE_URL="+dbURL, "WATCHER_LOCATION=home", "WATCHER_ALLOW_LOOPBACK=true")

	// A span that ended just now: every check is due at once, late.
	now := time.Now().UTC().Truncate(time.Millisecond)
	eps := []endpoint.Endpoint{
		{ID: 1, URL: site.URL + "/a", Method: "GET", Regex: "welcome", Interval: 5 * time.Second, Timeout: 2 * time.Second, Location: "home", Enabled: true},
		{ID: 2, URL: site.URL + "/b", Method: "GET", Regex: "forbidden", Interval: 20 * time.Second, Timeout: 2 * time.Second, Location: "home", Enabled: true},
	}
	span := plan.Span{Start: now.Add(-plan.SpanLength), End: now}
	shards := plan.Plan(eps, span, plan.DefaultOptions)
	if len(shards) != 1 {
		t.Fatalf("want one shard, got %d", len(shards))
	}
	payload, err := json.Marshal(shards[0])
	if err != nil {
		t.Fatal(err)
	}

	client := lambda.New(lambda.Options{
		BaseEndpoint: aws.String(rieURL),
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The emulator runs every invocation synchronously, whatever the
	// invocation type, so the rows are there once Invoke returns.
	if err := (invoke.Lambda{Client: client}).Invoke(ctx, "function", payload); err != nil {
		t.Fatalf("invoke through the SDK: %v", err)
	}

	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rows, matched, unmatched int
	err = conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE regex_match), count(*) FILTER (WHERE NOT regex_match)
		FROM checks WHERE status_code = 200 AND error IS NULL`).Scan(&rows, &matched, &unmatched)
	if err != nil {
		t.Fatal(err)
	}
	want := plan.Count(eps, span)
	if rows != want || matched != 12 || unmatched != want-12 {
		t.Errorf("stored %d rows (%d matched, %d not), want %d (12 of endpoint 1 matched)", rows, matched, unmatched, want)
	}
	var invocations int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM invocations WHERE function = 'probe' AND checks_done = $1 AND memory_mb = 512`, want).Scan(&invocations); err != nil {
		t.Fatal(err)
	}
	if invocations != 1 {
		t.Errorf("invocations recorded: %d, want 1", invocations)
	}

	// A payload the handler rejects comes back as the runtime's error
	// document (the emulator sets no X-Amz-Function-Error header, Lambda does).
	out, err := client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("function"), Payload: []byte(`{"location":"elsewhere"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out.Payload), `reached the probe of \"home\"`) {
		t.Errorf("misrouted shard: response %s, want the handler's error", out.Payload)
	}
}
