package store

import (
	"context"
	"fmt"
	"time"
)

// pruneBatch bounds the rows one prune statement deletes, so that the
// upkeep never holds a long lock or a huge transaction over a ledger.
const pruneBatch = 10_000

// ledgers are what the fleet records about itself, by their time column:
// kept as long as hourly rollups (Retention.Hour), the longest window a
// report reads beside them.
var ledgers = []struct{ table, col string }{
	{"invocations", "started_at"},
	{"spans", "span_start"},
	{"shard_attempts", "span_start"},
}

// pruneLedgers deletes what the fleet recorded about itself (invocations,
// the span ledger, shard attempts) from before now less r.Hour, and the
// alerts resolved before then with their notifications. An alert that is
// still open, or whose notifications are not all sent, stays whatever its
// age: a notification is never dropped. It returns the rows deleted, not
// counting the notifications that went with their alerts.
func (s *Store) pruneLedgers(ctx context.Context, r Retention, now time.Time) (int64, error) {
	before := now.Add(-r.Hour)
	var total int64
	for _, l := range ledgers {
		n, err := s.pruneInBatches(ctx, fmt.Sprintf(
			`DELETE FROM %[1]s WHERE ctid = ANY (ARRAY(SELECT ctid FROM %[1]s WHERE %[2]s < $1 LIMIT %[3]d))`,
			l.table, l.col, pruneBatch), before)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune %s: %w", l.table, err)
		}
	}
	// An alert's notifications go first, in the same statement: the
	// alert's foreign key sees them gone at its end.
	n, err := s.pruneInBatches(ctx, fmt.Sprintf(`
		WITH old AS (
			SELECT a.id FROM alerts a
			WHERE a.resolved_at < $1
			  AND NOT EXISTS (SELECT 1 FROM alert_notifications n WHERE n.alert_id = a.id AND n.sent_at IS NULL)
			  AND NOT EXISTS (SELECT 1 FROM alert_state st WHERE st.open_alert = a.id)
			LIMIT %d
		), notifications AS (
			DELETE FROM alert_notifications n USING old WHERE n.alert_id = old.id
		)
		DELETE FROM alerts a USING old WHERE a.id = old.id`, pruneBatch/10), before)
	total += n
	if err != nil {
		return total, fmt.Errorf("prune resolved alerts: %w", err)
	}
	return total, nil
}

// pruneInBatches runs a deleting statement with before as $1 until it
// deletes nothing, and returns the rows it deleted.
func (s *Store) pruneInBatches(ctx context.Context, sql string, before time.Time) (int64, error) {
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, sql, before)
		if err != nil {
			return total, err
		}
		if tag.RowsAffected() == 0 {
			return total, nil
		}
		total += tag.RowsAffected()
	}
}
