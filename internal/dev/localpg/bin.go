package localpg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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

// serverFor returns bin, or when the cluster in data was made by another
// major version than bin's, that version's installation under root (Debian
// keeps older majors installed beside the new). Without either it says what
// to do. A data directory without a cluster yet takes bin.
func serverFor(ctx context.Context, data, bin, root string) (string, error) {
	made, err := os.ReadFile(filepath.Join(data, "PG_VERSION"))
	if errors.Is(err, fs.ErrNotExist) {
		return bin, nil
	}
	if err != nil {
		return "", err
	}
	want := strings.TrimSpace(string(made))
	have, err := majorVersion(ctx, bin)
	if err != nil || have == want {
		return bin, err
	}
	if alt := filepath.Join(root, want, "bin"); root != "" && hasAll(alt, serverBinaries) {
		return alt, nil
	}
	dir := filepath.Dir(data)
	return "", fmt.Errorf("the cluster in %s was made by PostgreSQL %s, but the installed server (%s) is PostgreSQL %s: "+
		"install PostgreSQL %s beside it (Debian: apt-get install postgresql-%s), upgrade the cluster with pg_upgrade, "+
		"or remove %s to start afresh (its data is lost)", dir, want, bin, have, want, want, dir)
}

// majorVersion asks the postgres binary in bin for its major version as
// PG_VERSION writes it: "16", or "9.6" before PostgreSQL 10.
func majorVersion(ctx context.Context, bin string) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(bin, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", filepath.Join(bin, "postgres"), err)
	}
	// "postgres (PostgreSQL) 16.4 (Debian 16.4-1.pgdg120+1)"
	_, after, _ := strings.Cut(string(out), ")")
	parts := strings.SplitN(strings.Fields(after + " ?")[0], ".", 3)
	if n, err := strconv.Atoi(parts[0]); err == nil && n < 10 && len(parts) > 1 {
		return parts[0] + "." + parts[1], nil
	}
	return parts[0], nil
}

// replacedBinary reports whether process pid runs a program file that has
// since been replaced or removed, as an upgrade of its package does.
func replacedBinary(pid int) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil && strings.HasSuffix(exe, " (deleted)")
}
