package store_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/store"
)

func ep(url string, interval time.Duration) endpoint.Endpoint {
	return endpoint.Endpoint{
		URL: url, Method: "GET", Interval: interval, Timeout: min(interval, 10*time.Second),
		Location: "home", Enabled: true,
	}
}

func TestImportEndpoints(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.New(t))
	ctx := testContext(t)

	full := endpoint.Endpoint{
		Name: "login", URL: "https://example.com/login", Method: "POST",
		Headers:   map[string]string{"Content-Type": "application/json", "X-Trace": "1"},
		Body:      `{"ping":1}`,
		BasicAuth: &endpoint.BasicAuth{Username: "monitor", PasswordEnv: "EXAMPLE_PASSWORD"},
		Regex:     "(?i)welcome", Interval: 30 * time.Second, Timeout: 5 * time.Second,
		Location: "home", Enabled: true,
	}
	secret := ep("https://intranet.example/health", 5*time.Second)
	secret.Location = "vpc"
	secret.BasicAuth = &endpoint.BasicAuth{Username: "svc", PasswordSecret: "arn:aws:secretsmanager:eu-west-1:1:secret:x"}
	a, b := ep("https://a.example/", time.Minute), ep("https://b.example/", 300*time.Second)
	slower := a
	slower.Interval = 2 * time.Minute
	bad := ep("https://bad.example/", 5*time.Second)
	bad.Timeout = 10 * time.Second // above the interval: the database refuses it
	newcomer := ep("https://new.example/", time.Minute)

	steps := []struct {
		name        string
		eps         []endpoint.Endpoint
		replace     bool
		want        store.ImportResult
		wantErr     error // errors.Is target
		wantAnyErr  bool  // some error, of no particular kind
		wantEnabled []endpoint.Endpoint
		wantAll     int
	}{
		{
			name: "first import inserts", eps: []endpoint.Endpoint{full, secret, a, b},
			want:        store.ImportResult{Inserted: 4},
			wantEnabled: []endpoint.Endpoint{full, secret, a, b}, wantAll: 4,
		},
		{
			name: "same file again changes nothing", eps: []endpoint.Endpoint{full, secret, a, b},
			want:        store.ImportResult{Unchanged: 4},
			wantEnabled: []endpoint.Endpoint{full, secret, a, b}, wantAll: 4,
		},
		{
			name: "a new interval updates in place", eps: []endpoint.Endpoint{slower, b},
			want:        store.ImportResult{Updated: 1, Unchanged: 1},
			wantEnabled: []endpoint.Endpoint{full, secret, slower, b}, wantAll: 4,
		},
		{
			name: "one bad endpoint writes nothing", eps: []endpoint.Endpoint{newcomer, bad}, replace: true,
			wantAnyErr:  true,
			wantEnabled: []endpoint.Endpoint{full, secret, slower, b}, wantAll: 4,
		},
		{
			name: "duplicate keys write nothing", eps: []endpoint.Endpoint{newcomer, newcomer},
			wantErr:     store.ErrDuplicateKey,
			wantEnabled: []endpoint.Endpoint{full, secret, slower, b}, wantAll: 4,
		},
		{
			name: "replace disables the missing and keeps them", eps: []endpoint.Endpoint{full, b, newcomer}, replace: true,
			want:        store.ImportResult{Inserted: 1, Unchanged: 2, Disabled: 2},
			wantEnabled: []endpoint.Endpoint{full, b, newcomer}, wantAll: 5,
		},
		{
			name: "re-importing a disabled endpoint enables it", eps: []endpoint.Endpoint{secret},
			want:        store.ImportResult{Updated: 1},
			wantEnabled: []endpoint.Endpoint{full, secret, b, newcomer}, wantAll: 5,
		},
		{
			name: "an empty replacing import disables all", eps: nil, replace: true,
			want:    store.ImportResult{Disabled: 4},
			wantAll: 5,
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got, err := s.ImportEndpoints(ctx, st.eps, st.replace)
			switch {
			case st.wantAnyErr && err == nil:
				t.Fatal("ImportEndpoints error = nil, want an error")
			case st.wantErr != nil && !errors.Is(err, st.wantErr):
				t.Fatalf("ImportEndpoints error = %v, want %v", err, st.wantErr)
			case st.wantErr == nil && !st.wantAnyErr && err != nil:
				t.Fatal(err)
			case got != st.want:
				t.Errorf("ImportEndpoints = %+v, want %+v", got, st.want)
			}

			enabled, err := s.Endpoints(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			if !sameEndpoints(enabled, st.wantEnabled) {
				t.Errorf("enabled endpoints:\n got %+v\nwant %+v", enabled, st.wantEnabled)
			}
			all, err := s.Endpoints(ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != st.wantAll {
				t.Errorf("%d endpoints in all, want %d", len(all), st.wantAll)
			}
			for _, e := range all {
				if e.ID == 0 {
					t.Errorf("endpoint %s has no ID", e.URL)
				}
			}
		})
	}
}

