package migrator

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/watcher-dev/watcher/internal/dev/moto"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/status"
	"github.com/watcher-dev/watcher/internal/store"
)

// TestScheduledRunPublishesStatusPage runs the schedule's invocation with a
// status page bucket, on the emulator: after the upkeep the page is in the
// bucket and the summary says so. A bucket that does not exist fails the
// page, not the run: the summary and the EMF metric count it.
func TestScheduledRunPublishesStatusPage(t *testing.T) {
	ctx := context.Background()
	const region = "eu-west-1"
	cfg := moto.Config(t, region)
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := moto.Name(t, "status")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}}); err != nil {
		t.Fatal(err)
	}
	migrate := func(ctx context.Context, url string) error { return store.Migrate(ctx, url, store.WithLogger(quiet())) }
	tests := []struct {
		name, bucket, want string
		failures           string // the EMF line's StatusPageFailures
	}{
		{"published", bucket, "published", `"StatusPageFailures":0`},
		{"no such bucket", moto.Name(t, "missing"), "failed", `"StatusPageFailures":1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbURL := pgtest.Empty(t)
			secretARN := moto.CreateSecret(t, region, moto.Name(t, "db"), secretFor(t, dbURL))
			sink, err := status.NewS3(client, tt.bucket, "status")
			if err != nil {
				t.Fatal(err)
			}
			var metrics bytes.Buffer
			opt := Options{SSLMode: "disable", StatusPage: sink, StatusTitle: "Example status", Metrics: &metrics}
			h := NewHandler(secretsmanager.NewFromConfig(cfg), secretARN, migrate, opt, quiet())
			out, err := h.Invoke(ctx, []byte(`{"source":"aws.events"}`))
			if err != nil {
				t.Fatalf("Invoke: %v (a status page must never fail the run)", err)
			}
			var sum Summary
			if err := json.Unmarshal(out, &sum); err != nil || sum.Upkeep == nil || sum.StatusPage != tt.want {
				t.Errorf("summary %s, %v; want the upkeep and status_page %q", out, err, tt.want)
			}
			if !strings.Contains(metrics.String(), tt.failures) {
				t.Errorf("metrics %q, want %s", metrics.String(), tt.failures)
			}
			if tt.want != "published" {
				return
			}
			obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("status/index.html")})
			if err != nil {
				t.Fatalf("the page is not in the bucket: %v", err)
			}
			defer obj.Body.Close()
			var page bytes.Buffer
			_, _ = page.ReadFrom(obj.Body)
			if !strings.Contains(page.String(), "<h1>Example status</h1>") || !strings.Contains(page.String(), "No endpoints") {
				t.Errorf("status/index.html:\n%s", page.String())
			}
		})
	}
}
