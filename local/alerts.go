package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/spf13/cobra"

	"github.com/watcher-dev/watcher/internal/addrpolicy"
	"github.com/watcher-dev/watcher/internal/app"
	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/fanout"
	"github.com/watcher-dev/watcher/internal/notify"
	"github.com/watcher-dev/watcher/internal/store"
)

// alertConfig is where the local fleet's alert notifications go: the
// WATCHER_ALERT_* variables (internal/notify), and the AWS configuration
// when they name AWS (an SNS topic, a webhook secret in Secrets Manager).
type alertConfig struct {
	notify notify.Config
	aws    aws.Config
}

// loadAlertConfig reads the WATCHER_ALERT_* variables as the fanout does.
func loadAlertConfig(env config.Env) (alertConfig, error) {
	var c alertConfig
	getenv := func(name string) string { v, _ := env(name); return v }
	ctx := context.Background()
	var sm *secretsmanager.Client
	if getenv(notify.EnvSNSTopicARN) != "" || getenv(notify.EnvWebhookSecretARN) != "" {
		var err error
		if c.aws, err = app.AWS(ctx); err != nil {
			return c, fmt.Errorf("alert notifications: AWS configuration: %w", err)
		}
		sm = secretsmanager.NewFromConfig(c.aws)
	}
	var err error
	c.notify, err = notify.LoadConfig(ctx, getenv, sm)
	return c, err
}

// alerting is the local fleet's alerting: alerts evaluated by every
// fanout, notifications sent where the variables say, the webhook under the
// local probes' address policy (loopback and private addresses allowed).
func (c localConfig) alerting(st *store.Store) *fanout.Alerting {
	policy := addrpolicy.Policy{AllowLoopback: c.probe.AllowLoopback, AllowPrivate: c.probe.AllowPrivate}
	return &fanout.Alerting{Store: st, Channels: c.alerts.notify.Channels(),
		Senders: c.alerts.notify.Senders(policy, c.alerts.aws)}
}

func alertsCmd() *cobra.Command {
	var (
		openOnly bool
		since    time.Duration
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "List alerts: open ones and those of the last day, with their state and whether people were told",
		Long: `List the alerts the fleet recorded (the fanout evaluates the alert rules every minute,
locally inside "watcher run"), the latest opened first: every open alert, and those opened
or resolved within --since.

KIND is "down" (failed checks) or "certificate" (the leaf certificate expires soon).
OPENED and RESOLVED are the planned instants of the checks that caused them. NOTIFIED says
whether every channel's notification of the alert's last transition was sent: "yes",
"pending" with the count unsent and the last error (each is retried with backoff until its
receiver takes it), or "-" when no channel was configured.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			as, err := st.Alerts(cmd.Context(), openOnly, time.Now().Add(-since))
			if err != nil {
				return err
			}
			return writeAlerts(os.Stdout, as, asJSON)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&openOnly, "open", false, "only the alerts still open")
	daysVar(f, &since, "since", 24*time.Hour, "also the alerts opened or resolved this long ago or later (1h, 30d)")
	f.BoolVar(&asJSON, "json", false, "print the alerts as one JSON array")
	return cmd
}

// writeAlerts writes alerts as a table, or as JSON (store.AlertRow's
// fields, an empty array when there are none).
func writeAlerts(w io.Writer, as []store.AlertRow, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if as == nil {
			as = []store.AlertRow{}
		}
		return enc.Encode(as)
	}
	if len(as) == 0 {
		_, err := fmt.Fprintln(w, "no alerts")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tKIND\tNAME\tLOCATION\tOPENED\tRESOLVED\tNOTIFIED\tDETAIL")
	for i := range as {
		a := &as[i]
		state, resolved, detail, notified := "open", "-", a.Detail, a.NotifiedAt
		if !a.Open() {
			state, resolved, detail, notified = "resolved", a.ResolvedAt.Local().Format(time.DateTime), a.ResolveDetail, a.ResolvedNotifiedAt
		}
		told := "-"
		switch {
		case a.Unsent > 0 && a.LastError != "":
			told = fmt.Sprintf("pending (%d unsent; %s)", a.Unsent, a.LastError)
		case a.Unsent > 0:
			told = fmt.Sprintf("pending (%d unsent)", a.Unsent)
		case notified != nil:
			told = "yes"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, state, a.Kind, cmp.Or(a.Name, a.URL), a.Location,
			a.OpenedAt.Local().Format(time.DateTime), resolved, told, detail)
	}
	return tw.Flush()
}
