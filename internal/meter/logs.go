package meter

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
)

// LogCounter passes what a function logs on to w and counts the bytes:
// CloudWatch Logs bills its ingestion by the byte.
type LogCounter struct {
	w io.Writer
	n atomic.Int64
}

// NewLogCounter returns a counter writing to w.
func NewLogCounter(w io.Writer) *LogCounter { return &LogCounter{w: w} }

// Write writes p to the underlying writer and counts what it took.
func (c *LogCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// Take returns the bytes written since it was last called.
func (c *LogCounter) Take() int64 { return c.n.Swap(0) }

// CountedLogger returns a logger over h, a handler that writes through c.
// A meter built with it (or a logger derived from it with With or
// WithGroup) records in each invocation what was logged through c since the
// previous one closed. One meter should read one counter: a process with
// several meters on one counted logger would split its bytes between them.
func CountedLogger(h slog.Handler, c *LogCounter) *slog.Logger {
	return slog.New(countedHandler{h: h, c: c})
}

// countedHandler is a handler that carries its counter, so that a meter
// finds it in the logger it is given.
type countedHandler struct {
	h slog.Handler
	c *LogCounter
}

func (h countedHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h countedHandler) Handle(ctx context.Context, r slog.Record) error { return h.h.Handle(ctx, r) }

func (h countedHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return countedHandler{h: h.h.WithAttrs(attrs), c: h.c}
}

func (h countedHandler) WithGroup(name string) slog.Handler {
	return countedHandler{h: h.h.WithGroup(name), c: h.c}
}
