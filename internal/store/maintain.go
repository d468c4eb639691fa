package store

import (
	"context"
	"errors"
	"time"
)

// MaintainResult says what one upkeep did.
type MaintainResult struct {
	// Storage is the path the database took: "timescaledb" (hypertable,
	// compression, continuous aggregates) or "partitions" (native).
	Storage           string
	PartitionsCreated int
	BucketsRolledUp   int // rollup buckets recomputed from raw checks
	PartitionsDropped int // whole partitions (or chunks) dropped by retention
	ChunksCompressed  int
	Duration          time.Duration
}

// Maintain does the upkeep once: partitions ahead, rollups up to date,
// retention applied. Safe to interrupt and to run again.
func (s *Store) Maintain(ctx context.Context, r Retention, now time.Time) (MaintainResult, error) {
	return MaintainResult{}, errors.New("maintain: not yet implemented")
}
