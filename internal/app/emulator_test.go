package app

import (
	"context"
	"testing"

	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/dev/moto"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
)

// The emulator dies with the test binary; pgtest.Main stops the database.
func TestMain(m *testing.M) { pgtest.Main(m) }

// TestOpenStoreSecretFromAnotherRegion: a function outside the home region
// (an intranet probe in a region of its own) opens the database with the
// password of the home region's secret, named by its ARN, through the AWS
// configuration of its own region, as functions do. (The test cluster trusts
// local connections, so any password logs in; an unreadable secret fails
// the connection.)
func TestOpenStoreSecretFromAnotherRegion(t *testing.T) {
	ctx := context.Background()
	arn := moto.CreateSecret(t, "eu-west-1", moto.Name(t, "db"), `{"username":"postgres","password":"pw-home"}`)
	st, err := OpenStore(ctx, moto.Config(t, "us-east-1"), config.Common{DatabaseURL: pgtest.New(t),
		DatabasePasswordSecretARN: arn})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Ping(ctx); err != nil {
		t.Errorf("Ping with the home region's secret from us-east-1: %v", err)
	}
}
