package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/endpointfile"
)

func endpointsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "endpoints", Short: "Import and list the monitored endpoints"}
	var replace bool
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Validate a YAML endpoints file and import it; nothing is written if any entry is invalid",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			eps, err := endpointfile.Parse(data, locations())
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			st, err := openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := st.ImportEndpoints(cmd.Context(), eps, replace)
			if err != nil {
				return err
			}
			fmt.Printf("imported %d endpoints: %d new, %d updated, %d unchanged, %d disabled\n",
				len(eps), res.Inserted, res.Updated, res.Unchanged, res.Disabled)
			return nil
		},
	}
	imp.Flags().BoolVar(&replace, "replace", false, "make the file the complete set: endpoints not in it are disabled (history kept)")

	var all, asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "Show the configured endpoints",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			eps, err := st.Endpoints(cmd.Context(), !all)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(os.Stdout).Encode(eps)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tLOCATION\tINTERVAL\tTIMEOUT\tMETHOD\tENABLED\tREGEX\tURL")
			for _, e := range eps {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%t\t%s\t%s\n", e.ID, e.Location, e.Interval, e.Timeout, e.Method, e.Enabled, e.Regex, e.URL)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&all, "all", false, "include disabled endpoints")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(imp, list)
	return cmd
}
