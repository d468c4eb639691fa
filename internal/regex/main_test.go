package regex

import (
	"os"
	"testing"
)

// TestMain lets the test binary be the gate's worker, as a main must.
func TestMain(m *testing.M) {
	ServeWorkerIfAsked()
	os.Exit(m.Run())
}
