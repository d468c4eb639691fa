package invoke_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/watcher-dev/watcher/internal/dev/moto"
	"github.com/watcher-dev/watcher/internal/invoke"
	"github.com/watcher-dev/watcher/internal/plan"
)

// invokeRequest is what the recording proxy saw of one Invoke call.
type invokeRequest struct {
	region, path, invocationType string
	size                         int
	sum                          [32]byte
}

// recorder is a reverse proxy in front of the emulator that records the
// Invoke requests passing through it: the region their signature is scoped
// to (which is the region whose endpoint the SDK resolved), the path (the
// function name or ARN and its qualifier) and the payload.
type recorder struct {
	mu   sync.Mutex
	seen []invokeRequest
}

var scope = regexp.MustCompile(`Credential=[^/]+/\d{8}/([^/]+)/lambda/aws4_request`)

func (r *recorder) handler(target string) http.Handler {
	u, _ := url.Parse(target)
	proxy := httputil.NewSingleHostReverseProxy(u)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, "/invocations") {
			body, _ := io.ReadAll(req.Body)
			req.Body = io.NopCloser(bytes.NewReader(body))
			m := scope.FindStringSubmatch(req.Header.Get("Authorization"))
			rec := invokeRequest{path: req.URL.Path, invocationType: req.Header.Get("X-Amz-Invocation-Type"),
				size: len(body), sum: sha256.Sum256(body)}
			if m != nil {
				rec.region = m[1]
			}
			r.mu.Lock()
			r.seen = append(r.seen, rec)
			r.mu.Unlock()
		}
		proxy.ServeHTTP(w, req)
	})
}

func (r *recorder) take() []invokeRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.seen
	r.seen = nil
	return out
}

// TestLambdaInvokeOnEmulator drives the fanout's Invoke client against the
// emulator's Lambda API: probe functions exist in the home region and in
// another one, the client is the home region's, and probes are named by
// plain name (the home probe), by ARN of another region and by ARN with a
// version qualifier, with payloads from a few bytes up to the planner's
// bound (plan.DefaultOptions.MaxPayloadBytes). The emulator cannot run a
// function (that needs docker): its answer to an Invoke of a function it
// found is a "Handled" function error saying it could not start docker,
// while a function it does not know in the region asked is
// ResourceNotFoundException. So each call must reach the function's own
// region (the proxy reads the region the request was signed for), name
// the function and qualifier, carry the payload byte for byte, and ask for
// an asynchronous invocation (Event).
func TestLambdaInvokeOnEmulator(t *testing.T) {
	ctx := context.Background()
	const home, away = "eu-west-1", "us-east-1"
	rec := &recorder{}
	proxy := httptest.NewServer(rec.handler(moto.Endpoint(t)))
	defer proxy.Close()

	role := moto.CreateRole(t, moto.Name(t, "role"))
	homeName, awayName := moto.Name(t, "probe-home"), moto.Name(t, "probe-us")
	arns := map[string]string{}
	var awayVersion string
	for region, name := range map[string]string{home: homeName, away: awayName} {
		c := lambda.NewFromConfig(moto.Config(t, region))
		out, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String(name), Role: aws.String(role),
			Runtime: types.RuntimeProvidedal2023, Handler: aws.String("bootstrap"), Architectures: []types.Architecture{types.ArchitectureArm64},
			Code: &types.FunctionCode{ZipFile: bootstrapZip(t)}, Publish: region == away})
		if err != nil {
			t.Fatalf("create %s in %s: %v", name, region, err)
		}
		arns[region] = aws.ToString(out.FunctionArn)
		if region == away {
			awayVersion = aws.ToString(out.Version)
		}
	}
	if awayVersion == "" || awayVersion == "$LATEST" {
		t.Fatalf("published version %q", awayVersion)
	}
	// The unqualified ARN as the fanout has it from its configuration.
	awayARN := strings.TrimSuffix(arns[away], ":"+awayVersion)

	l := invoke.Lambda{Client: lambda.NewFromConfig(moto.ConfigAt(proxy.URL, home))}
	max := plan.DefaultOptions.MaxPayloadBytes
	tests := []struct {
		name, function, region, path string
		size                         int
		// emulatorFinds: the emulator's answer says whether it found the
		// function. moto 5.2.1 fails (500) on a qualifier inside the
		// function name, which AWS accepts; there only the request is
		// checked.
		emulatorFinds bool
	}{
		{"home probe by name", homeName, home, "/2015-03-31/functions/" + homeName + "/invocations", 200, true},
		{"home probe by name, largest shard", homeName, home, "/2015-03-31/functions/" + homeName + "/invocations", max, true},
		{"other region by ARN", awayARN, away, "/2015-03-31/functions/" + awayARN + "/invocations", 200, true},
		{"other region by ARN, largest shard", awayARN, away, "/2015-03-31/functions/" + awayARN + "/invocations", max, true},
		{"other region by qualified ARN", awayARN + ":" + awayVersion, away,
			"/2015-03-31/functions/" + awayARN + ":" + awayVersion + "/invocations", max, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := shardPayload(tt.size)
			err := l.Invoke(ctx, tt.function, payload)
			// Found and started: only docker is missing.
			found := err != nil && strings.Contains(err.Error(), "function error Handled") && strings.Contains(err.Error(), "docker")
			if tt.emulatorFinds && !found || err == nil {
				t.Fatalf("Invoke(%s) = %v; want the emulator's answer that it found the function and could not start docker", tt.function, err)
			}
			seen := rec.take()
			if len(seen) != 1 {
				t.Fatalf("%d requests reached the emulator, want 1 (no retry)", len(seen))
			}
			got := seen[0]
			if got.region != tt.region || got.path != tt.path || got.invocationType != "Event" ||
				got.size != len(payload) || got.sum != sha256.Sum256(payload) {
				t.Errorf("request: region %s, path %s, type %s, %d bytes; want %s, %s, Event, %d bytes as sent",
					got.region, got.path, got.invocationType, got.size, tt.region, tt.path, len(payload))
			}
		})
	}

	// The other region's probe is unknown at home, so a name (which means
	// the caller's region) does not reach it.
	err := l.Invoke(ctx, awayName, shardPayload(100))
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("Invoke(%s) by name from %s = %v, want ResourceNotFoundException", awayName, home, err)
	}
	if seen := rec.take(); len(seen) != 1 || seen[0].region != home {
		t.Errorf("requests %+v, want one to %s", seen, home)
	}
}

// shardPayload is a JSON object of exactly n bytes (n >= 16), standing for
// a shard the planner packed up to its bound.
func shardPayload(n int) []byte {
	const head, tail = `{"pad":"`, `"}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

// bootstrapZip is a deployment package with a bootstrap the emulator never
// runs.
func bootstrapZip(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	w, err := z.Create("bootstrap")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("#!/bin/sh\nexit 1\n")); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
