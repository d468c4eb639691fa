// Package cost owns Watcher's cost model: AWS Lambda's price table (dated
// defaults per architecture and the regions that differ), what one
// invocation is billed, the fixed monthly costs of a deployment, and the
// report that turns recorded invocations into a unit price per URL. It does
// no I/O.
package cost

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Architectures Lambda prices separately, as the invocations table records them.
const (
	ARM64 = "arm64"
	X86   = "x86_64"
)

// ArchOf maps a Go GOARCH to Lambda's name for it ("" when Lambda has none).
func ArchOf(goarch string) string {
	switch goarch {
	case "arm64":
		return ARM64
	case "amd64":
		return X86
	}
	return ""
}

// ValidArch reports whether arch is one Lambda prices.
func ValidArch(arch string) bool { return arch == ARM64 || arch == X86 }

// Nominal memory sizes price local runs, which have no configured memory, as
// AWS would bill them: the defaults of infra/cdk.json.
const (
	NominalProbeMemoryMB  = 192
	NominalFanoutMemoryMB = 256
	NominalDrainMemoryMB  = 256
)

// Month is the length of a billing month in AWS's calculators: 730 hours.
const Month = 730 * time.Hour

// SyntheticsRunUSD is what CloudWatch Synthetics charges per canary run
// (us-east-1, 2025), the comparison the report draws.
const SyntheticsRunUSD = 0.0012

// Price is Lambda's on-demand price for one architecture in one region.
type Price struct {
	GBSecond float64 `json:"gb_second_usd"` // per GB-second of billed duration
	Request  float64 `json:"request_usd"`   // per invocation
}

// IsZero reports whether no price is set.
func (p Price) IsZero() bool { return p == Price{} }

// Override returns p with the non-zero fields of o in place of its own.
func (p Price) Override(o Price) Price {
	if o.GBSecond > 0 {
		p.GBSecond = o.GBSecond
	}
	if o.Request > 0 {
		p.Request = o.Request
	}
	return p
}

// Or returns p, or when p is zero the default table's price for region and
// arch: a handler configured without a price still records a cost.
func (p Price) Or(region, arch string) Price {
	if !p.IsZero() {
		return p
	}
	return DefaultTable().Price(region, arch)
}

// Table holds Lambda prices: one per architecture for most regions, and the
// regions that charge more; and the prices of what else grows with checks
// (Volume), likewise.
type Table struct {
	AsOf    string                      // when the prices were taken from AWS's price list
	Arch    map[string]Price            // by architecture: us-east-1 and every region not listed
	Regions map[string]map[string]Price // region -> architecture -> price, where it differs
	// Volume prices NAT data, data out to the Internet, queue requests,
	// log ingestion and storage in us-east-1 and every region
	// VolumeRegions does not list.
	Volume        VolumePrice
	VolumeRegions map[string]VolumePrice
}

// DefaultTable returns AWS's list prices for on-demand Lambda, first tier
// (up to 6 billion x86 / 7.5 billion Arm GB-seconds a month), without the
// free tier. Arm prices of the regions marked derived are 0.8 times x86,
// the ratio every other region shows. Check them against the AWS price
// list before relying on them; WATCHER_PRICE_* override them.
//
// The volume prices, us-east-1, same date, first tier, no free tier:
//   - NAT gateway data processing, $0.045 per GB in either direction
//     (aws.amazon.com/vpc/pricing, "NAT Gateway Pricing");
//   - data transfer out from Lambda to the Internet, $0.09 per GB (first
//     10 TB a month; priced without the 100 GB a month free to every
//     account; data in is free; aws.amazon.com/ec2/pricing/on-demand,
//     "Data Transfer", which aws.amazon.com/lambda/pricing refers to);
//   - SQS standard queue, $0.40 per million requests after the first
//     million a month, each 64 KiB chunk of a message one request
//     (aws.amazon.com/sqs/pricing);
//   - CloudWatch Logs ingestion, $0.50 per GB (first tier of Lambda's
//     vended logs and the standard class; aws.amazon.com/cloudwatch/pricing);
//   - RDS for PostgreSQL gp3 storage, single-AZ, $0.115 per GB-month
//     (aws.amazon.com/rds/postgresql/pricing).
//
// Other regions charge more for some of these; none is listed yet, so
// every region is priced as us-east-1 (VolumeRegions takes them).
func DefaultTable() Table {
	p := func(gbs, perMillion float64) Price { return Price{GBSecond: gbs, Request: perMillion / 1e6} }
	both := func(x86, arm, perMillion float64) map[string]Price {
		return map[string]Price{X86: p(x86, perMillion), ARM64: p(arm, perMillion)}
	}
	return Table{
		AsOf: "2025-06-01",
		Arch: both(0.0000166667, 0.0000133334, 0.20),
		Regions: map[string]map[string]Price{
			"af-south-1":   both(0.0000221, 0.00001768, 0.27),      // Cape Town
			"ap-east-1":    both(0.00002292, 0.0000183, 0.28),      // Hong Kong
			"eu-south-1":   both(0.0000195172, 0.0000156138, 0.23), // Milan
			"me-south-1":   both(0.0000206667, 0.0000165334, 0.25), // Bahrain
			"me-central-1": both(0.0000206667, 0.0000165334, 0.25), // UAE
			"eu-central-2": both(0.0000183334, 0.0000146667, 0.22), // Zurich, Arm derived
			"il-central-1": both(0.0000175, 0.0000140, 0.21),       // Tel Aviv, Arm derived
		},
		Volume: VolumePrice{
			NATPerGB:          0.045,
			DataOutPerGB:      0.09,
			QueueRequest:      0.40 / 1e6,
			LogsPerGB:         0.50,
			StoragePerGBMonth: 0.115,
		},
		VolumeRegions: map[string]VolumePrice{},
	}
}

