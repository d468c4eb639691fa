package migrations_test

import (
	"testing"
	"time"

	"github.com/watcher-dev/watcher/migrations"
)

func TestParseDays(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"14d": 14 * migrations.Day, "14": 14 * migrations.Day, "36h": 36 * time.Hour} {
		if got, err := migrations.ParseDays(in); err != nil || got != want {
			t.Errorf("ParseDays(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-3d", "0", "soon", "3w"} {
		if _, err := migrations.ParseDays(in); err == nil {
			t.Errorf("ParseDays(%q) succeeded, want an error", in)
		}
	}
}
