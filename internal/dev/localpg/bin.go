package localpg

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNotInstalled reports that the PostgreSQL server or pgbouncer binaries
// are missing. Its message says which package to install.
var ErrNotInstalled = errors.New("not installed")

// debianRoot is where Debian and Ubuntu install one directory per major
// version, off PATH.
const debianRoot = "/usr/lib/postgresql"

// serverBinaries are the programs a cluster needs, from one installation.
var serverBinaries = []string{"initdb", "pg_ctl", "postgres"}

// findServer returns the directory holding initdb, pg_ctl and postgres:
// the one of initdb on PATH (following symlinks, so a link farm such as
// /usr/local/bin still yields one coherent installation), otherwise the
// newest major version under root.
func findServer(lookPath func(string) (string, error), root string) (string, error) {
	if p, err := lookPath("initdb"); err == nil {
		candidates := []string{filepath.Dir(p)}
		if real, err := filepath.EvalSymlinks(p); err == nil {
			candidates = append([]string{filepath.Dir(real)}, candidates...)
		}
		for _, dir := range candidates {
			if hasAll(dir, serverBinaries) {
				return dir, nil
			}
		}
	}
	entries, _ := os.ReadDir(root)
	var versions []string
	for _, e := range entries {
		if hasAll(filepath.Join(root, e.Name(), "bin"), serverBinaries) {
			versions = append(versions, e.Name())
		}
	}
	if len(versions) == 0 {
		return "", fmt.Errorf("PostgreSQL server (initdb, pg_ctl, postgres) not found on PATH or in %s/*/bin: %w; "+
			"install Debian's postgresql package: apt-get install postgresql", root, ErrNotInstalled)
	}
	slices.SortFunc(versions, compareVersions)
	return filepath.Join(root, versions[len(versions)-1], "bin"), nil
}

// findBouncer returns the path of pgbouncer: on PATH, else where Debian puts it.
func findBouncer(lookPath func(string) (string, error), fallback string) (string, error) {
	if p, err := lookPath("pgbouncer"); err == nil {
		return p, nil
	}
	if isExecutable(fallback) {
		return fallback, nil
	}
	return "", fmt.Errorf("pgbouncer not found on PATH or at %s: %w; install it: apt-get install pgbouncer",
		fallback, ErrNotInstalled)
}

func hasAll(dir string, names []string) bool {
	for _, n := range names {
		if !isExecutable(filepath.Join(dir, n)) {
			return false
		}
	}
	return true
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// compareVersions orders "9.6" < "13" < "15.2" numerically, part by part;
// names that are not numbers sort first.
func compareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		x, y := -1, -1
		if i < len(pa) {
			if n, err := strconv.Atoi(pa[i]); err == nil {
				x = n
			}
		}
		if i < len(pb) {
			if n, err := strconv.Atoi(pb[i]); err == nil {
				y = n
			}
		}
		if x != y {
			return x - y
		}
	}
	return strings.Compare(a, b)
}

// HasLibrary reports whether the server installation found as Start finds
// it has the shared library name (timescaledb, pg_cron) in its lib dir.
func HasLibrary(name string) bool {
	bin, err := findServer(exec.LookPath, debianRoot)
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(filepath.Dir(bin), "lib", name+".so"))
	return err == nil
}
