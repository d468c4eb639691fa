package cost

import "time"

// VolumePrice is what AWS charges by volume for the lines, besides Lambda,
// that grow with checks.
type VolumePrice struct {
	NATPerGB          float64 `json:"nat_gb_usd"`           // NAT gateway data processing, per GB in either direction
	DataOutPerGB      float64 `json:"data_out_gb_usd"`      // data transfer out to the Internet, per GB
	QueueRequest      float64 `json:"queue_request_usd"`    // SQS, per request: each 64 KiB chunk of a message is one
	LogsPerGB         float64 `json:"logs_gb_usd"`          // CloudWatch Logs ingestion, per GB
	StoragePerGBMonth float64 `json:"storage_gb_month_usd"` // database storage (RDS gp3), per GB-month
}

// GB is the gigabyte AWS bills data and storage in: 2^30 bytes.
const GB = 1 << 30

// QueueChunkBytes is the part of a message SQS bills as one request.
const QueueChunkBytes = 64 << 10

// QueueChunks is what SQS bills for one call that moves n bytes of
// message payload, a send or a receive: a request per 64 KiB chunk, at
// least one. The sender counts its SendMessage; the drain counts the rest of
// a message's life (QueueDrainRequests).
func QueueChunks(n int64) int64 {
	return max(1, (n+QueueChunkBytes-1)/QueueChunkBytes)
}

// QueueDeleteBatch is how many messages one DeleteMessageBatch request
// deletes at most.
const QueueDeleteBatch = 10

// QueueDrainRequests is what SQS bills for the drain's side of one batch:
// the Lambda poller receives the batch's messages (bytes of payload in all)
// in one ReceiveMessage, billed by the chunks of that payload, and deletes
// the written ones (written messages) ten a DeleteMessageBatch request. That
// a batch of at most ten messages, with no batching window (as infra
// configures the event source), is one receive is AWS's description of the
// poller, not something measured here.
func QueueDrainRequests(bytes int64, written int) int64 {
	return QueueChunks(bytes) + (int64(written)+QueueDeleteBatch-1)/QueueDeleteBatch
}

// CheckOverheadBytes is what one check moves over the network besides its
// response body, both directions, estimated for what Watcher does by
// default: a fresh HTTPS connection per check. Server to client about
// 5.7 kB (SYN-ACK; TLS ServerHello, a typical certificate chain of 3 to
// 4 kB, CertificateVerify, Finished and session tickets; response headers;
// FIN), client to server about 1.3 kB (SYN; ClientHello; Finished; the
// request; ACKs; FIN), each packet with 52 bytes of IPv4 and TCP headers.
// A plain-HTTP or reused connection moves less (about 1.2 kB), a redirect
// more. A NAT gateway bills all of it; the response body is measured
// (checks.body_bytes).
const CheckOverheadBytes = 7000

// CheckSentBytes is what one check sends to the Internet, estimated for
// what Watcher does by default: a fresh HTTPS connection per check. About
// 1.7 kB of it is TCP payload, measured against a local TLS server (Go's
// TLS 1.3 ClientHello with its 1.2 kB post-quantum X25519MLKEM768 key
// share, the client's Finished, the request and the close_notify: 1,708
// bytes with Go 1.26); the rest is the headers of some ten packets (SYN,
// ACKs, FIN) at 52 bytes of IPv4 and TCP each, estimated. A plain-HTTP or
// reused connection sends less, a redirect or a large request body more.
// AWS bills it as data transfer out whether or not it passes a NAT
// gateway; what comes back (the response) is free. infra/DEPLOY.md
// ("Network") works it out.
const CheckSentBytes = 2200

// CheckRowBytes is what one stored check takes in the database: the row of
// the checks table with its tuple header (about 115 bytes) plus its share
// of the unique index on (planned_at, endpoint_id, location) (about 50) and
// of the BRIN index (nearly nothing). Measured on PostgreSQL 15 with native
// partitions as pg_total_relation_size of the partition over its rows: 166
// bytes for 100,000 checks of 500 endpoints, 169 for 20,000, about 200 for
// the 2,353 checks of a 3-minute `watcher run --demo 1000`, where the pages
// a small table starts with weigh more; an HTTPS check's certificate expiry
// (tls_not_after, migration 00014) adds 8 (TestCheckRowBytesMatchesTheDatabase
// in internal/store holds it: 171.6 bytes for 20,000 HTTPS checks, 162.6
// for the same checks without the expiry). The response body is not stored,
// nor the certificate's issuer (once per certificate, in its own table); a
// failed check's error class adds a few bytes.
const CheckRowBytes = 178

// LambdaPlatformLogBytes is what Lambda itself logs for each invocation in
// the text log format: its START, END and REPORT lines (the REPORT line
// with a cold start's Init Duration), about 280 bytes with the request id
// written out three times.
const LambdaPlatformLogBytes = 280

// MaxInit is the longest init phase Lambda allows an on-demand function
// (10 s); a first invocation that starts later than that after its process
// did was initialised ahead of time, and its init is not measured.
const MaxInit = 10 * time.Second

