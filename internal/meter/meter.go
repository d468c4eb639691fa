// Package meter closes the books of one invocation, the one place where the
// functions price themselves: it prices the invocation with the cost table,
// line by line (Lambda compute with a cold start's init, requests, NAT data,
// data out to the Internet, queue requests, logs, storage), keeps its invocation record and writes its
// CloudWatch Embedded Metric Format line, so that the recorded cost and the
// metric cost agree.
package meter

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/emf"
	"github.com/watcher-dev/watcher/internal/record"
)

// Recorder keeps one invocation record per invocation.
type Recorder interface {
	RecordInvocation(ctx context.Context, inv record.Invocation) error
}

// Config is what every invocation of one function is priced and reported with.
type Config struct {
	Function string // fanout or probe
	Region   string
	Arch     string // arm64 or x86_64, as priced
	MemoryMB int
	Price    cost.Price // zero: the price table's for Region and Arch
	// Volume prices NAT data, data out, queue requests, logs and storage;
	// zero: the price table's for Region.
	Volume cost.VolumePrice
	// StorageKept is how long stored checks are kept, for the storage
	// line; zero: a month.
	StorageKept time.Duration
	// VPC says what the function moves over the network
	// (Invocation.NetBytes: a probe's checks, a fanout's shard payloads)
	// passes a NAT gateway, which bills it by the byte. False, the default,
	// is no NAT: Lambda's own network, VPC endpoints, local runs.
	VPC bool
	// ProcessStart is when the function's process started. The first
	// invocation a meter closes is then a cold start, and the time from
	// ProcessStart to its start is the init phase, billed as duration
	// (when at most cost.MaxInit). Zero: no cold starts are recorded
	// (local runs); app.Meter sets it in Lambda (LambdaProcessStart).
	ProcessStart time.Time
	// EMF receives one line per invocation (stdout in Lambda); nil writes none.
	EMF io.Writer
	// Spill keeps an invocation record the recorder still refuses when the
	// invocation must end (the spool locally, the record queue in AWS), to
	// be replayed; nil: none.
	Spill Recorder
}

// Meter closes invocations of one function. Safe for concurrent use.
type Meter struct {
	cfg    Config
	price  cost.Price
	volume cost.VolumePrice
	rec    Recorder    // nil: invocations are not recorded
	logs   *LogCounter // the function's logger, when it counts its bytes
	log    *slog.Logger
	closed atomic.Bool // an invocation was closed: later ones are warm
}

// New returns a meter recording to rec (nil: none). When log was made by
// CountedLogger, each invocation records the bytes logged through it since
// the previous invocation closed.
func New(cfg Config, rec Recorder, log *slog.Logger) *Meter {
	volume := cfg.Volume
	if volume == (cost.VolumePrice{}) {
		volume = cost.DefaultTable().VolumePriceIn(cfg.Region)
	}
	m := &Meter{cfg: cfg, price: cfg.Price.Or(cfg.Region, cfg.Arch), volume: volume, rec: rec, log: log}
	if log == nil {
		m.log = slog.New(slog.DiscardHandler)
	} else if h, ok := log.Handler().(countedHandler); ok {
		m.logs = h.c
	}
	return m
}

