// Package spool is the local durable spill: checks a probe could not write
// before its invocation ended, and the invocation records and span claims
// the fleet could not record, go to files in a directory, in the record
// package's wire form, and are replayed into the database once it is back.
// (In AWS the record queue plays this part.)
package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/watcher-dev/watcher/internal/record"
)

// maxFileBytes bounds one spool file; a larger batch is split.
const maxFileBytes = 4 << 20

// Dir is a spool directory. Safe for concurrent use by many probes.
type Dir struct {
	path string
	seq  atomic.Uint64
}

// Open creates the directory if needed.
func Open(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	return &Dir{path: path}, nil
}

// Path is the directory.
func (d *Dir) Path() string { return d.path }

// WriteChecks stores batch durably: each file is written under a temporary
// name, synced and renamed, so a file either holds whole checks or does
// not exist. It returns how many checks it stored.
func (d *Dir) WriteChecks(_ context.Context, batch []record.Check) (int, error) {
	msgs, err := record.EncodeChecks(batch, maxFileBytes)
	if err != nil {
		return 0, fmt.Errorf("spool checks: %w", err)
	}
	stored := 0
	for _, m := range msgs {
		if err := d.write(m.Body, ".json"); err != nil {
			return stored, fmt.Errorf("spool checks (%d of %d stored): %w", stored, len(batch), err)
		}
		stored += m.Count
	}
	return stored, nil
}

// RecordInvocation stores an invocation record durably, like WriteChecks.
func (d *Dir) RecordInvocation(_ context.Context, inv record.Invocation) error {
	body, err := record.EncodeInvocation(&inv)
	if err == nil {
		err = d.write(body, ".json")
	}
	if err != nil {
		return fmt.Errorf("spool %s invocation: %w", inv.Function, err)
	}
	return nil
}

// spanSuffix ends the name of a file holding a span claim, so that
// SpansWaiting reads those files only.
const spanSuffix = ".span.json"

// RecordSpan stores a span claim durably, like WriteChecks.
func (d *Dir) RecordSpan(_ context.Context, c record.SpanClaim) error {
	body, err := record.EncodeSpan(&c)
	if err == nil {
		err = d.write(body, spanSuffix)
	}
	if err != nil {
		return fmt.Errorf("spool span claim %s: %w", c.Start.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// SpansWaiting returns the starts of the span claims waiting in the spool
// for replay: spans that were dispatched, whatever the ledger says yet.
func (d *Dir) SpansWaiting(context.Context) ([]time.Time, error) {
	names, err := d.files(spanSuffix)
	if err != nil {
		return nil, err
	}
	var starts []time.Time
	for _, n := range names {
		body, err := os.ReadFile(filepath.Join(d.path, n))
		if errors.Is(err, os.ErrNotExist) {
			continue // replayed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read spool file %s: %w", n, err)
		}
		msg, err := record.Decode(body)
		if err != nil || msg.Kind != record.KindSpan {
			return nil, fmt.Errorf("spool file %s: not a span claim: %w", n, err)
		}
		starts = append(starts, msg.Span.Start)
	}
	return starts, nil
}

// write stores one message in a file of its own, named to sort in the order
// written.
func (d *Dir) write(body []byte, suffix string) error {
	name := fmt.Sprintf("%020d-%06d-%d%s", time.Now().UnixNano(), d.seq.Add(1), os.Getpid(), suffix)
	return writeAtomic(filepath.Join(d.path, name), body)
}

// files returns the names of the spool's files ending in suffix, oldest first.
func (d *Dir) files(suffix string) ([]string, error) {
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return nil, fmt.Errorf("read spool: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, suffix) && e.Type().IsRegular() {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

func writeAtomic(path string, body []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// Sink is where replayed records go: the database. Each write is
// idempotent.
type Sink interface {
	WriteChecks(ctx context.Context, batch []record.Check) (int, error)
	RecordInvocation(ctx context.Context, inv record.Invocation) error
	RecordSpan(ctx context.Context, c record.SpanClaim) error
}

// Replayed counts what Replay moved.
type Replayed struct {
	Files, Checks, Inserted, Invocations, Spans int
}

// Replay writes every spooled file to sink, oldest first, and deletes each
// file once written. It stops at the first failure, leaving that file and
// the later ones for the next replay; writes are idempotent, so a file
// replayed twice inserts nothing the second time.
func (d *Dir) Replay(ctx context.Context, sink Sink) (Replayed, error) {
	var r Replayed
	names, err := d.files(".json")
	if err != nil {
		return r, err
	}
	for _, n := range names {
		path := filepath.Join(d.path, n)
		body, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // replayed concurrently
		}
		if err != nil {
			return r, fmt.Errorf("read spool file %s: %w", n, err)
		}
		msg, err := record.Decode(body)
		if err != nil {
			return r, fmt.Errorf("spool file %s: %w", n, err)
		}
		if err := replay(ctx, sink, msg, &r); err != nil {
			return r, fmt.Errorf("replay spool file %s: %w", n, err)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return r, fmt.Errorf("remove replayed spool file %s: %w", n, err)
		}
		r.Files++
	}
	return r, nil
}

// replay writes one message to sink and counts it in r.
func replay(ctx context.Context, sink Sink, msg record.Message, r *Replayed) error {
	switch msg.Kind {
	case record.KindInvocation:
		if err := sink.RecordInvocation(ctx, *msg.Invocation); err != nil {
			return err
		}
		r.Invocations++
	case record.KindSpan:
		if err := sink.RecordSpan(ctx, *msg.Span); err != nil {
			return err
		}
		r.Spans++
	default:
		inserted, err := sink.WriteChecks(ctx, msg.Checks)
		if err != nil {
			return err
		}
		r.Checks += len(msg.Checks)
		r.Inserted += inserted
	}
	return nil
}
