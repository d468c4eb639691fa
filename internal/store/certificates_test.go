package store_test

import (
	"context"
	"crypto/x509/pkix"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/check"
	"github.com/watcher-dev/watcher/internal/dev/certtest"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// certificateRow is a row of the certificates table.
type certificateRow struct {
	EndpointID          int64
	Location            string
	NotAfter            time.Time
	Issuer              string
	FirstSeen, LastSeen time.Time
}

func certificateRows(t *testing.T, url string) []certificateRow {
	t.Helper()
	ctx := testContext(t)
	rows, err := connect(t, url).Query(ctx, `SELECT endpoint_id, location, not_after, issuer, first_seen, last_seen
		FROM certificates ORDER BY endpoint_id, location, not_after`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []certificateRow
	for rows.Next() {
		var r certificateRow
		if err := rows.Scan(&r.EndpointID, &r.Location, &r.NotAfter, &r.Issuer, &r.FirstSeen, &r.LastSeen); err != nil {
			t.Fatal(err)
		}
		r.NotAfter, r.FirstSeen, r.LastSeen = r.NotAfter.UTC(), r.FirstSeen.UTC(), r.LastSeen.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// https is a successful HTTPS check of endpoint id planned at at whose
// certificate expires at notAfter.
func https(id int64, at, notAfter time.Time, issuer string) record.Check {
	c := metric(id, at)
	c.TLS = 3 * time.Millisecond
	c.TLSNotAfter, c.TLSIssuer = ptr(notAfter), issuer
	return c
}

// TestWriteChecksCertificates: a batch's certificates are stored with its
// checks, on both storage paths: the expiry on each HTTPS check, the
// issuer once per endpoint, location and expiry with when checks first and
// last saw it; a retried batch changes nothing; last_seen moves forward
// (and first_seen back) only by more than an hour; the checks still feed
// the rollups.
func TestWriteChecksCertificates(t *testing.T) {
	onEach(t, func(t *testing.T, s *store.Store, url string, f pgtest.Flavour) {
		ctx := testContext(t)
		at := time.Now().UTC().Truncate(time.Minute).Add(-3 * time.Hour)
		soon := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
		later := soon.AddDate(0, 3, 0)
		batch := []record.Check{
			https(1, at, soon, "Watcher Test CA"),
			https(1, at.Add(20*time.Second), soon, "Watcher Test CA"),
			https(2, at, later, "Other CA"),
			metric(3, at), // plain HTTP
			func() record.Check { // an expired certificate: failed, recorded
				c := https(4, at, at.AddDate(0, 0, -1), "Watcher Test CA")
				c.StatusCode, c.Error = nil, record.ErrTLS
				return c
			}(),
		}
		batch[4].Location = "vpc"
		if n, err := s.WriteChecks(ctx, batch); err != nil || n != len(batch) {
			t.Fatalf("WriteChecks = %d, %v", n, err)
		}
		got, err := s.Checks(ctx, at, at.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		want := append([]record.Check(nil), batch...)
		want[0], want[1], want[2], want[3], want[4] = batch[0], batch[2], batch[3], batch[4], batch[1] // by instant, endpoint, location
		for i := range want {
			want[i].PlannedAt, want[i].StartedAt = want[i].PlannedAt.Truncate(time.Microsecond), want[i].StartedAt.Truncate(time.Microsecond)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("read back:\n got %+v\nwant %+v", got, want)
		}
		started := at.Add(3 * time.Millisecond)
		first := []certificateRow{
			{1, "home", soon, "Watcher Test CA", started, started.Add(20 * time.Second)},
			{2, "home", later, "Other CA", started, started},
			{4, "vpc", at.AddDate(0, 0, -1), "Watcher Test CA", started, started},
		}
		if rows := certificateRows(t, url); !reflect.DeepEqual(rows, first) {
			t.Fatalf("certificates:\n got %+v\nwant %+v", rows, first)
		}

		// Retried: the checks conflict, and the statement that retries
		// them leaves the certificates as they were.
		if n, err := s.WriteChecks(ctx, batch); err != nil || n != 0 {
			t.Fatalf("retried WriteChecks = %d, %v; want 0", n, err)
		}
		if rows := certificateRows(t, url); !reflect.DeepEqual(rows, first) {
			t.Errorf("certificates after a retry:\n got %+v\nwant %+v", rows, first)
		}

		// Within the hour: no row rewritten, nor locked (xmax). Beyond it: moved.
		xmin := query[string](t, url, `SELECT string_agg(xmin::text, ',' ORDER BY endpoint_id) FROM certificates`)
		xmax := query[string](t, url, `SELECT string_agg(xmax::text, ',' ORDER BY endpoint_id) FROM certificates`)
		if _, err := s.WriteChecks(ctx, []record.Check{https(1, at.Add(50*time.Minute), soon, "Watcher Test CA")}); err != nil {
			t.Fatal(err)
		}
		if now := query[string](t, url, `SELECT string_agg(xmin::text, ',' ORDER BY endpoint_id) FROM certificates`); now != xmin {
			t.Errorf("a check within the hour rewrote a certificate row (xmin %s, was %s)", now, xmin)
		}
		if now := query[string](t, url, `SELECT string_agg(xmax::text, ',' ORDER BY endpoint_id) FROM certificates`); now != xmax {
			t.Errorf("a check within the hour locked a certificate row (xmax %s, was %s)", now, xmax)
		}
		moved := []record.Check{https(1, at.Add(2*time.Hour), soon, "Watcher Test CA"), https(2, at.Add(-2*time.Hour), later, "Other CA")}
		if _, err := s.WriteChecks(ctx, moved); err != nil {
			t.Fatal(err)
		}
		rows := certificateRows(t, url)
		if !rows[0].LastSeen.Equal(moved[0].StartedAt) || !rows[0].FirstSeen.Equal(first[0].FirstSeen) {
			t.Errorf("seen again two hours later: %+v, want last_seen %v", rows[0], moved[0].StartedAt)
		}
		if !rows[1].FirstSeen.Equal(moved[1].StartedAt) || !rows[1].LastSeen.Equal(first[1].LastSeen) {
			t.Errorf("a late batch from two hours before: %+v, want first_seen %v", rows[1], moved[1].StartedAt)
		}

		// The statement trigger (plain PostgreSQL) and the continuous
		// aggregates (TimescaleDB) still see every check.
		if _, err := s.RollUp(ctx, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		rs, err := s.Rollups(ctx, store.LevelMinute, at.Add(-3*time.Hour), at.Add(3*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var checks int64
		for _, r := range rs {
			checks += r.Checks
		}
		if checks != int64(len(batch)+1+len(moved)) {
			t.Errorf("rollups count %d checks, want %d", checks, len(batch)+1+len(moved))
		}
	})
}

// TestCertificateFromCheckToReport carries a real certificate, made by the
// test with a known expiry, from a check of an HTTPS server through the
// queue's wire form and the writer into the database, and out again in
// the checks and the report.
func TestCertificateFromCheckToReport(t *testing.T) {
	onEach(t, func(t *testing.T, s *store.Store, _ string, _ pgtest.Flavour) {
		ctx := testContext(t)
		ca := certtest.NewCA(t, pkix.Name{CommonName: "Watcher Test CA"})
		notAfter := time.Now().Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
		srv := ca.Server(t, notAfter, false, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
		eps := []endpoint.Endpoint{
			{Name: "secure", URL: srv.URL, Method: "GET", Interval: time.Minute, Timeout: 5 * time.Second, Location: "home", Enabled: true},
			{Name: "plain", URL: "http://127.0.0.1:9/", Method: "GET", Interval: time.Minute, Timeout: 5 * time.Second, Location: "home", Enabled: true},
		}
		if _, err := s.ImportEndpoints(ctx, eps, false); err != nil {
			t.Fatal(err)
		}
		eps, err := s.Endpoints(ctx, false)
		if err != nil {
			t.Fatal(err)
		}

		checker := check.New(check.Options{Policy: check.Policy{AllowLoopback: true}, RootCAs: ca.Pool})
		at := time.Now().UTC().Truncate(time.Minute)
		res := checker.Run(context.Background(), &check.Request{URL: srv.URL})
		if res.Error != "" || res.TLSNotAfter == nil || !res.TLSNotAfter.Equal(notAfter) || res.TLSIssuer != "Watcher Test CA" {
			t.Fatalf("check: error %q, certificate %v by %q; want none, %v by Watcher Test CA", res.Error, res.TLSNotAfter, res.TLSIssuer, notAfter)
		}
		sent := []record.Check{
			{EndpointID: eps[0].ID, Location: "home", PlannedAt: at, Result: res},
			{EndpointID: eps[1].ID, Location: "home", PlannedAt: at, Result: record.Result{StartedAt: at, ResponseTime: time.Millisecond, StatusCode: ptr(200)}},
		}
		msgs, err := record.EncodeChecks(sent, 256<<10)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("EncodeChecks = %d messages, %v", len(msgs), err)
		}
		msg, err := record.Decode(msgs[0].Body)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := s.WriteChecks(ctx, msg.Checks); err != nil || n != 2 {
			t.Fatalf("WriteChecks = %d, %v", n, err)
		}
		got, err := s.Checks(ctx, at, at.Add(time.Second))
		if err != nil || len(got) != 2 {
			t.Fatalf("Checks = %d, %v", len(got), err)
		}
		if c := got[0]; c.TLSNotAfter == nil || !c.TLSNotAfter.Equal(notAfter) || c.TLSIssuer != "Watcher Test CA" {
			t.Errorf("stored HTTPS check: certificate %v by %q", c.TLSNotAfter, c.TLSIssuer)
		}
		if c := got[1]; c.TLSNotAfter != nil || c.TLSIssuer != "" {
			t.Errorf("stored plain check: certificate %v by %q, want none", c.TLSNotAfter, c.TLSIssuer)
		}

		rep, err := s.Report(ctx, at.Add(-time.Hour), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Endpoints) != 2 {
			t.Fatalf("report of %d endpoints, want 2", len(rep.Endpoints))
		}
		secure, plain := rep.Endpoints[0], rep.Endpoints[1]
		if c := secure.Certificate; c == nil || !c.NotAfter.Equal(notAfter) || c.Issuer != "Watcher Test CA" ||
			!c.FirstSeen.Equal(res.StartedAt.Truncate(time.Microsecond)) {
			t.Errorf("report of the HTTPS endpoint: certificate %+v, want %v by Watcher Test CA", c, notAfter)
		}
		if plain.Certificate != nil {
			t.Errorf("report of the plain endpoint: certificate %+v, want none", plain.Certificate)
		}
		// A certificate last seen long before the period is not current.
		old, err := s.Report(ctx, time.Now().Add(24*time.Hour), time.Now().Add(25*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if c := old.Endpoints[0].Certificate; c != nil {
			t.Errorf("a report of a later period shows the certificate %+v, last seen before it", c)
		}
	})
}

// TestCertificatesMigration applies 00014 over stored checks, compressed
// ones on TimescaleDB, reads them and new ones back, and takes it down and
// up again, on both storage paths.
func TestCertificatesMigration(t *testing.T) {
	for _, f := range pgtest.Flavours {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			dbURL := pgtest.EmptyOn(t, f)
			db, p := migrationsAt(t, dbURL)
			if _, err := p.UpTo(ctx, 13); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			exec := func(q string) {
				t.Helper()
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			exec(`INSERT INTO checks (endpoint_id, location, planned_at, started_at, response_time_ms, status_code)
				VALUES (1, 'home', '2026-03-01 12:00:00+00', '2026-03-01 12:00:00+00', 10, 200)`)
			if f == pgtest.Timescale {
				exec(`SELECT compress_chunk(c) FROM show_chunks('checks') c`)
			}
			if _, err := p.UpTo(ctx, 14); err != nil {
				t.Fatalf("up: %v", err)
			}
			s := open(t, dbURL)
			if _, err := s.WriteChecks(ctx, []record.Check{https(2, at, at.AddDate(0, 1, 0), "Watcher Test CA")}); err != nil {
				t.Fatal(err)
			}
			got, err := s.Checks(ctx, at, at.Add(time.Minute))
			if err != nil || len(got) != 2 {
				t.Fatalf("Checks = %d, %v; want the old check and the new", len(got), err)
			}
			if got[0].TLSNotAfter != nil || got[1].TLSNotAfter == nil || !got[1].TLSNotAfter.Equal(at.AddDate(0, 1, 0)) || got[1].TLSIssuer != "Watcher Test CA" {
				t.Errorf("certificates read %v %q, %v %q", got[0].TLSNotAfter, got[0].TLSIssuer, got[1].TLSNotAfter, got[1].TLSIssuer)
			}
			s.Close()
			if _, err := p.DownTo(ctx, 13); err != nil {
				t.Fatalf("down: %v", err)
			}
			if n := query[int64](t, dbURL, "SELECT count(*) FROM checks"); n != 2 {
				t.Errorf("%d checks after down, want 2", n)
			}
			if _, err := p.UpTo(ctx, 14); err != nil {
				t.Fatalf("up again: %v", err)
			}
		})
	}
}
