// Package meter closes the books of one invocation, the one place where the
// functions price themselves: it prices the invocation with the cost table,
// keeps its invocation record and writes its CloudWatch Embedded Metric
// Format line, so that the recorded cost and the metric cost agree.
package meter

import (
	"context"
	"io"
	"log/slog"
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
	// EMF receives one line per invocation (stdout in Lambda); nil writes none.
	EMF io.Writer
}

// Meter closes invocations of one function. Safe for concurrent use.
type Meter struct {
	cfg   Config
	price cost.Price
	rec   Recorder // nil: invocations are not recorded
	log   *slog.Logger
}

// New returns a meter recording to rec (nil: none).
func New(cfg Config, rec Recorder, log *slog.Logger) *Meter {
	return &Meter{cfg: cfg, price: cfg.Price.Or(cfg.Region, cfg.Arch), rec: rec, log: log}
}

// Close fills in the function's part of inv (function, region, arch,
// memory) and its price from inv.Duration, records it within timeout, even
// when ctx has ended, and writes the EMF line: metrics with the invocation's
// Duration and CostUSD, under the dimensions function and location. A
// failure to record is logged: the invocation is over and has no one else
// to tell.
func (m *Meter) Close(ctx context.Context, inv record.Invocation, location string, metrics []emf.Metric,
	timeout time.Duration) {
	inv.Function, inv.Region, inv.Arch, inv.MemoryMB = m.cfg.Function, m.cfg.Region, m.cfg.Arch, m.cfg.MemoryMB
	billed, usd, priced := cost.Invocation(m.price, inv.MemoryMB, inv.Duration)
	inv.Billed = billed
	if priced {
		inv.CostUSD = &usd
	}
	if m.rec != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		if err := m.rec.RecordInvocation(rctx, inv); err != nil {
			m.log.Warn("record invocation", "function", inv.Function, "err", err)
		}
	}
	if m.cfg.EMF == nil {
		return
	}
	metrics = append(metrics,
		emf.Metric{Name: "Duration", Unit: "Milliseconds", Value: record.MS(inv.Duration)},
		emf.Metric{Name: "CostUSD", Unit: "None", Value: usd})
	dims := map[string]string{"function": m.cfg.Function, "location": location}
	if err := emf.Write(m.cfg.EMF, inv.StartedAt.Add(inv.Duration), dims, metrics); err != nil {
		m.log.Warn("write metrics line", "function", inv.Function, "err", err)
	}
}
