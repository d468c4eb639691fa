package main

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/check"
	"github.com/watcher-dev/watcher/internal/dev/certtest"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

func TestReportCertificatesTable(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cert := func(notAfter time.Time, issuer string) *store.Certificate {
		return &store.Certificate{NotAfter: notAfter, Issuer: issuer, FirstSeen: now.Add(-time.Hour), LastSeen: now}
	}
	rep := store.Report{Endpoints: []store.EndpointReport{
		{Name: "fine", Location: "home", Certificate: cert(now.AddDate(0, 0, 40), "R11")},
		{Name: "soon", Location: "home", Certificate: cert(now.AddDate(0, 0, 10).Add(time.Hour), "Watcher Test CA")},
		{Name: "gone", Location: "vpc", Certificate: cert(now.AddDate(0, 0, -2), "Old CA")},
		{Name: "plain", Location: "home"},
	}}
	var out bytes.Buffer
	if err := writeCertificates(&out, rep, now); err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = strings.Join(f, " ")
		}
	}
	local := func(d time.Time) string { return d.Local().Format(time.DateTime) }
	for name, want := range map[string]string{
		"NAME": "NAME LOCATION EXPIRES DAYS LEFT ISSUER",
		"fine": "fine home " + local(now.AddDate(0, 0, 40)) + " 40 R11",
		"soon": "soon home " + local(now.AddDate(0, 0, 10).Add(time.Hour)) + " 10 Watcher Test CA ! expires within 14 days",
		"gone": "gone vpc " + local(now.AddDate(0, 0, -2)) + " -2 Old CA ! expired",
	} {
		if rows[name] != want {
			t.Errorf("row %q\nwant %q", rows[name], want)
		}
	}
	if _, ok := rows["plain"]; ok {
		t.Error("an endpoint without a certificate is listed")
	}

	out.Reset()
	if err := writeCertificates(&out, store.Report{Endpoints: []store.EndpointReport{{Name: "plain"}}}, now); err != nil || out.Len() != 0 {
		t.Errorf("without certificates: %q, %v; want nothing written", out.String(), err)
	}
}

// TestReportCommandCertificates checks an HTTPS server whose certificate,
// made by the test, expires in ten days, stores the check, and expects
// `watcher report` to show the certificate, flagged, in text and JSON.
func TestReportCommandCertificates(t *testing.T) {
	ctx := context.Background()
	u := pgtest.New(t)
	t.Setenv("DATABASE_URL", u)
	st, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ca := certtest.NewCA(t, pkix.Name{CommonName: "Watcher Test CA"})
	notAfter := time.Now().Add(10*24*time.Hour + time.Hour).UTC().Truncate(time.Second)
	srv := ca.Server(t, notAfter, false, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	eps := []endpoint.Endpoint{{Name: "secure", URL: srv.URL, Method: "GET", Interval: time.Minute, Timeout: 5 * time.Second,
		Location: "home", Enabled: true}}
	if _, err := st.ImportEndpoints(ctx, eps, false); err != nil {
		t.Fatal(err)
	}
	if eps, err = st.Endpoints(ctx, false); err != nil {
		t.Fatal(err)
	}
	res := check.New(check.Options{Policy: check.Policy{AllowLoopback: true}, RootCAs: ca.Pool}).
		Run(ctx, &check.Request{URL: srv.URL})
	if res.Error != "" {
		t.Fatalf("check: %s: %s", res.Error, res.ErrorDetail)
	}
	at := time.Now().UTC().Truncate(time.Minute)
	if _, err := st.WriteChecks(ctx, []record.Check{{EndpointID: eps[0].ID, Location: "home", PlannedAt: at, Result: res}}); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) string {
		t.Helper()
		output := captureOutput(t)
		cmd := reportCmd()
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(ctx)
		out := output()
		if err != nil {
			t.Fatalf("report %v: %v\n%s", args, err, out)
		}
		return out
	}
	var rep reportJSON
	if err := json.Unmarshal([]byte(run("--json")), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Endpoints) != 1 || rep.Endpoints[0].Certificate == nil {
		t.Fatalf("report --json: %+v, want one endpoint with its certificate", rep.Endpoints)
	}
	if c := rep.Endpoints[0].Certificate; !c.NotAfter.Equal(notAfter) || c.DaysLeft != 10 || !c.Expiring || c.Issuer != "Watcher Test CA" {
		t.Errorf("certificate %+v, want %v, 10 days left, expiring, by Watcher Test CA", c, notAfter)
	}
	text := run()
	_, certs, ok := strings.Cut(text, "\nCertificates")
	want := "secure home " + notAfter.Local().Format(time.DateTime) + " 10 Watcher Test CA ! expires within 14 days"
	if !ok || !strings.Contains(strings.Join(strings.Fields(certs), " "), want) {
		t.Errorf("report text lacks the certificate %q:\n%s", want, text)
	}
}
