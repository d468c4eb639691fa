package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/alert"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// reportFilter picks the endpoints a report lists.
type reportFilter struct {
	failing  bool   // only endpoints with at least one failed check
	name     string // a substring of the name, or a glob (*, ?, [...]) matching all of it
	location string // exactly this location
}

func reportCmd() *cobra.Command {
	var (
		since  time.Duration
		filter reportFilter
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Per endpoint: checks, up %, failures by cause, response times, from rollups; TLS certificates; the last hour's spans: planned vs stored",
		Long: `Report per endpoint and location from the rollups: minute rollups for up to six hours,
hourly up to two days, daily beyond. The rollups are brought up to date first.

A check is up when it has no error class, its HTTP status is 2xx or 3xx, and its
regex matched (or it has none); every other check failed. FAILURES breaks the
failed checks down by error class and by HTTP status class; REGEX FAIL counts the
checks whose body did not match. Response-time percentiles are the worst bucket's
(a period's percentile is not a function of its buckets'); MEAN and MAX are exact.
An endpoint without checks shows "-" for every figure. NAME is the endpoint's
name, or its URL when it has none.

Then, for every endpoint whose HTTPS checks saw a TLS certificate in the period,
the latest one seen from each location: when it expires, the whole days left and
its issuer, flagged with "!" when it expires within 14 days or has expired (a
certificate that failed verification is shown too).

Then the spans since the report's start (at most the last hour) whose stored
checks differ from plan or that were not dispatched, consecutive ones of one
status as one range.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			return writeReport(cmd.Context(), os.Stdout, st, time.Now().Add(-since), filter, asJSON)
		},
	}
	f := cmd.Flags()
	daysVar(f, &since, "since", time.Hour, "report on checks planned this long ago or later (1h, 30d)") // positive: days refuses the rest
	f.BoolVar(&filter.failing, "failing", false, "only endpoints with at least one failed check")
	f.StringVar(&filter.name, "name", "", "only endpoints whose name contains this, or matches it as a glob (api-*, *.example.com)")
	f.StringVar(&filter.location, "location", "", "only checks from this location")
	f.BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	checkFlag(f, "name", func() string {
		if _, err := path.Match(filter.name, ""); err != nil {
			return err.Error()
		}
		return ""
	})
	return cmd
}

// printReport prints the report of every endpoint since since, as text.
func printReport(ctx context.Context, st *store.Store, since time.Time) error {
	return writeReport(ctx, os.Stdout, st, since, reportFilter{}, false)
}

// writeReport brings the rollups up to date and writes the endpoint table,
// then the spans since since (at most the last hour) with the checks planned
// beside the checks stored, so a person can see that every planned check was
// stored.
func writeReport(ctx context.Context, w io.Writer, st *store.Store, since time.Time, filter reportFilter, asJSON bool) error {
	now := time.Now()
	// The bucket still filling too: a report is a look at now, and the
	// checks that land in that bucket later queue it again.
	if _, err := st.RollUp(ctx, now.Add(time.Minute)); err != nil {
		return err
	}
	rep, err := st.Report(ctx, since, now)
	if err != nil {
		return err
	}
	rep.Endpoints = filter.apply(rep.Endpoints)
	spansSince := now.Add(-time.Hour)
	if since.After(spansSince) {
		spansSince = since
	}
	spans, err := st.SpanCounts(ctx, spansSince, plan.SpanLength)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(jsonReport(rep, spansSince, spans, now))
	}
	if err := writeEndpoints(w, rep); err != nil {
		return err
	}
	if err := writeCertificates(w, rep, now); err != nil {
		return err
	}
	return writeSpans(w, spansSince, spans)
}

// displayName is an endpoint's name, or its URL when it has none.
func displayName(r store.EndpointReport) string { return cmp.Or(r.Name, r.URL) }

// apply returns the endpoints the filter keeps, in order.
func (f reportFilter) apply(eps []store.EndpointReport) []store.EndpointReport {
	return slices.DeleteFunc(slices.Clone(eps), func(r store.EndpointReport) bool { return !f.keeps(r) })
}

func (f reportFilter) keeps(r store.EndpointReport) bool {
	switch {
	case f.failing && r.Checks == r.Up:
		return false
	case f.location != "" && r.Location != f.location:
		return false
	case f.name == "":
		return true
	case strings.ContainsAny(f.name, `*?[\`):
		ok, _ := path.Match(f.name, displayName(r)) // the pattern was checked with the flags
		return ok
	default:
		return strings.Contains(displayName(r), f.name)
	}
}

// writeEndpoints writes the endpoint table and the totals.
func writeEndpoints(w io.Writer, rep store.Report) error {
	through := "nothing rolled up yet"
	if !rep.Through.IsZero() {
		through = "through " + rep.Through.Local().Format(time.DateTime)
	}
	fmt.Fprintf(w, "\nReport from %s, %s (%s rollups)\n\n", rep.From.Local().Format(time.DateTime), through, rep.Level)
	// Names and locations are padded to one width so that they read left
	// aligned in a table whose figures are right aligned.
	nameWidth, locWidth := len("NAME"), len("LOCATION")
	for _, r := range rep.Endpoints {
		nameWidth, locWidth = max(nameWidth, len(displayName(r))), max(locWidth, len(r.Location))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\t%-*s\tCHECKS\tUP %%\tMEAN ms\tP50 ms\tP95 ms\tP99 ms\tMAX ms\tREGEX FAIL\t  FAILURES\n",
		nameWidth, "NAME", locWidth, "LOCATION")
	var total store.Counts
	for _, r := range rep.Endpoints {
		total.Add(r.Counts)
		fmt.Fprintf(tw, "%-*s\t%-*s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t  %s\n", nameWidth, displayName(r), locWidth, r.Location,
			r.Checks, figure(r.Counts, "%.1f", r.UpPercent()), msFigure(r.Counts, r.Mean()), msFigure(r.Counts, r.P50),
			msFigure(r.Counts, r.P95), msFigure(r.Counts, r.P99), msFigure(r.Counts, r.Max),
			figure(r.Counts, "%d", r.RegexFailures), failures(r.Counts))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if total.Checks > 0 {
		fmt.Fprintf(w, "\n%d endpoints, %d checks, %.2f%% up\n", len(rep.Endpoints), total.Checks, total.UpPercent())
	}
	return nil
}

// certificateWarning is how close to its expiry a certificate is flagged.
const certificateWarning = 14 * 24 * time.Hour

// certificateNote flags a certificate that expires within
// certificateWarning or has expired; "" for the others.
func certificateNote(c *store.Certificate, now time.Time) string {
	switch left := c.NotAfter.Sub(now); {
	case left <= 0:
		return "! expired"
	case left <= certificateWarning:
		return "! expires within 14 days"
	}
	return ""
}

// writeCertificates writes the certificate each endpoint's checks saw last,
// if any did, flagging those about to expire.
func writeCertificates(w io.Writer, rep store.Report, now time.Time) error {
	var certs []store.EndpointReport
	for _, r := range rep.Endpoints {
		if r.Certificate != nil {
			certs = append(certs, r)
		}
	}
	if len(certs) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nCertificates (the latest each endpoint's checks saw)\n\n")
	nameWidth, locWidth, issuerWidth := len("NAME"), len("LOCATION"), len("ISSUER")
	for _, r := range certs {
		nameWidth, locWidth = max(nameWidth, len(displayName(r))), max(locWidth, len(r.Location))
		issuerWidth = max(issuerWidth, len(r.Certificate.Issuer))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\t%-*s\tEXPIRES\tDAYS LEFT\t  %-*s\t\n", nameWidth, "NAME", locWidth, "LOCATION", issuerWidth, "ISSUER")
	for _, r := range certs {
		c := r.Certificate
		fmt.Fprintf(tw, "%-*s\t%-*s\t%s\t%d\t  %-*s\t  %s\n", nameWidth, displayName(r), locWidth, r.Location,
			c.NotAfter.Local().Format(time.DateTime), alert.DaysLeft(c.NotAfter, now), issuerWidth, c.Issuer, certificateNote(c, now))
	}
	return tw.Flush()
}

// figure formats v, or "-" without checks, so that a silent endpoint is not
// 0 % up, nor answers in 0 ms.
func figure(c store.Counts, format string, v any) string {
	if c.Checks == 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func msFigure(c store.Counts, d time.Duration) string { return figure(c, "%.1f", record.MS(d)) }

// cause is one reason checks failed and how many failed for it.
type cause struct {
	name string
	n    int64
}

// failureCauses are the failed checks by error class ("other" is every
// class the rollups do not count apart) and by HTTP status class, in a
// fixed order; regex failures have a column of their own.
func failureCauses(c store.Counts) []cause {
	return []cause{
		{record.ErrTimeout, c.ErrTimeout}, {record.ErrDNS, c.ErrDNS}, {record.ErrConnect, c.ErrConnect},
		{record.ErrTLS, c.ErrTLS}, {record.ErrRefused, c.ErrRefused}, {record.ErrNoSocket, c.ErrNoSocket},
		{record.ErrOther, c.ErrOther}, {"4xx", c.Status4xx}, {"5xx", c.Status5xx},
	}
}

// failures says why checks were not up, most frequent cause first: error
// classes and HTTP status classes, "-" when nothing failed that way.
func failures(c store.Counts) string {
	causes := failureCauses(c)
	slices.SortStableFunc(causes, func(a, b cause) int { return cmp.Compare(b.n, a.n) })
	var parts []string
	for _, cause := range causes {
		if cause.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", cause.name, cause.n))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// spanRange is a run of consecutive spans of one status whose stored checks
// differ from plan or that were not dispatched, added up.
type spanRange struct {
	First, Last     time.Time
	Status          string
	Spans, Shards   int
	Planned, Stored int
}

// collapseSpans returns the spans that differ from plan (stored checks not
// the planned ones, or not dispatched) as ranges: a span one span length
// after the last of a range of its status joins it.
func collapseSpans(spans []store.SpanCount) []spanRange {
	var out []spanRange
	for _, s := range spans {
		if s.Stored == s.Planned && s.Status == record.SpanDispatched {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Status == s.Status && s.Start.Sub(out[n-1].Last) == plan.SpanLength {
			r := &out[n-1]
			r.Last = s.Start
			r.Spans++
			r.Shards += s.Shards
			r.Planned += s.Planned
			r.Stored += s.Stored
			continue
		}
		out = append(out, spanRange{First: s.Start, Last: s.Start, Status: s.Status, Spans: 1, Shards: s.Shards,
			Planned: s.Planned, Stored: s.Stored})
	}
	return out
}

// String is the range's first and last span start, the date once.
func (r spanRange) String() string {
	first, last := r.First.Local(), r.Last.Local()
	switch {
	case r.Spans == 1:
		return first.Format(time.DateTime)
	case first.YearDay() == last.YearDay() && first.Year() == last.Year():
		return first.Format(time.DateTime) + " - " + last.Format(time.TimeOnly)
	default:
		return first.Format(time.DateTime) + " - " + last.Format(time.DateTime)
	}
}

// writeSpans writes the spans since since that differ from plan, as ranges,
// then the totals.
func writeSpans(w io.Writer, since time.Time, spans []store.SpanCount) error {
	fmt.Fprintf(w, "\nSpans since %s (planned by the fanout, stored in checks); only those that differ are listed\n\n",
		since.Local().Format(time.DateTime))
	ranges := collapseSpans(spans)
	width := len("SPAN START")
	for _, r := range ranges {
		width = max(width, len(r.String()))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tSTATUS\tSPANS\tSHARDS\tPLANNED\tSTORED\tNOT STORED\t\n", width, "SPAN START")
	for _, r := range ranges {
		fmt.Fprintf(tw, "%-*s\t%s\t%d\t%d\t%d\t%d\t%d\t\n", width, r.String(), r.Status, r.Spans, r.Shards, r.Planned,
			r.Stored, r.Planned-r.Stored)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	planned, stored := spanTotals(spans)
	fmt.Fprintf(w, "\n%d spans: %d checks planned, %d stored\n", len(spans), planned, stored)
	return nil
}

// spanTotals adds up the checks planned and stored in spans.
func spanTotals(spans []store.SpanCount) (planned, stored int) {
	for _, s := range spans {
		planned += s.Planned
		stored += s.Stored
	}
	return planned, stored
}

// The JSON shape of a report (`watcher report --json`), kept stable: fields
// are added, never renamed or removed. Times are RFC 3339 in UTC, response
// times in milliseconds; figures that need checks are null without them.
type (
	reportJSON struct {
		Level     string         `json:"level"` // minute, hour or day: the rollups read
		From      time.Time      `json:"from"`
		Through   *time.Time     `json:"through"` // null when nothing is rolled up yet
		Endpoints []endpointJSON `json:"endpoints"`
		Spans     spansJSON      `json:"spans"`
	}
	endpointJSON struct {
		ID            int64            `json:"id"`
		Name          string           `json:"name"` // "" when the endpoint has none
		URL           string           `json:"url"`
		Location      string           `json:"location"`
		Checks        int64            `json:"checks"`
		Up            int64            `json:"up"`
		Failed        int64            `json:"failed"`
		UpPercent     *float64         `json:"up_percent"`
		Errors        map[string]int64 `json:"errors"` // by error class, every class listed
		Status        map[string]int64 `json:"status"` // by HTTP status class: 2xx, 3xx, 4xx, 5xx
		RegexFailures int64            `json:"regex_failures"`
		ResponseMS    *responseJSON    `json:"response_ms"`
		Certificate   *certificateJSON `json:"certificate"` // the latest seen; null when none
	}
	certificateJSON struct {
		NotAfter  time.Time `json:"not_after"`
		DaysLeft  int       `json:"days_left"` // whole days until not_after, negative once past
		Expiring  bool      `json:"expiring"`  // expires within 14 days, or has expired
		Issuer    string    `json:"issuer"`
		FirstSeen time.Time `json:"first_seen"`
		LastSeen  time.Time `json:"last_seen"` // to the hour
	}
	responseJSON struct {
		Mean float64 `json:"mean"`
		P50  float64 `json:"p50"`
		P95  float64 `json:"p95"`
		P99  float64 `json:"p99"`
		Max  float64 `json:"max"`
	}
	spansJSON struct {
		Since   time.Time       `json:"since"`
		Count   int             `json:"count"`
		Planned int             `json:"planned"`
		Stored  int             `json:"stored"`
		Ranges  []spanRangeJSON `json:"ranges"` // the spans that differ from plan as ranges, oldest first
	}
	spanRangeJSON struct {
		First   time.Time `json:"first"` // the first span's start
		Last    time.Time `json:"last"`  // the last span's start
		Status  string    `json:"status"`
		Spans   int       `json:"spans"`
		Shards  int       `json:"shards"`
		Planned int       `json:"planned"`
		Stored  int       `json:"stored"`
	}
)

func jsonReport(rep store.Report, since time.Time, spans []store.SpanCount, now time.Time) reportJSON {
	out := reportJSON{Level: rep.Level, From: rep.From.UTC(), Endpoints: []endpointJSON{},
		Spans: spansJSON{Since: since.UTC(), Count: len(spans), Ranges: []spanRangeJSON{}}}
	if !rep.Through.IsZero() {
		t := rep.Through.UTC()
		out.Through = &t
	}
	for _, r := range rep.Endpoints {
		e := endpointJSON{ID: r.EndpointID, Name: r.Name, URL: r.URL, Location: r.Location, Checks: r.Checks, Up: r.Up,
			Failed: r.Checks - r.Up, Errors: map[string]int64{}, RegexFailures: r.RegexFailures,
			Status: map[string]int64{"2xx": r.Status2xx, "3xx": r.Status3xx, "4xx": r.Status4xx, "5xx": r.Status5xx}}
		for _, c := range failureCauses(r.Counts) {
			if !strings.HasSuffix(c.name, "xx") {
				e.Errors[c.name] = c.n
			}
		}
		if r.Checks > 0 {
			up := r.UpPercent()
			e.UpPercent = &up
			e.ResponseMS = &responseJSON{Mean: record.MS(r.Mean()), P50: record.MS(r.P50), P95: record.MS(r.P95),
				P99: record.MS(r.P99), Max: record.MS(r.Max)}
		}
		if c := r.Certificate; c != nil {
			e.Certificate = &certificateJSON{NotAfter: c.NotAfter.UTC(), DaysLeft: alert.DaysLeft(c.NotAfter, now),
				Expiring: c.NotAfter.Sub(now) <= certificateWarning, Issuer: c.Issuer,
				FirstSeen: c.FirstSeen.UTC(), LastSeen: c.LastSeen.UTC()}
		}
		out.Endpoints = append(out.Endpoints, e)
	}
	out.Spans.Planned, out.Spans.Stored = spanTotals(spans)
	for _, r := range collapseSpans(spans) {
		out.Spans.Ranges = append(out.Spans.Ranges, spanRangeJSON{First: r.First.UTC(), Last: r.Last.UTC(), Status: r.Status,
			Spans: r.Spans, Shards: r.Shards, Planned: r.Planned, Stored: r.Stored})
	}
	return out
}
