package main

import (
	"testing"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/regex"
)

func TestMain(m *testing.M) {
	regex.ServeWorkerIfAsked()
	pgtest.Main(m)
}
