package store

import (
	"context"
	"fmt"
	"time"
)

// ClaimShard records the first attempt at a shard. It reports false when an
// earlier attempt had claimed it: this invocation is a retry.
func (s *Store) ClaimShard(ctx context.Context, location string, shard int, spanStart time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO shard_attempts (location, shard, span_start) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, location, shard, spanStart)
	if err != nil {
		return false, fmt.Errorf("claim shard %s/%d of span %s: %w", location, shard, spanStart.Format(time.RFC3339), err)
	}
	return tag.RowsAffected() == 1, nil
}
