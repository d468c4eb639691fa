package config

import (
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/cost"
)

func TestLoadPricing(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Pricing
		wantErr []string
	}{
		{"defaults: the table's price, the architecture decided at wiring, checks kept the default raw retention",
			map[string]string{}, Pricing{StorageKept: 7 * 24 * time.Hour}, nil},
		{"overrides", map[string]string{
			"WATCHER_ARCH": "x86_64", "WATCHER_PRICE_GB_SECOND": "0.0000166667", "WATCHER_PRICE_REQUEST": "0.0000002",
			"WATCHER_RETENTION_RAW": "30d",
		}, Pricing{Arch: cost.X86, Price: cost.Price{GBSecond: 0.0000166667, Request: 0.0000002}, StorageKept: 30 * 24 * time.Hour}, nil},
		{"every problem named", map[string]string{
			"WATCHER_ARCH": "sparc", "WATCHER_PRICE_GB_SECOND": "cheap", "WATCHER_PRICE_REQUEST": "0.20", "WATCHER_RETENTION_RAW": "two weeks",
		}, Pricing{}, []string{`WATCHER_ARCH: "sparc"`, "WATCHER_PRICE_GB_SECOND", "WATCHER_PRICE_REQUEST: 0.2 is outside", "WATCHER_RETENTION_RAW"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _ := envOf(tt.env)
			got, err := LoadPricing(env)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	// The functions read the same variables and accept them as known.
	env, environ := envOf(map[string]string{"DATABASE_URL": "x", "WATCHER_LOCATION": "home", "WATCHER_ARCH": "arm64", "WATCHER_PRICE_FIXED": "nat=32"})
	c, err := LoadProbe(env, environ)
	if err != nil || c.Pricing.Arch != cost.ARM64 {
		t.Errorf("probe: %+v, %v", c.Pricing, err)
	}
}
