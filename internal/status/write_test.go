package status_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/watcher-dev/watcher/internal/dev/moto"
	"github.com/watcher-dev/watcher/internal/status"
	"github.com/watcher-dev/watcher/internal/store"
)

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// pageOf renders the page of endpoints ids.
func pageOf(t *testing.T, ids ...int64) []status.File {
	t.Helper()
	st := store.Status{Now: now}
	for _, id := range ids {
		st.Endpoints = append(st.Endpoints, endpointAt(id, "site"+string(rune('a'+id)), 10, 10))
	}
	files, err := status.Render(st, status.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestDirSink writes a page into a directory, then the page of other
// endpoints: the stale SVG goes, files of others stay, no temporary file
// is left, and the files are readable by a web server. A write that fails
// part way leaves the previous index.html in place.
func TestDirSink(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := filepath.Join(t.TempDir(), "site", "status")
	sink, err := status.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{"robots.txt", "endpoint-logo.svg"} {
		if err := os.WriteFile(filepath.Join(dir, other), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := status.Write(ctx, pageOf(t, 1, 2, 3), sink); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	if err := status.Write(ctx, pageOf(t, 1, 3, 4), sink); err != nil {
		t.Fatal(err)
	}
	want := []string{"endpoint-1.svg", "endpoint-3.svg", "endpoint-4.svg", "endpoint-logo.svg", "index.html", "robots.txt"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Errorf("directory holds %v, want %v", got, want)
	}
	page, _ := os.ReadFile(filepath.Join(dir, "index.html"))
	if !strings.Contains(string(page), "endpoint-4.svg") || strings.Contains(string(page), "endpoint-2.svg") {
		t.Errorf("index.html is not the second page:\n%s", page)
	}
	if fi, err := os.Stat(filepath.Join(dir, "endpoint-4.svg")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("endpoint-4.svg: %v, %v; want mode 0644", fi, err)
	}

	// endpoint-5.svg cannot be put in place (a directory holds its name):
	// the write fails naming it, and index.html is still the second page.
	if err := os.Mkdir(filepath.Join(dir, "endpoint-5.svg"), 0o755); err != nil {
		t.Fatal(err)
	}
	err = status.Write(ctx, pageOf(t, 5), sink)
	if err == nil || !strings.Contains(err.Error(), "endpoint-5.svg") {
		t.Errorf("Write = %v, want an error naming endpoint-5.svg", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "index.html")); string(after) != string(page) || string(after) == string(first) {
		t.Error("a failed write changed index.html")
	}
	for _, name := range dirNames(t, dir) {
		if strings.Contains(name, ".tmp-") {
			t.Errorf("temporary file %s left behind", name)
		}
	}

	if _, err := status.NewDir(filepath.Join(dir, "index.html")); err == nil {
		t.Error("NewDir on a file: no error")
	}
}

// TestS3Sink publishes a page to an S3 bucket on the emulator: the objects
// carry their content type and a one-minute Cache-Control, a second page
// deletes the stale SVG and leaves the bucket's other objects alone.
func TestS3Sink(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	const region = "eu-west-1"
	client := s3.NewFromConfig(moto.Config(t, region), func(o *s3.Options) { o.UsePathStyle = true })
	bucket := moto.Name(t, "status")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)}}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"status/endpoint-logo.svg", "other/endpoint-9.svg", "status-old/endpoint-9.svg"} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	sink, err := status.NewS3(client, bucket, "status")
	if err != nil {
		t.Fatal(err)
	}
	if err := status.Write(ctx, pageOf(t, 1, 2), sink); err != nil {
		t.Fatal(err)
	}
	if err := status.Write(ctx, pageOf(t, 1, 3), sink); err != nil {
		t.Fatal(err)
	}
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	want := []string{"other/endpoint-9.svg", "status-old/endpoint-9.svg", "status/endpoint-1.svg", "status/endpoint-3.svg",
		"status/endpoint-logo.svg", "status/index.html"}
	if !slices.Equal(keys, want) {
		t.Errorf("bucket holds %v, want %v", keys, want)
	}
	for key, typ := range map[string]string{"status/index.html": "text/html; charset=utf-8", "status/endpoint-3.svg": "image/svg+xml"} {
		obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(obj.Body)
		_ = obj.Body.Close()
		if aws.ToString(obj.ContentType) != typ || aws.ToString(obj.CacheControl) != "max-age=60" || len(body) == 0 {
			t.Errorf("%s: Content-Type %q, Cache-Control %q, %d bytes", key, aws.ToString(obj.ContentType),
				aws.ToString(obj.CacheControl), len(body))
		}
	}

	// A bucket that does not exist: the error names the object.
	missing, _ := status.NewS3(client, moto.Name(t, "missing"), "")
	if err := status.Write(ctx, pageOf(t, 1), missing); err == nil || !strings.Contains(err.Error(), "endpoint-1.svg") {
		t.Errorf("Write to a missing bucket = %v, want an error naming the object", err)
	}
	if _, err := status.NewS3(client, "", ""); err == nil {
		t.Error("NewS3 without a bucket: no error")
	}
}
