package check

import (
	"os"
	"testing"

	"github.com/watcher-dev/watcher/internal/regex"
)

// TestMain lets the test binary be the regex worker: the table tests run
// backtracking matches through it.
func TestMain(m *testing.M) {
	regex.ServeWorkerIfAsked()
	os.Exit(m.Run())
}
