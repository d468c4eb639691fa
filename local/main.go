// Command watcher is Watcher for people: run the fleet locally, invoke one
// function with an event fixture, run one check, migrate, manage endpoints,
// report, and serve the built-in target farm.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/regex"
)

func main() {
	regex.ServeWorkerIfAsked() // this binary is also its own regex worker
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:           "watcher",
		Short:         "Watcher checks many websites on their own schedules and stores every check in PostgreSQL",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		runCmd(), invokeCmd(), checkCmd(), migrateCmd(), endpointsCmd(),
		reportCmd(), maintainCmd(), targetsCmd(), dbCmd(), costCmd(), replayCmd(), benchCmd(),
	)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "watcher:", err)
		return 1
	}
	return 0
}
