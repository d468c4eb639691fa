package main

import (
	"testing"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
