package store_test

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/record"
)

// checksColumns is the column list both writers fill.
const checksColumns = "endpoint_id, location, planned_at, started_at, lateness_ms, response_time_ms, status_code, " +
	"regex_match, error, dns_ms, connect_ms, tls_ms, ttfb_ms, body_bytes"

// BenchmarkWriterVsCopy loads the same rows into checks through pgbouncer
// in transaction mode twice per iteration, each time into an emptied table:
// with the probe's batch writer (WriteChecks, batches of 500 written one
// after another, as a probe writes) and with psql's COPY FROM STDIN, the
// fastest way in. It reports both rates and their ratio.
func BenchmarkWriterVsCopy(b *testing.B) {
	psql, err := exec.LookPath("psql")
	if err != nil {
		b.Fatal("psql not found: install the PostgreSQL client (Debian: postgresql-client)")
	}
	const rows, size = 50_000, 500
	direct := pgtest.New(b)
	via := pgtest.Bouncer(b, direct)
	s := open(b, via)
	ctx := testContext(b)
	at := time.Now().UTC().Truncate(time.Second)
	ms := batch(1, rows, at)
	text := copyText(ms)

	var writer, copying time.Duration
	for b.Loop() {
		truncateChecks(ctx, b, direct)
		start := time.Now()
		for i := 0; i < rows; i += size {
			if n, err := s.WriteChecks(ctx, ms[i:i+size]); err != nil || n != size {
				b.Fatalf("WriteChecks = %d, %v; want %d new rows", n, err, size)
			}
		}
		writer += time.Since(start)

		truncateChecks(ctx, b, direct)
		cmd := exec.CommandContext(ctx, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", via,
			"-c", "COPY checks ("+checksColumns+") FROM STDIN")
		cmd.Stdin = bytes.NewReader(text)
		start = time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("psql COPY: %v: %s", err, out)
		}
		copying += time.Since(start)
		if n := query[int](b, direct, `SELECT count(*) FROM checks`); n != rows {
			b.Fatalf("COPY stored %d rows, want %d", n, rows)
		}
	}
	writerRate := float64(b.N*rows) / writer.Seconds()
	copyRate := float64(b.N*rows) / copying.Seconds()
	b.ReportMetric(writerRate, "writer-rows/s")
	b.ReportMetric(copyRate, "copy-rows/s")
	b.ReportMetric(writerRate/copyRate, "writer/copy")
}

func truncateChecks(ctx context.Context, b *testing.B, url string) {
	b.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "TRUNCATE checks"); err != nil {
		b.Fatal(err)
	}
}

// copyText is ms in COPY's text format, with the values WriteChecks
// stores: timestamps to the microsecond, times in milliseconds.
func copyText(ms []record.Check) []byte {
	var buf bytes.Buffer
	ts := func(t time.Time) { buf.WriteString(t.UTC().Format("2006-01-02 15:04:05.999999Z07:00")) }
	f32 := func(d time.Duration) {
		buf.WriteString(strconv.FormatFloat(float64(float32(float64(d)/float64(time.Millisecond))), 'g', -1, 32))
	}
	tab := func() { buf.WriteByte('\t') }
	for i := range ms {
		m := &ms[i]
		buf.WriteString(strconv.FormatInt(m.EndpointID, 10))
		tab()
		buf.WriteString(m.Location)
		tab()
		ts(m.PlannedAt)
		tab()
		ts(m.StartedAt)
		tab()
		f32(m.Lateness)
		tab()
		buf.WriteString(strconv.FormatFloat(float64(m.ResponseTime)/float64(time.Millisecond), 'g', -1, 64))
		tab()
		if m.StatusCode != nil {
			buf.WriteString(strconv.Itoa(*m.StatusCode))
		} else {
			buf.WriteString(`\N`)
		}
		tab()
		switch {
		case m.RegexMatch == nil:
			buf.WriteString(`\N`)
		case *m.RegexMatch:
			buf.WriteByte('t')
		default:
			buf.WriteByte('f')
		}
		tab()
		if m.Error != "" {
			buf.WriteString(m.Error)
		} else {
			buf.WriteString(`\N`)
		}
		for _, d := range []time.Duration{m.DNS, m.Connect, m.TLS, m.TTFB} {
			tab()
			f32(d)
		}
		tab()
		buf.WriteString(strconv.FormatInt(m.BodyBytes, 10))
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}