// sameEndpoints compares as sets by key, ignoring IDs.
func sameEndpoints(got, want []endpoint.Endpoint) bool {
	if len(got) != len(want) {
		return false
	}
	byKey := map[string]endpoint.Endpoint{}
	for _, e := range want {
		byKey[e.Key()] = e
	}
	for _, e := range got {
		w, ok := byKey[e.Key()]
		e.ID = 0
		if !ok || !reflect.DeepEqual(e, w) {
			return false
		}
	}
	return true
}

// TestImportEndpointsGroupAndAlerts: the group and the alert rules are
// stored and read back as imported, and changing either (rules added,
// changed or removed) updates the endpoint in place.
func TestImportEndpointsGroupAndAlerts(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.New(t))
	ctx := testContext(t)

	shop := ep("https://shop.example/", 30*time.Second)
	shop.Name, shop.Group = "shop", "Storefront"
	shop.Alerts = &endpoint.AlertRules{Failures: 4, FailureRatio: 0.25, Window: 10 * time.Minute, Successes: 3, CertificateDays: 14}
	plain := ep("https://plain.example/", time.Minute)
	plain.Alerts = &endpoint.AlertRules{Failures: endpoint.DefaultAlertFailures, Successes: endpoint.DefaultAlertSuccesses}
	quiet := ep("https://quiet.example/", time.Minute) // no group, no alerts

	regrouped := shop
	regrouped.Group = "Shop"
	loosened := plain
	loosened.Alerts = &endpoint.AlertRules{Failures: 5, Successes: endpoint.DefaultAlertSuccesses}
	silenced := shop
	silenced.Alerts = nil

	steps := []struct {
		name string
		eps  []endpoint.Endpoint
		want store.ImportResult
	}{
		{"first import", []endpoint.Endpoint{shop, plain, quiet}, store.ImportResult{Inserted: 3}},
		{"same again", []endpoint.Endpoint{shop, plain, quiet}, store.ImportResult{Unchanged: 3}},
		{"new group and rules", []endpoint.Endpoint{regrouped, loosened, quiet}, store.ImportResult{Updated: 2, Unchanged: 1}},
		{"rules removed", []endpoint.Endpoint{silenced, loosened, quiet}, store.ImportResult{Updated: 1, Unchanged: 2}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			got, err := s.ImportEndpoints(ctx, st.eps, true)
			if err != nil {
				t.Fatal(err)
			}
			if got != st.want {
				t.Errorf("ImportEndpoints = %+v, want %+v", got, st.want)
			}
			read, err := s.Endpoints(ctx, true)
			if err != nil {
				t.Fatal(err)
			}
			if !sameEndpoints(read, st.eps) {
				t.Errorf("endpoints:\n got %+v\nwant %+v", read, st.eps)
			}
		})
	}
}
