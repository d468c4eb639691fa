package bench

import (
	"time"
)

// ingestOffer is one batch handed to a writer, as a probe hands its
// second's results to the batch writer.
type ingestOffer struct {
	At   time.Duration // since the run's start
	Rows int
}

// ingestWrite is one WriteChecks call.
type ingestWrite struct {
	Done time.Duration // since the run's start, when it returned
	Took time.Duration
	Rows int  // rows in the batch
	OK   bool // false: the batch was not stored
}

// IngestInterval is one reporting interval of the offered load.
type IngestInterval struct {
	End     time.Duration // since the run's start
	Offered int           // rows handed to writers in the interval
	Stored  int           // rows whose batch was stored in the interval
	Failed  int           // rows whose batch failed in the interval
	// Behind is every row offered so far less every row stored so far, at
	// the interval's end: rows waiting or in flight.
	Behind        int
	P50, P99, Max time.Duration // write latency of the batches stored in it
	Server        serverDelta   // what PostgreSQL did in it
	MemoryBytes   int64         // the group's memory use at its end
	CacheBytes    int64         // of which page cache (shared memory included)
	// CPU is what PostgreSQL (the group) used in it, Others what the rest
	// of the machine did (this process included), in cores.
	CPU, Others float64
	Disk        float64 // share of the interval the machine's disk was busy
}

// serverDelta is what PostgreSQL reported over an interval.
type serverDelta struct {
	WALBytes      int64 // pg_stat_wal.wal_bytes
	FPI           int64 // full-page images written to the WAL
	BlocksRead    int64 // blocks read into shared buffers (page cache or disk)
	BlocksWritten int64 // blocks written out of shared buffers (checkpointer, bgwriter, backends)
	Checkpoints   int64
}

func (d serverDelta) sub(e serverDelta) serverDelta {
	return serverDelta{WALBytes: d.WALBytes - e.WALBytes, FPI: d.FPI - e.FPI, BlocksRead: d.BlocksRead - e.BlocksRead,
		BlocksWritten: d.BlocksWritten - e.BlocksWritten, Checkpoints: d.Checkpoints - e.Checkpoints}
}

// ingestIntervals folds the offers and writes of a run into n intervals of
// length every from the run's start. Writes done after the last interval
// (the drain) count in none, so they show as rows behind.
func ingestIntervals(offers []ingestOffer, writes []ingestWrite, every time.Duration, n int) []IngestInterval {
	out := make([]IngestInterval, n)
	took := make([][]time.Duration, n)
	at := func(d time.Duration) int {
		if d < 0 {
			return 0
		}
		return int(d / every)
	}
	for i := range out {
		out[i].End = time.Duration(i+1) * every
	}
	for _, o := range offers {
		if i := at(o.At); i < n {
			out[i].Offered += o.Rows
		}
	}
	for _, w := range writes {
		i := at(w.Done)
		if i >= n {
			continue
		}
		if !w.OK {
			out[i].Failed += w.Rows
			continue
		}
		out[i].Stored += w.Rows
		took[i] = append(took[i], w.Took)
	}
	behind := 0
	for i := range out {
		behind += out[i].Offered - out[i].Stored
		out[i].Behind = behind
		out[i].P50, out[i].P99, out[i].Max = percentile(took[i], 0.50), percentile(took[i], 0.99), percentile(took[i], 1)
	}
	return out
}

// Short reports whether the interval stored less than was offered and
// ended more than slack rows behind. Batches are handed over once a second
// and an interval ends half a second after a hand-over, so a database that
// keeps up has stored them all by then; slack (a second of the offered
// load) allows for a batch that straddles the boundary.
func (iv IngestInterval) Short(slack int) bool {
	return iv.Failed > 0 || (iv.Stored < iv.Offered && iv.Behind > slack)
}
