package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/watcher-dev/watcher/internal/status"
)

func statusCmd() *cobra.Command {
	var out, title string
	cmd := &cobra.Command{
		Use:   "status --out DIR",
		Short: "Write the static status page: index.html and an SVG per endpoint, by group",
		Long: `Write the status page into DIR (created if missing): index.html, with no script, and
one SVG per enabled endpoint (endpoint-ID.svg). Endpoints appear under their group
(the endpoints file's "group"), those without one last. Each shows its state (Down
while an alert is open, or for endpoints without alert rules when its latest check
failed; No data without a check in the last three intervals), its uptime over 24
hours, 7, 30 and 90 days, bars of its uptime per UTC day over 90 days and a line
of its response time per hour over 24 hours.

The rollups are brought up to date first (needs the database owner's rights). Each
file is replaced whole (written aside, then renamed); the SVGs of endpoints no
longer listed are removed, and nothing else in DIR is touched. Run it from cron, or
let the migrate function publish it to S3 in AWS.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usage(errors.New("--out is required: the directory to write the page into"))
			}
			st, err := openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			sink, err := status.NewDir(out)
			if err != nil {
				return err
			}
			if err := status.Publish(cmd.Context(), st, sink, time.Now(), status.Options{Title: title}); err != nil {
				return err
			}
			fmt.Printf("status page written to %s\n", filepath.Join(out, status.IndexFile))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "directory to write index.html and the SVGs into (created if missing)")
	f.StringVar(&title, "title", status.DefaultTitle, "the page's title and heading")
	return cmd
}
