// Package functions_test holds the dependency rules of the Lambda functions
// and the CDK app, checked with `go list -deps`: each function links its own
// handler and not the others', only the probe links the check engine, no
// function links a development-only package, and the CDK app links nothing
// under internal/.
package functions_test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// lambdaEnv and lambdaTags are how the Makefile builds the functions'
// bootstraps: the rules hold for what is shipped.
var (
	lambdaEnv  = []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"}
	lambdaTags = "lambda.norpc"
)

// handlers maps each function (functions/<name>) to its handler package.
var handlers = map[string]string{
	"fanout":  "internal/fanout",
	"probe":   "internal/probe",
	"drain":   "internal/drain",
	"migrate": "internal/migrator",
}

// target is one row of the table: a main package and what it must not link.
type target struct {
	name   string // what failure messages call it
	pkg    string // relative to the module root
	lambda bool   // built as a Lambda bootstrap
	own    string // a package it must link: the rules would hold vacuously otherwise
	forbid []forbidden
}

// forbidden is a package, and every package under it, that a target must
// not link.
type forbidden struct {
	path string // import path
	why  string // the rule, for the failure message
}

func TestDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("skipping the dependency rules: the go command is not on PATH, and they are checked with `go list -deps`")
	}
	root := moduleRoot(t)
	mod := strings.TrimSpace(goCmd(t, goBin, root, nil, "list", "-m"))
	if mod == "" || strings.ContainsAny(mod, " \n") {
		t.Fatalf("go list -m in %s: want one module path, got %q", root, mod)
	}
	in := func(rel string) string { return mod + "/" + rel }

	checkEngine := []forbidden{
		{"github.com/dlclark/regexp2/v2", "the check engine (only the probe runs checks)"},
		{in("internal/regex"), "the check engine (only the probe runs checks)"},
		{in("internal/check"), "the check engine (only the probe runs checks)"},
	}
	devOnly := forbidden{in("internal/dev"), "a development-only package"}

	tests := []target{
		{name: "infra", pkg: "./infra", own: "github.com/aws/aws-cdk-go/awscdk/v2",
			forbid: []forbidden{{in("internal"), "a package under internal/ (the CDK app shares only top-level packages)"}}},
	}
	for _, fn := range slices.Sorted(maps.Keys(handlers)) {
		tc := target{name: "functions/" + fn, pkg: "./functions/" + fn, lambda: true, own: in(handlers[fn])}
		for _, other := range slices.Sorted(maps.Keys(handlers)) {
			if other != fn {
				tc.forbid = append(tc.forbid, forbidden{in(handlers[other]), "another function's handler (" + other + "'s)"})
			}
		}
		if fn != "probe" {
			tc.forbid = append(tc.forbid, checkEngine...)
		}
		tc.forbid = append(tc.forbid, devOnly)
		tests = append(tests, tc)
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, args := []string(nil), []string{"list", "-deps"}
			if tc.lambda {
				env, args = lambdaEnv, append(args, "-tags", lambdaTags)
			}
			args = append(args, "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, tc.pkg)
			g := parseGraph(goCmd(t, goBin, root, env, args...))
			top := in(strings.TrimPrefix(tc.pkg, "./"))
			if _, ok := g[top]; !ok {
				t.Fatalf("%s: go list -deps %s did not list %s itself", tc.name, tc.pkg, top)
			}
			if len(under(g, tc.own)) == 0 {
				t.Fatalf("%s: does not link %s, which it must: the dependency rules would hold vacuously", tc.name, tc.own)
			}

			// One message per rule, naming the target and every offending
			// package with an import chain that pulls it in.
			var rules []string
			bad := map[string][]string{}
			for _, f := range tc.forbid {
				pkgs := under(g, f.path)
				if len(pkgs) == 0 {
					continue
				}
				if _, ok := bad[f.why]; !ok {
					rules = append(rules, f.why)
				}
				bad[f.why] = append(bad[f.why], pkgs...)
			}
			for _, why := range rules {
				var b strings.Builder
				fmt.Fprintf(&b, "%s links %s:", tc.name, why)
				for _, p := range bad[why] {
					fmt.Fprintf(&b, "\n\t%s\n\t\tvia %s", short(mod, p), strings.Join(shortAll(mod, g.chain(top, p)), " -> "))
				}
				t.Error(b.String())
			}
		})
	}
}

// moduleRoot is the module's root directory: the test runs in functions/.
func moduleRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(wd)
	if filepath.Base(wd) != "functions" {
		t.Fatalf("the test runs in %s, want the module's functions/ directory", wd)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod in %s, the parent of functions/: %v", root, err)
	}
	return root
}

// goCmd runs the go command in dir with env added to the environment and
// returns its standard output.
func goCmd(t *testing.T, goBin, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s go %s (in %s): %v\n%s", strings.Join(env, " "), strings.Join(args, " "), dir, err, stderr.String())
	}
	return string(out)
}

// graph maps each listed package to its imports.
type graph map[string][]string

func parseGraph(out string) graph {
	g := graph{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			g[f[0]] = f[1:]
		}
	}
	return g
}

// under lists, sorted, the packages of g that are path or under it.
func under(g graph, path string) []string {
	var pkgs []string
	for p := range g {
		if p == path || strings.HasPrefix(p, path+"/") {
			pkgs = append(pkgs, p)
		}
	}
	slices.Sort(pkgs)
	return pkgs
}

// chain is a shortest import chain from one package to another.
func (g graph) chain(from, to string) []string {
	prev := map[string]string{from: ""}
	for queue := []string{from}; len(queue) > 0; queue = queue[1:] {
		p := queue[0]
		if p == to {
			var c []string
			for ; p != ""; p = prev[p] {
				c = append([]string{p}, c...)
			}
			return c
		}
		for _, imp := range g[p] {
			if _, seen := prev[imp]; !seen {
				prev[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return []string{from, "?", to}
}

// short drops the module path from the module's own packages.
func short(mod, p string) string {
	if rest, ok := strings.CutPrefix(p, mod+"/"); ok {
		return rest
	}
	return p
}

func shortAll(mod string, ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = short(mod, p)
	}
	return out
}
