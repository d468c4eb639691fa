// Package moto gives tests an AWS API emulator: one moto_server (the
// Python package moto's server mode) per test binary, listening on a free
// loopback port, started on first use and stopped at the end, and AWS SDK
// configurations pointed at it with dummy credentials. Every service moto
// emulates answers on the one port (SQS, Secrets Manager, Lambda, IAM, S3,
// ...), in every region: the region is the one in each request's signature.
//
// Where moto_server is not on PATH the tests that need it skip, saying so;
// WATCHER_REQUIRE_MOTO=1 (set by .ci/run) makes that a failure instead.
//
// Use it from a TestMain so that the server goes away at the end:
//
//	func TestMain(m *testing.M) { moto.Main(m) }
//
// Without it (in a package whose TestMain is pgtest.Main) the server still
// dies with the test binary: the kernel kills it when the binary exits. It
// leaves nothing on disk: its log is kept in memory, for error messages.
//
// Tests share the server: each names its own resources (queues, secrets,
// functions, buckets) uniquely, with Name, instead of resetting it.
package moto

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/watcher-dev/watcher/internal/dev/deathsig"
)

// Command is the emulator's executable, looked up on PATH.
const Command = "moto_server"

// Account is the account moto puts every resource in.
const Account = "123456789012"

// AccessKey and SecretKey are the dummy credentials the configurations
// carry; moto accepts any.
const (
	AccessKey = "AKIAMOTOTESTING00000"
	SecretKey = "moto-test-secret-key-not-a-real-one0000"
)

// startTimeout bounds the server's start-up (about a second here).
const startTimeout = 30 * time.Second

// server is the running emulator of this test binary.
type server struct {
	cmd  *exec.Cmd
	pid  int
	url  string
	log  *logBuffer
	done chan struct{}
}

// logBuffer keeps the end of the server's output.
type logBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if len(l.buf) > 64<<10 {
		l.buf = append([]byte(nil), l.buf[len(l.buf)-32<<10:]...)
	}
	return len(p), nil
}

// tail is the end of the server's log, for error messages.
func (l *logBuffer) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

var shared struct {
	mu  sync.Mutex
	srv *server
	err error
}

var seq atomic.Int64

// Main runs the tests, then stops the emulator if one was started, and
// exits with the tests' status.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the shared emulator, if it runs. Main calls it; a TestMain that
// wraps several helpers (pgtest.Main too) calls it after m.Run.
func Stop() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil {
		return
	}
	shared.srv.stop()
	shared.srv = nil
}

// Available reports whether moto_server is on PATH.
func Available() bool {
	_, err := exec.LookPath(Command)
	return err == nil
}

// require skips (or, with WATCHER_REQUIRE_MOTO=1, fails) a test where the
// emulator is absent.
func require(t testing.TB) {
	t.Helper()
	if Available() {
		return
	}
	msg := "moto: " + Command + " is not on PATH: install the AWS API emulator with `pip install 'moto[server]==5.2.1'`"
	if os.Getenv("WATCHER_REQUIRE_MOTO") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Endpoint returns the emulator's base URL (http://127.0.0.1:PORT), starting
// it on first use.
func Endpoint(t testing.TB) string {
	t.Helper()
	require(t)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = start()
	}
	if shared.err != nil {
		t.Fatalf("moto: %v", shared.err)
	}
	return shared.srv.url
}

// Config returns an AWS configuration for region whose every client talks
// to the emulator, with dummy static credentials.
func Config(t testing.TB, region string) aws.Config {
	t.Helper()
	return ConfigAt(Endpoint(t), region)
}

// Credentials are the dummy static credentials of every configuration,
// for code that signs locally (RDS IAM auth tokens, presigned URLs).
func Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")
}

// ConfigAt is Config for an emulator (or a proxy in front of one) at
// endpoint.
func ConfigAt(endpoint, region string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  Credentials(),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   &http.Client{Timeout: 30 * time.Second},
		// Never a retry: a test should see the first answer.
		RetryMaxAttempts: 1,
	}
}

var nameUnsafe = regexp.MustCompile(`[^a-zA-Z0-9-]+`)

// Name returns a resource name unique in this test binary's emulator,
// derived from the test's name: lower case letters, digits and dashes, at
// most 60 characters (S3 buckets allow 63, SQS queues 80).
func Name(t testing.TB, kind string) string {
	s := strings.ToLower(nameUnsafe.ReplaceAllString(t.Name(), "-"))
	suffix := fmt.Sprintf("-%s-%d", kind, seq.Add(1))
	if len(s)+len(suffix) > 60 {
		s = s[:60-len(suffix)]
	}
	return strings.Trim(s, "-") + suffix
}

