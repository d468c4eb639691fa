// Command infra is Watcher's AWS CDK app: the home stack (database, RDS
// Proxy, fanout, home probe, record queue and drain, migrations) in the home
// region, and one probe stack per extra region and per intranet location.
// cdk.json at the repository root runs it; DEPLOY.md says how.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

func main() {
	app := awscdk.NewApp(nil)
	_, err := synthesize(app)
	jsii.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// fleet is what build made, for tests.
type fleet struct {
	Config Config
	Home   *homeStack
	Probes []*probeStack // in Config.Locations order, home excluded
}

// build reads the configuration from app's context and adds every stack,
// with the cdk-nag AwsSolutions checks applied at synth.
func build(app awscdk.App) (*fleet, error) {
	ctx, _ := unwrapJSII(app.Node().GetAllContext(nil)).(map[string]any)
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return nil, err
	}
	f := &fleet{Config: cfg}
	for _, loc := range cfg.Locations() {
		if loc.Name == HomeLocation {
			continue
		}
		f.Probes = append(f.Probes, newProbeStack(app, &cfg, loc))
	}
	f.Home = newHomeStack(app, &cfg)
	// Probe stacks first: once the home stack exists its schedule starts
	// invoking them. Their checks need the home stack's queue, which then
	// exists before the first probe runs.
	for _, p := range f.Probes {
		f.Home.Stack.AddStackDependency(p.Stack, jsii.String("the fanout invokes this probe"))
	}
	awscdk.Tags_Of(app).Add(jsii.String("project"), jsii.String("watcher"), nil)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return f, nil
}

// synthesize builds and synthesizes app, and fails on any error annotation,
// cdk-nag findings included, as `cdk synth` would: run directly (make
// synth), the app is its own gate. It returns the cloud assembly directory.
func synthesize(app awscdk.App) (string, error) {
	if _, err := build(app); err != nil {
		return "", err
	}
	dir := *app.Synth(nil).Directory()
	msgs, err := assemblyMessages(dir)
	if err != nil {
		return dir, err
	}
	var errs []string
	for _, m := range msgs {
		if m.Level == "error" {
			errs = append(errs, m.String())
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return dir, fmt.Errorf("synth found %d errors:\n%s", len(errs), strings.Join(errs, "\n"))
	}
	return dir, nil
}

// message is one annotation of a synthesized stack.
type message struct {
	Stack, Path, Level string
	Data               any
}

func (m message) String() string { return fmt.Sprintf("%s%s: %v", m.Stack, m.Path, m.Data) }

// assemblyMessages reads the annotations of every stack in the cloud
// assembly at dir from its manifest and metadata files, as the CDK CLI does.
func assemblyMessages(dir string) ([]message, error) {
	type entry struct {
		Type string `json:"type"`
		Data any    `json:"data"`
	}
	var manifest struct {
		Artifacts map[string]struct {
			Type                   string             `json:"type"`
			DisplayName            string             `json:"displayName"`
			Metadata               map[string][]entry `json:"metadata"`
			AdditionalMetadataFile string             `json:"additionalMetadataFile"`
		} `json:"artifacts"`
	}
	if err := readJSON(filepath.Join(dir, "manifest.json"), &manifest); err != nil {
		return nil, err
	}
	var out []message
	for id, a := range manifest.Artifacts {
		if a.Type != "aws:cloudformation:stack" {
			continue
		}
		md := a.Metadata
		if a.AdditionalMetadataFile != "" {
			if err := readJSON(filepath.Join(dir, a.AdditionalMetadataFile), &md); err != nil {
				return nil, err
			}
		}
		for path, entries := range md {
			for _, e := range entries {
				if level, ok := strings.CutPrefix(e.Type, "aws:cdk:"); ok && (level == "error" || level == "warning" || level == "info") {
					out = append(out, message{Stack: id, Path: path, Level: level, Data: e.Data})
				}
			}
		}
	}
	return out, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read cloud assembly: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("read cloud assembly %s: %w", filepath.Base(path), err)
	}
	return nil
}

// unwrapJSII turns maps that came back through the jsii runtime as
// {"$jsii.map": {...}} (context set from Go rather than from the CLI) into
// plain maps.
func unwrapJSII(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if inner, ok := x["$jsii.map"]; ok && len(x) == 1 {
			return unwrapJSII(inner)
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = unwrapJSII(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = unwrapJSII(e)
		}
		return out
	}
	return v
}