// Usage is what one invocation used of everything it is billed for, as its
// invocation record keeps it.
type Usage struct {
	MemoryMB int
	Duration time.Duration // billed as Billed(Duration)
	// Init is a cold start's init phase, which Lambda bills as duration on
	// the provided.al2023 runtime; zero for a warm start.
	Init          time.Duration
	VPC           bool  // NetBytes pass a NAT gateway, which bills them
	NetBytes      int64 // what it moved over the network: a probe's checks, a fanout's payloads
	SentBytes     int64 // what it sent to the Internet (a probe's checks; a fanout sends none)
	QueueRequests int64 // record-queue requests billed for it (64 KiB chunks): a sender's sends, the drain's receives and deletes
	LogBytes      int64 // what it logged, Lambda's own lines included
	StorageBytes  int64 // what its stored checks take in the database
	// StorageKept is how long the stored checks are kept (the raw
	// retention); zero: one Month.
	StorageKept time.Duration
}

// Lines is what one invocation, or a sum of invocations, cost by line
// item, in USD. Storage is the cost of keeping the checks for as long as
// they are kept (Usage.StorageKept): what they add to the database's
// steady-state size, priced per month, is what the invocation's checks
// cost once the retention has filled.
type Lines struct {
	LambdaCompute  float64 // GB-seconds of the duration and a cold start's init
	LambdaRequests float64
	NATData        float64
	DataOut        float64 // data transfer out to the Internet
	QueueRequests  float64
	Logs           float64
	Storage        float64
}

// Lambda is what Lambda bills: compute and requests (an invocation
// record's cost_usd).
func (l Lines) Lambda() float64 { return l.LambdaCompute + l.LambdaRequests }

// Total is every line.
func (l Lines) Total() float64 {
	return l.LambdaCompute + l.LambdaRequests + l.NATData + l.DataOut + l.QueueRequests + l.Logs + l.Storage
}

// Plus adds o to l line by line.
func (l Lines) Plus(o Lines) Lines {
	return Lines{
		LambdaCompute:  l.LambdaCompute + o.LambdaCompute,
		LambdaRequests: l.LambdaRequests + o.LambdaRequests,
		NATData:        l.NATData + o.NATData,
		DataOut:        l.DataOut + o.DataOut,
		QueueRequests:  l.QueueRequests + o.QueueRequests,
		Logs:           l.Logs + o.Logs,
		Storage:        l.Storage + o.Storage,
	}
}

// Names of the line items, in report order, as `watcher cost --json` and
// the SQL of migration 00008 give them.
const (
	LineLambdaCompute  = "lambda_compute"
	LineLambdaRequests = "lambda_requests"
	LineNATData        = "nat_data"
	LineDataOut        = "data_out"
	LineQueueRequests  = "queue_requests"
	LineLogs           = "logs"
	LineStorage        = "storage"
)

// LineNames lists the line items in report order.
func LineNames() []string {
	return []string{LineLambdaCompute, LineLambdaRequests, LineNATData, LineDataOut, LineQueueRequests, LineLogs, LineStorage}
}

// Get returns the line named name (0 for an unknown name).
func (l Lines) Get(name string) float64 {
	switch name {
	case LineLambdaCompute:
		return l.LambdaCompute
	case LineLambdaRequests:
		return l.LambdaRequests
	case LineNATData:
		return l.NATData
	case LineDataOut:
		return l.DataOut
	case LineQueueRequests:
		return l.QueueRequests
	case LineLogs:
		return l.Logs
	case LineStorage:
		return l.Storage
	}
	return 0
}

// PriceLines prices one invocation's usage: its billed duration and
// billed init (each rounded up to the millisecond; no init, none billed)
// and its cost by line. lambda is false when the memory size is unknown:
// the Lambda lines are then zero, so that no made-up cost is recorded; the
// other lines need no memory size and are priced all the same.
func PriceLines(p Price, v VolumePrice, u Usage) (billed, init time.Duration, l Lines, lambda bool) {
	billed = Billed(u.Duration)
	if u.Init > 0 {
		init = Billed(u.Init)
	}
	if u.VPC {
		l.NATData = float64(u.NetBytes) / GB * v.NATPerGB
	}
	l.DataOut = float64(u.SentBytes) / GB * v.DataOutPerGB
	l.QueueRequests = float64(u.QueueRequests) * v.QueueRequest
	l.Logs = float64(u.LogBytes) / GB * v.LogsPerGB
	kept := u.StorageKept
	if kept <= 0 {
		kept = Month
	}
	l.Storage = float64(u.StorageBytes) / GB * v.StoragePerGBMonth * (kept.Hours() / Month.Hours())
	if u.MemoryMB <= 0 {
		return billed, init, l, false
	}
	l.LambdaCompute = GBSeconds(u.MemoryMB, billed+init) * p.GBSecond
	l.LambdaRequests = p.Request
	return billed, init, l, true
}

// perURLMonth is a cost per check as a URL checked every interval pays it
// in a month.
func perURLMonth(perCheck float64, interval time.Duration) float64 {
	return perCheck * Month.Seconds() / interval.Seconds()
}