// Close fills in the function's part of inv (function, region, arch,
// memory, VPC), whether it was a cold start and its init, what it logged
// and what its written checks take in the database, and prices it from
// those and from what the caller measured: Duration; NetBytes (a probe's
// response bodies, to which Close adds cost.CheckOverheadBytes per check
// done; a fanout's shard payloads); SentBytes, what went out to the
// Internet, to which Close adds cost.CheckSentBytes per check done (a
// fanout does no checks and sends nothing to the Internet: its Invoke
// calls go to the Lambda API in its region); the queue requests its
// outputs sent (TakeSent), to which Close adds what the recorder and the
// spill themselves sent. It records it within timeout, even when ctx has ended, retrying
// while the recorder fails and then handing it to the spill (Keep), and
// writes the EMF line: metrics with the invocation's Duration, CostUSD
// (Lambda's part) and RecordsLost, under the dimensions function and
// location. A record neither recorded nor spilled is logged and counted in
// RecordsLost (added to what the caller's metrics count there), and Close
// returns 1 for it: the invocation is over and has no one else to tell.
//
// What is logged after Close (such as a handler's last line) and what the
// recorder or the spill sends to record it count towards the next invocation.
func (m *Meter) Close(ctx context.Context, inv record.Invocation, location string, metrics []emf.Metric,
	timeout time.Duration) (lost int) {
	inv.Function, inv.Region, inv.Arch, inv.MemoryMB = m.cfg.Function, m.cfg.Region, m.cfg.Arch, m.cfg.MemoryMB
	inv.VPC = m.cfg.VPC
	if !m.closed.Swap(true) && !m.cfg.ProcessStart.IsZero() {
		inv.ColdStart = true
		if gap := inv.StartedAt.Sub(m.cfg.ProcessStart); gap > 0 && gap <= cost.MaxInit {
			inv.Init = gap
		}
	}
	requests, sent := TakeSent(m.rec, m.cfg.Spill)
	inv.QueueRequests += requests
	inv.QueueBytes += sent
	inv.NetBytes += int64(inv.ChecksDone) * cost.CheckOverheadBytes
	inv.SentBytes += int64(inv.ChecksDone) * cost.CheckSentBytes
	inv.StorageBytes = int64(inv.ChecksWritten) * cost.CheckRowBytes
	use := cost.Usage{
		MemoryMB: inv.MemoryMB, Duration: inv.Duration, Init: inv.Init, VPC: inv.VPC, NetBytes: inv.NetBytes,
		SentBytes: inv.SentBytes, QueueRequests: inv.QueueRequests, StorageBytes: inv.StorageBytes,
		StorageKept: m.cfg.StorageKept,
	}

	// The EMF line is logged too: render it first, to count it.
	_, _, lambda, _ := cost.PriceLines(m.price, m.volume, use)
	metrics = append(metrics,
		emf.Metric{Name: "Duration", Unit: "Milliseconds", Value: record.MS(inv.Duration)},
		emf.Metric{Name: "CostUSD", Unit: "None", Value: lambda.Lambda()})
	lostAt := slices.IndexFunc(metrics, func(x emf.Metric) bool { return x.Name == RecordsLost })
	if lostAt < 0 {
		metrics = append(metrics, emf.Metric{Name: RecordsLost, Unit: "Count"})
		lostAt = len(metrics) - 1
	}
	dims := map[string]string{"function": m.cfg.Function, "location": location}
	var line bytes.Buffer
	render := func() {
		line.Reset()
		if err := emf.Write(&line, inv.StartedAt.Add(inv.Duration), dims, metrics); err != nil {
			m.log.Warn("write metrics line", "function", inv.Function, "err", err)
			line.Reset()
		}
	}
	render()
	inv.LogBytes = int64(line.Len()) + cost.LambdaPlatformLogBytes
	if m.logs != nil {
		inv.LogBytes += m.logs.Take()
	}
	use.LogBytes = inv.LogBytes

	billed, _, lines, priced := cost.PriceLines(m.price, m.volume, use)
	inv.Billed = billed
	if priced {
		usd := lines.Lambda()
		inv.CostUSD = &usd
	}
	inv.RequestUSD, inv.NATUSD, inv.DataOutUSD, inv.QueueUSD = lines.LambdaRequests, lines.NATData, lines.DataOut, lines.QueueRequests
	inv.LogsUSD, inv.StorageUSD = lines.Logs, lines.Storage
	if m.rec != nil {
		var spill func(context.Context) error
		if m.cfg.Spill != nil {
			spill = func(ctx context.Context) error { return m.cfg.Spill.RecordInvocation(ctx, inv) }
		}
		spilled, err := Keep(ctx, timeout, func(ctx context.Context) error { return m.rec.RecordInvocation(ctx, inv) }, spill)
		switch {
		case err != nil:
			lost = 1
			m.log.Error("invocation record lost: neither recorded nor spilled", "function", inv.Function,
				"location", location, "started_at", inv.StartedAt, "err", err)
			metrics[lostAt].Value++
			if line.Len() > 0 {
				render()
			}
		case spilled:
			m.log.Warn("invocation record spilled for replay", "function", inv.Function, "location", location)
		}
	}
	if m.cfg.EMF == nil || line.Len() == 0 {
		return lost
	}
	if _, err := m.cfg.EMF.Write(line.Bytes()); err != nil {
		m.log.Warn("write metrics line", "function", inv.Function, "err", err)
	}
	return lost
}

// QueueCounter is an output that counts what it sends to the record queue
// (queue.Sink).
type QueueCounter interface {
	// TakeSent returns the requests, as SQS bills them, and the message
	// bytes sent since it was last called.
	TakeSent() (requests, bytes int64)
}

// TakeSent adds up what each of outs that is a QueueCounter sent since it
// was last asked; other outputs are skipped, and an output given twice
// counts once.
func TakeSent(outs ...any) (requests, sent int64) {
	for _, o := range outs {
		if q, ok := o.(QueueCounter); ok {
			r, b := q.TakeSent()
			requests += r
			sent += b
		}
	}
	return requests, sent
}