// Do sends a request to the emulator signed for service in region with the
// dummy credentials, for the APIs whose SDK modules this project does not
// link (IAM, S3), and returns the response status and body. moto routes a
// request on the loopback endpoint by the service its signature names.
func Do(t testing.TB, method, service, region, path string, header http.Header, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, Endpoint(t)+path, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("moto: %v", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: AccessKey, SecretAccessKey: SecretKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, service, region, time.Now()); err != nil {
		t.Fatalf("moto: sign %s request: %v", service, err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("moto: %s %s %s: %v", service, method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("moto: read %s answer: %v", service, err)
	}
	return res.StatusCode, b
}

// Presign returns a presigned URL for method on path (an S3 object such as
// /bucket/key), valid for expires, as CloudFormation hands a custom
// resource its response URL.
func Presign(t testing.TB, method, region, path string, expires time.Duration) string {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, Endpoint(t)+path, nil)
	if err != nil {
		t.Fatalf("moto: %v", err)
	}
	q := req.URL.Query()
	q.Set("X-Amz-Expires", strconv.Itoa(int(expires.Seconds())))
	req.URL.RawQuery = q.Encode()
	creds := aws.Credentials{AccessKeyID: AccessKey, SecretAccessKey: SecretKey}
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "s3", region, time.Now())
	if err != nil {
		t.Fatalf("moto: presign: %v", err)
	}
	return u
}

// CreateSecret creates a Secrets Manager secret named name in region with
// the string value, and returns its ARN.
func CreateSecret(t testing.TB, region, name, value string) string {
	t.Helper()
	out, err := secretsmanager.NewFromConfig(Config(t, region)).CreateSecret(context.Background(),
		&secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	if err != nil {
		t.Fatalf("moto: create secret %s in %s: %v", name, region, err)
	}
	return aws.ToString(out.ARN)
}

// CreateRole creates an IAM role (IAM is global) and returns its ARN; moto's
// Lambda refuses to create a function whose role does not exist.
func CreateRole(t testing.TB, name string) string {
	t.Helper()
	form := "Action=CreateRole&Version=2010-05-08&RoleName=" + name +
		"&AssumeRolePolicyDocument=%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D"
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}}
	status, body := Do(t, http.MethodPost, "iam", "us-east-1", "/", h, []byte(form))
	if status != http.StatusOK {
		t.Fatalf("moto: create role %s: %d %s", name, status, body)
	}
	return "arn:aws:iam::" + Account + ":role/" + name
}

func start() (*server, error) {
	path, err := exec.LookPath(Command)
	if err != nil {
		return nil, err
	}
	var lastErr error
	// A free port is found by listening on :0 and closing; another process
	// may take it before moto binds it, so try a few.
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := launch(path, port)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func launch(path string, port int) (*server, error) {
	logf := &logBuffer{}
	// The server is stopped by Stop (or dies with us), not by a context.
	cmd := exec.CommandContext(context.Background(), path, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = os.TempDir()
	// Never a real account, even if the environment names one; its own
	// process group, killed as a whole; killed with us if we die first.
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+AccessKey, "AWS_SECRET_ACCESS_KEY="+SecretKey,
		"MOTO_ALLOW_NONEXISTENT_REGION=false", "PYTHONUNBUFFERED=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := deathsig.Start(cmd, syscall.SIGKILL); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(path), err)
	}
	s := &server{cmd: cmd, pid: cmd.Process.Pid, url: "http://127.0.0.1:" + strconv.Itoa(port), log: logf, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	if err := s.wait(); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// wait polls until the server answers its own API or exits.
func (s *server) wait() error {
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("%s exited while starting: %s", Command, s.log.tail())
		default:
		}
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, s.url+"/moto-api/", nil)
		if err != nil {
			return err
		}
		res, err := client.Do(req)
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer on %s within %s: %s", Command, s.url, startTimeout, s.log.tail())
}

func (s *server) stop() {
	_ = syscall.Kill(-s.pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.pid, syscall.SIGKILL)
		<-s.done
	}
}

func freePort() (int, error) {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("find a free port: not a TCP address")
	}
	return addr.Port, nil
}
