// Command watcher is Watcher for people: run the fleet locally, invoke one
// function with an event fixture, run one check, migrate, manage endpoints,
// report, and serve the built-in target farm.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("watcher {{.Version}}\n")
	root.AddCommand(
		runCmd(), invokeCmd(), checkCmd(), migrateCmd(), endpointsCmd(),
		reportCmd(), maintainCmd(), targetsCmd(), dbCmd(), costCmd(), replayCmd(), benchCmd(), alertsCmd(), statusCmd(),
	)
	groups(root)
	slog.SetDefault(logger(slog.LevelInfo)) // one log format for every command (run and invoke set their own level)
	exitCodes(root)                         // env.go: exitFailed, exitUsage, exitError
	cmd, err := root.ExecuteContextC(ctx)
	code := exitCode(err)
	if code != 0 {
		fmt.Fprintln(os.Stderr, "watcher:", err)
	}
	if code == exitUsage {
		fmt.Fprintf(os.Stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

// groups makes the commands under c that only group others refuse an
// unknown subcommand (cobra would print their help and exit 0).
func groups(c *cobra.Command) {
	if c.RunE == nil && c.Run == nil && c.HasSubCommands() && c.HasParent() {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usage(fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath()))
			}
			return cmd.Help()
		}
	}
	for _, sub := range c.Commands() {
		groups(sub)
	}
}

// version says which build this is: the module version (or "(devel)"),
// the VCS revision and time when the build recorded them, and the Go version:
// "(devel), revision 6194358d1a2b of 2025-06-01T10:00:00Z, modified, go1.26.8 linux/amd64".
func version() string {
	parts := []string{"(devel)"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			parts[0] = bi.Main.Version
		}
		vcs := map[string]string{}
		for _, s := range bi.Settings {
			vcs[s.Key] = s.Value
		}
		if rev := vcs["vcs.revision"]; rev != "" {
			parts = append(parts, "revision "+rev[:min(12, len(rev))]+" of "+vcs["vcs.time"])
		}
		if vcs["vcs.modified"] == "true" {
			parts = append(parts, "modified")
		}
	}
	parts = append(parts, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH)
	return strings.Join(parts, ", ")
}

// checkFlag makes flag name refuse, as it is parsed, a value for which bad
// returns a reason: the error names the flag, and the command exits with
// exitUsage as for any bad flag value.
func checkFlag(f *pflag.FlagSet, name string, bad func() string) {
	fl := f.Lookup(name)
	fl.Value = checkedValue{fl.Value, bad}
}

type checkedValue struct {
	pflag.Value
	bad func() string
}

func (v checkedValue) Set(s string) error {
	if err := v.Value.Set(s); err != nil {
		return err
	}
	if reason := v.bad(); reason != "" {
		return errors.New(reason)
	}
	return nil
}

// nonNegative makes flag name, stored in v, refuse negative values.
func nonNegative[T cmp.Ordered](f *pflag.FlagSet, name string, v *T) {
	var zero T
	checkFlag(f, name, func() string {
		if cmp.Compare(*v, zero) < 0 { // NaN too
			return "must not be negative"
		}
		return ""
	})
}

// positive makes flag name, stored in v, refuse zero and negative values.
func positive[T cmp.Ordered](f *pflag.FlagSet, name string, v *T) {
	var zero T
	checkFlag(f, name, func() string {
		if cmp.Compare(*v, zero) <= 0 { // NaN too
			return "must be positive"
		}
		return ""
	})
}

// positiveEach makes a list flag, stored in v, refuse zero and negative
// elements.
func positiveEach(f *pflag.FlagSet, name string, v *[]int) {
	checkFlag(f, name, func() string {
		for _, n := range *v {
			if n <= 0 {
				return fmt.Sprintf("%d: must be positive", n)
			}
		}
		return ""
	})
}
