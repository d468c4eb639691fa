package secrets

import (
	"context"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Regional asks each secret's own region: GetSecretValue answers only in the
// region that holds the secret, so a probe in another region that names a
// home-region secret by its ARN must ask the home region's endpoint. A secret
// named by its name (or a partial ARN) is looked up in the client's own
// region. It keeps one client per region, made on first use. Safe for
// concurrent use.
type Regional struct {
	base secretsmanager.Options

	mu      sync.Mutex
	clients map[string]*secretsmanager.Client
}

// NewRegional returns a Regional whose own region is cfg's.
func NewRegional(cfg aws.Config) *Regional {
	return RegionalFrom(secretsmanager.NewFromConfig(cfg))
}

// RegionalFrom returns a Regional whose own region, endpoint, credentials
// and HTTP client are those of c; c serves its own region.
func RegionalFrom(c *secretsmanager.Client) *Regional {
	o := c.Options()
	return &Regional{base: o, clients: map[string]*secretsmanager.Client{o.Region: c}}
}

// GetSecretValue asks the region of in.SecretId when it is a full secret
// ARN (arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME), the own
// region otherwise.
func (r *Regional) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return r.Client(ARNRegion(aws.ToString(in.SecretId))).GetSecretValue(ctx, in, opts...)
}

// Client returns the client of region, "" meaning the own region.
func (r *Regional) Client(region string) *secretsmanager.Client {
	if region == "" {
		region = r.base.Region
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.clients[region]
	if !ok {
		o := r.base.Copy()
		o.Region = region
		c = secretsmanager.New(o)
		r.clients[region] = c
	}
	return c
}

// ARNRegion returns the region of a Secrets Manager secret ARN, "" for a
// secret name or anything else.
func ARNRegion(id string) string {
	parts := strings.SplitN(id, ":", 7)
	if len(parts) < 7 || parts[0] != "arn" || parts[2] != "secretsmanager" || parts[5] != "secret" {
		return ""
	}
	return parts[3]
}
