package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/spool"
)

func replayCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Write spooled checks and records (those the fleet could not write before an invocation ended) to DATABASE_URL",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := spool.Open(dir)
			if err != nil {
				return err
			}
			st, err := openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			r, err := d.Replay(cmd.Context(), st)
			fmt.Printf("replayed %d checks (%d new rows), %d invocation records and %d span claims from %d files\n",
				r.Checks, r.Inserted, r.Invocations, r.Spans, r.Files)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "spool", ".watcher/spool", "spool directory")
	return cmd
}
