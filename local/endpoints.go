package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/endpointfile"
)

func endpointsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "endpoints", Short: "Import and list the monitored endpoints"}
	var replace, force, dryRun bool
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Validate a YAML endpoints file (- for standard input) and import it; nothing is written if any entry is invalid",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var (
				data []byte
				err  error
				name = args[0]
			)
			if name == "-" {
				name = "standard input"
				data, err = io.ReadAll(cmd.InOrStdin())
			} else {
				data, err = os.ReadFile(args[0])
			}
			if err != nil {
				return err
			}
			eps, err := endpointfile.Parse(data, locations())
			if err != nil {
				return failed(fmt.Errorf("%s: %w", name, err))
			}
			if replace && len(eps) == 0 && !force {
				return usage(fmt.Errorf("%s lists no endpoints: --replace would disable every endpoint; add --force to do that", name))
			}
			if dryRun {
				return printImport(cmd.OutOrStdout(), eps, replace)
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
	f := imp.Flags()
	f.BoolVar(&replace, "replace", false, "make the file the complete set: endpoints not in it are disabled (history kept)")
	f.BoolVar(&force, "force", false, "with --replace, accept a file that lists no endpoints (disabling every endpoint)")
	f.BoolVar(&dryRun, "dry-run", false, "validate and print what would be imported; needs no database")

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
				return listJSON(os.Stdout, eps)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tGROUP\tLOCATION\tINTERVAL\tTIMEOUT\tMETHOD\tENABLED\tALERTS\tREGEX\tURL")
			for _, e := range eps {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%t\t%s\t%s\t%s\n", e.ID, e.Group, e.Location, e.Interval, e.Timeout,
					e.Method, e.Enabled, alertsText(e.Alerts), e.Regex, e.URL)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&all, "all", false, "include disabled endpoints")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(imp, list)
	return cmd
}

// printImport prints what an import would write, without a database.
func printImport(w io.Writer, eps []endpoint.Endpoint, replace bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tGROUP\tLOCATION\tINTERVAL\tTIMEOUT\tMETHOD\tENABLED\tALERTS\tREGEX\tURL")
	enabled := 0
	for _, e := range eps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%t\t%s\t%s\t%s\n", e.Name, e.Group, e.Location, e.Interval, e.Timeout,
			e.Method, e.Enabled, alertsText(e.Alerts), e.Regex, e.URL)
		if e.Enabled {
			enabled++
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "valid: %d endpoints (%d enabled); --dry-run, so nothing was imported", len(eps), enabled)
	if replace {
		fmt.Fprint(w, "; --replace would disable every endpoint not in the file")
	}
	_, err := fmt.Fprintln(w)
	return err
}

// alertsText is an endpoint's alert rules in one table cell, with no
// spaces: "down=3,up=2", then ",ratio=0.5/10m0s" and ",cert=14d" when set;
// "" for none.
func alertsText(r *endpoint.AlertRules) string {
	if r == nil {
		return ""
	}
	s := fmt.Sprintf("down=%d,up=%d", r.Failures, r.Successes)
	if r.FailureRatio > 0 {
		s += fmt.Sprintf(",ratio=%g/%s", r.FailureRatio, r.Window)
	}
	if r.CertificateDays > 0 {
		s += fmt.Sprintf(",cert=%dd", r.CertificateDays)
	}
	return s
}

// listedEndpoint is the JSON form of one endpoint in "endpoints list
// --json": the shard payload's form plus "group" and "alerts" (the stored
// form of endpoint.AlertRules), which shard payloads leave out.
type listedEndpoint endpoint.Endpoint

// MarshalJSON adds the group and alert rules to the endpoint's own form.
func (l listedEndpoint) MarshalJSON() ([]byte, error) {
	base, err := json.Marshal(endpoint.Endpoint(l))
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(base, &fields); err != nil {
		return nil, err
	}
	if l.Group != "" {
		if fields["group"], err = json.Marshal(l.Group); err != nil {
			return nil, err
		}
	}
	if l.Alerts != nil {
		if fields["alerts"], err = json.Marshal(l.Alerts); err != nil {
			return nil, err
		}
	}
	return json.Marshal(fields)
}

// listJSON writes endpoints as one JSON array, group and alerts included.
func listJSON(w io.Writer, eps []endpoint.Endpoint) error {
	out := make([]listedEndpoint, len(eps))
	for i, e := range eps {
		out[i] = listedEndpoint(e)
	}
	return json.NewEncoder(w).Encode(out)
}