// VolumePriceIn returns the volume prices of region: its own where listed,
// else the table's default.
func (t Table) VolumePriceIn(region string) VolumePrice {
	if v, ok := t.VolumeRegions[region]; ok {
		return v
	}
	return t.Volume
}

// Price returns the price of arch in region: the region's own where it
// differs, else the architecture's. An unknown architecture is priced as
// x86_64, the dearer one, so that a mistake overstates the cost.
func (t Table) Price(region, arch string) Price {
	if !ValidArch(arch) {
		arch = X86
	}
	if r, ok := t.Regions[region]; ok {
		if p, ok := r[arch]; ok {
			return p
		}
	}
	return t.Arch[arch]
}

// Billed is the duration Lambda bills for an invocation that ran for d:
// rounded up to the next millisecond, at least one.
func Billed(d time.Duration) time.Duration {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return max(ms, 1) * time.Millisecond
}

// GBSeconds is the billed duration times the configured memory, in GB
// (1 GB = 1024 MB, as Lambda counts it).
func GBSeconds(memoryMB int, billed time.Duration) float64 {
	return billed.Seconds() * float64(memoryMB) / 1024
}

// Invocation returns what one invocation of a function with memoryMB that
// ran for d is billed: its billed duration and the cost in USD (duration
// charge plus the request charge). ok is false when the memory size is
// unknown, so that no made-up cost is recorded.
func Invocation(p Price, memoryMB int, d time.Duration) (billed time.Duration, usd float64, ok bool) {
	billed, _, l, ok := PriceLines(p, VolumePrice{}, Usage{MemoryMB: memoryMB, Duration: d})
	return billed, l.Lambda(), ok
}

// Fixed is what a deployment costs per month whatever it checks, by item
// (database, proxy, nat, logs, ...). The report spreads it over the fleet's
// URLs separately from the per-check costs.
type Fixed map[string]float64

// DefaultFixed is the home-only deployment of infra/DEPLOY.md ("What it
// costs", us-east-1 list prices, mid-2025): db.t4g.micro with 20 GiB, RDS
// Proxy at its 2-vCPU minimum, the Lambda, Secrets Manager and SQS VPC interface
// endpoints in one zone (no NAT gateway), and the secret and alarms. Logs
// and the fanout are recorded per invocation (the logs and Lambda lines).
func DefaultFixed() Fixed {
	return Fixed{"database": 13.98, "proxy": 21.90, "endpoints": 21.90, "other": 2.30}
}

// Total is the monthly sum of every item.
func (f Fixed) Total() float64 {
	t := 0.0
	for _, k := range f.names() {
		t += f[k]
	}
	return t
}

func (f Fixed) names() []string {
	names := make([]string, 0, len(f))
	for k := range f {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// String is the form ParseFixed reads: name=usd,... in name order.
func (f Fixed) String() string {
	parts := make([]string, 0, len(f))
	for _, k := range f.names() {
		parts = append(parts, k+"="+strconv.FormatFloat(f[k], 'f', -1, 64))
	}
	return strings.Join(parts, ",")
}

// ParseFixed reads "database=13.98,proxy=21.90,..." (USD per month). An
// empty string or "none" is no fixed cost.
func ParseFixed(s string) (Fixed, error) {
	f := Fixed{}
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return f, nil
	}
	for _, item := range strings.Split(s, ",") {
		name, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("fixed cost %q: want name=usd_per_month", item)
		}
		usd, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || usd < 0 || math.IsInf(usd, 0) || math.IsNaN(usd) {
			return nil, fmt.Errorf("fixed cost %q: %q is not an amount of USD", name, v)
		}
		if _, dup := f[name]; dup {
			return nil, fmt.Errorf("fixed cost %q: given twice", name)
		}
		f[name] = usd
	}
	return f, nil
}
