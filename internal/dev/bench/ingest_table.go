package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// writeIngestTable prints one key order's run: a row per interval, then
// the sizes, the group's memory and the read queries.
func writeIngestTable(w io.Writer, opt IngestOptions, r *IngestReport) {
	rate, secs := opt.Rate(), opt.Every.Seconds()
	fmt.Fprintf(w, "\n### %s: UNIQUE (%s)\n\n", r.Key, ingestKeyColumns[r.Key])
	fmt.Fprintln(w, "| t | offered rows/s | stored rows/s | behind (rows) | write p50 / p99 / max | WAL MB/s | full-page images/s | blocks read/s | blocks written/s | checkpoints | group memory (page cache) | CPU: PostgreSQL / others | disk busy |")
	fmt.Fprintln(w, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, iv := range r.Intervals {
		s := iv.Server
		mark := ""
		if iv.Short(int(rate + 0.5)) {
			mark = " **short**"
		}
		fmt.Fprintf(w, "| %s | %s | %s%s | %s | %.1f / %.1f / %.1f ms | %.1f | %.0f | %.0f | %.0f | %d | %s (%s) | %.2f / %.2f | %.0f%% |\n",
			iv.End.Round(time.Second), commas(int(float64(iv.Offered)/secs+0.5)), commas(int(float64(iv.Stored)/secs+0.5)), mark,
			commas(iv.Behind), msF(iv.P50), msF(iv.P99), msF(iv.Max),
			float64(s.WALBytes)/(1<<20)/secs, float64(s.FPI)/secs, float64(s.BlocksRead)/secs, float64(s.BlocksWritten)/secs,
			s.Checkpoints, mb(iv.MemoryBytes), mb(iv.CacheBytes), iv.CPU, iv.Others, 100*iv.Disk)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- Bulk load: %s rows in %s (vacuum and checkpoint included). Live partition before / after the offered load: "+
		"heap %s / %s, unique key %s / %s, BRIN %s / %s; %s / %s in all against a memory limit of %s.\n",
		commas(int(r.Loaded)), r.LoadTook.Round(time.Second), mb(r.Before.Heap), mb(r.After.Heap), mb(r.Before.Key), mb(r.After.Key),
		mb(r.Before.BRIN), mb(r.After.BRIN), mb(r.Before.Total()), mb(r.After.Total()), mb(r.Memory.Limit))
	fmt.Fprintf(w, "- Key index: %.1f bytes a row after the bulk load; the rows of the offered load grew it by %.1f bytes a row.\n",
		perRow(r.Before.Key, r.Before.Rows), perRow(r.After.Key-r.Before.Key, r.After.Rows-r.Before.Rows))
	fmt.Fprintf(w, "- Offered %s rows, stored all but %s (the writers drained %s after the last hand-over); write latency over the run p50 %s, p99 %s, max %s.\n",
		commas(r.Offered), commas(r.Unstored), r.Drained.Round(time.Millisecond), msf(r.P50), msf(r.P99), msf(r.Max))
	if r.FirstError != "" {
		fmt.Fprintf(w, "- Errors: %s\n", r.FirstError)
	}
	fmt.Fprintf(w, "- Group memory over the offered load: peak %s of %s; the limit was hit %s times (the kernel reclaimed page cache); OOM kills %d.\n",
		mb(r.Memory.Peak), mb(r.Memory.Limit), commas(int(r.Memory.FailCount)), r.Memory.OOMKills)
	fmt.Fprintln(w, "- Read queries afterwards (the store's own, on the filled table; scans from auto_explain):")
	for _, q := range r.Reads {
		fmt.Fprintf(w, "  - %s (n = %s): %s; %s\n", q.Query, commas(q.Rows), msf(q.Took), strings.Join(q.Scans, "; "))
	}
	fmt.Fprintf(w, "- Verdict: %s\n", ingestVerdict(r, rate))
}

// writeIngestSummary compares the key orders side by side.
func writeIngestSummary(w io.Writer, opt IngestOptions, reps []*IngestReport) {
	if len(reps) == 0 {
		return
	}
	rate, secs := opt.Rate(), opt.Every.Seconds()
	fmt.Fprintf(w, "\n### Key orders compared (offered %.0f rows/s)\n\n", rate)
	fmt.Fprintln(w, "| key | stored rows/s, lowest interval | intervals short | write p50 / p99 / max | WAL bytes a row | full-page images a 1,000 rows | blocks read/s | key index before → after | peak group memory | verdict |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, r := range reps {
		lowest, stored := -1, 0
		var s serverDelta
		for _, iv := range r.Intervals {
			if v := int(float64(iv.Stored)/secs + 0.5); lowest < 0 || v < lowest {
				lowest = v
			}
			stored += iv.Stored
			s.WALBytes += iv.Server.WALBytes
			s.FPI += iv.Server.FPI
			s.BlocksRead += iv.Server.BlocksRead
		}
		dur := float64(len(r.Intervals)) * secs
		fmt.Fprintf(w, "| %s | %s | %d of %d | %s / %s / %s | %.0f | %.0f | %.0f | %s → %s | %s | %s |\n",
			r.Key, commas(lowest), len(r.Short(rate)), len(r.Intervals), msf(r.P50), msf(r.P99), msf(r.Max),
			float64(s.WALBytes)/float64(max(stored, 1)), 1000*float64(s.FPI)/float64(max(stored, 1)), float64(s.BlocksRead)/dur,
			mb(r.Before.Key), mb(r.After.Key), mb(r.Memory.Peak), ingestVerdict(r, rate))
	}
}

// ingestVerdict says whether the stored rate kept up with the offered.
func ingestVerdict(r *IngestReport, rate float64) string {
	if !r.Failed(rate) {
		return "kept up: never below the offered rate"
	}
	var why []string
	if short := r.Short(rate); len(short) > 0 {
		why = append(why, fmt.Sprintf("%d of %d intervals short", len(short), len(r.Intervals)))
	}
	if r.Unstored > 0 {
		why = append(why, commas(r.Unstored)+" rows never stored")
	}
	if r.FirstError != "" {
		why = append(why, "write errors")
	}
	return "**fell behind**: " + strings.Join(why, ", ")
}

func perRow(bytes, rows int64) float64 {
	if rows <= 0 {
		return 0
	}
	return float64(bytes) / float64(rows)
}

// msF is a duration in milliseconds, one decimal.
func msF(d time.Duration) float64 { return float64(d) / 1e6 }
