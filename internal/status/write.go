package status

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Sink is where a page goes.
type Sink interface {
	// Put stores one file whole, replacing any of that name: a reader sees
	// the old file or the new one, never a part.
	Put(ctx context.Context, f File) error
	// Prune removes the endpoint SVGs not named in keep (those of
	// endpoints no longer on the page), and nothing else.
	Prune(ctx context.Context, keep map[string]bool) error
}

// svgName matches the names SVGFile gives: the only files Prune removes.
var svgName = regexp.MustCompile(`^endpoint-[0-9]+\.svg$`)

// Write puts files into sink, the SVGs before IndexFile, so that the page
// never names an image not yet written, then prunes the SVGs of endpoints
// no longer on it. A failure stops it: the page already in place stays
// whole (the previous index.html with its images).
func Write(ctx context.Context, files []File, sink Sink) error {
	ordered := slices.Clone(files)
	slices.SortStableFunc(ordered, func(a, b File) int {
		switch {
		case a.Name == IndexFile && b.Name != IndexFile:
			return 1
		case b.Name == IndexFile && a.Name != IndexFile:
			return -1
		}
		return 0
	})
	keep := make(map[string]bool, len(files))
	for _, f := range ordered {
		if f.Name == "" || f.Name != filepath.Base(f.Name) || f.Name == "." || f.Name == ".." {
			return fmt.Errorf("write status page: file name %q is not a plain file name", f.Name)
		}
		keep[f.Name] = true
	}
	for _, f := range ordered {
		if err := sink.Put(ctx, f); err != nil {
			return fmt.Errorf("write status page: %w", err)
		}
	}
	if err := sink.Prune(ctx, keep); err != nil {
		return fmt.Errorf("write status page: %w", err)
	}
	return nil
}

// Dir is a Sink writing into a directory of the file system.
type Dir struct{ path string }

var _ Sink = (*Dir)(nil)

// NewDir returns a sink writing into the directory path, creating it (and
// its parents) if need be.
func NewDir(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("status page directory: no path given")
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("status page directory: %w", err)
	}
	return &Dir{path: path}, nil
}

// Put writes f to a temporary file beside its destination, then renames it
// into place: the file is replaced whole or not at all.
func (d *Dir) Put(_ context.Context, f File) (err error) {
	tmp, err := os.CreateTemp(d.path, "."+f.Name+".tmp-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", f.Name, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(f.Body); err != nil {
		return fmt.Errorf("write %s: %w", f.Name, err)
	}
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp makes it 0600; a web server must read it
		return fmt.Errorf("write %s: %w", f.Name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", f.Name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(d.path, f.Name)); err != nil {
		return fmt.Errorf("put %s in place: %w", f.Name, err)
	}
	return nil
}

// Prune removes the endpoint SVGs in the directory that keep does not name.
func (d *Dir) Prune(_ context.Context, keep map[string]bool) error {
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return fmt.Errorf("list %s: %w", d.path, err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() && svgName.MatchString(e.Name()) && !keep[e.Name()] {
			if err := os.Remove(filepath.Join(d.path, e.Name())); err != nil {
				return fmt.Errorf("remove stale %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}

// S3API is the part of the S3 client the S3 sink calls.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// CacheControl is what the S3 sink tells browsers and CloudFront: keep a
// file a minute at most, as the page changes every few minutes.
const CacheControl = "max-age=60"

// S3 is a Sink writing into an S3 bucket under a key prefix (a CloudFront
// distribution's origin, say). Each PutObject replaces an object whole.
type S3 struct {
	client S3API
	bucket string
	prefix string
}

var _ Sink = (*S3)(nil)

// NewS3 returns a sink writing into bucket under prefix: "" for the
// bucket's root, else a folder such as "status" (a trailing slash is
// added).
func NewS3(client S3API, bucket, prefix string) (*S3, error) {
	if bucket == "" {
		return nil, errors.New("status page bucket: no bucket named")
	}
	if prefix != "" && prefix[len(prefix)-1] != '/' {
		prefix += "/"
	}
	return &S3{client: client, bucket: bucket, prefix: prefix}, nil
}

// Put uploads f with its content type and CacheControl.
func (s *S3) Put(ctx context.Context, f File) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + f.Name), Body: bytes.NewReader(f.Body),
		ContentType: aws.String(f.ContentType), CacheControl: aws.String(CacheControl),
		ContentLength: aws.Int64(int64(len(f.Body))),
	})
	if err != nil {
		return fmt.Errorf("upload s3://%s/%s%s: %w", s.bucket, s.prefix, f.Name, err)
	}
	return nil
}

// Prune deletes the endpoint SVGs under the prefix that keep does not name.
func (s *S3) Prune(ctx context.Context, keep map[string]bool) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix + "endpoint-")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", s.bucket, s.prefix, err)
		}
		for _, o := range page.Contents {
			name := aws.ToString(o.Key)[len(s.prefix):]
			if !svgName.MatchString(name) || keep[name] {
				continue
			}
			if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: o.Key}); err != nil {
				return fmt.Errorf("delete stale s3://%s/%s: %w", s.bucket, aws.ToString(o.Key), err)
			}
		}
	}
	return nil
}
