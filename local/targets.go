package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/dev/targets"
)

func targetsCmd() *cobra.Command {
	var (
		addr  string
		demoN int
	)
	cmd := &cobra.Command{
		Use:   "targets",
		Short: "Serve the built-in target farm (many URLs; delay, status and body size fixable per path)",
		Long: `Serve the built-in target farm until interrupted.

Any path such as /site/42 answers by its hash: one in ten 500, one in ten 404, the rest 200
"You are always welcome!"; one in five after 1 s, the others after 10 ms. Query parameters
fix a reply: ?delay=100ms&status=200&size=2048. Hostile modes for tests: /hang/, /drip/,
/endless/, /huge-headers/, /slow-headers/, /redirect/N/, /redirect-loop/, /backtrack/, /echo/.

--demo-yaml N prints N demo endpoints against the farm's address instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if demoN > 0 {
				_, err := os.Stdout.Write(targets.DemoEndpoints("http://"+addr, demoN, 1))
				return err
			}
			srv, err := targets.Start(cmd.Context(), addr, targets.Options{})
			if err != nil {
				return err
			}
			fmt.Printf("target farm serving on %s (Ctrl-C to stop)\n", srv.URL())
			select {
			case <-cmd.Context().Done():
			case <-srv.Done():
			}
			return srv.Close()
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8089", "listen address")
	cmd.Flags().IntVar(&demoN, "demo-yaml", 0, "print this many demo endpoints (YAML) against --addr and exit")
	nonNegative(cmd.Flags(), "demo-yaml", &demoN)
	return cmd
}
