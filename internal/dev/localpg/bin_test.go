package localpg

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeInstall creates empty executables named names in dir.
func fakeInstall(t *testing.T, dir string, names ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFindServer(t *testing.T) {
	notFound := func(string) (string, error) { return "", exec.ErrNotFound }
	tests := []struct {
		name    string
		setup   func(t *testing.T, tmp string) (lookPath func(string) (string, error), root string)
		want    string // relative to tmp
		wantErr string
	}{
		{
			name: "PATH holds a link farm into one installation",
			setup: func(t *testing.T, tmp string) (func(string) (string, error), string) {
				fakeInstall(t, filepath.Join(tmp, "pg", "bin"), serverBinaries...)
				fakeInstall(t, filepath.Join(tmp, "deb", "16", "bin"), serverBinaries...)
				links := filepath.Join(tmp, "links")
				if err := os.MkdirAll(links, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(filepath.Join(tmp, "pg", "bin", "initdb"), filepath.Join(links, "initdb")); err != nil {
					t.Fatal(err)
				}
				return func(name string) (string, error) {
					if name == "initdb" {
						return filepath.Join(links, "initdb"), nil
					}
					return "", exec.ErrNotFound
				}, filepath.Join(tmp, "deb")
			},
			want: "pg/bin",
		},
		{
			name: "newest complete Debian version, compared as numbers",
			setup: func(t *testing.T, tmp string) (func(string) (string, error), string) {
				root := filepath.Join(tmp, "deb")
				fakeInstall(t, filepath.Join(root, "9.6", "bin"), serverBinaries...)
				fakeInstall(t, filepath.Join(root, "13", "bin"), serverBinaries...)
				fakeInstall(t, filepath.Join(root, "15", "bin"), serverBinaries...)
				fakeInstall(t, filepath.Join(root, "17", "bin"), "initdb") // client-only leftovers
				return notFound, root
			},
			want: "deb/15/bin",
		},
		{
			name: "nothing installed names the package",
			setup: func(t *testing.T, tmp string) (func(string) (string, error), string) {
				return notFound, filepath.Join(tmp, "missing")
			},
			wantErr: "apt-get install postgresql",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			look, root := tt.setup(t, tmp)
			got, err := findServer(look, root)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("findServer error = %v, want ErrNotInstalled mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(tmp, tt.want); got != want {
				t.Errorf("findServer = %s, want %s", got, want)
			}
		})
	}
}

func TestFindBouncer(t *testing.T) {
	tmp := t.TempDir()
	fakeInstall(t, filepath.Join(tmp, "sbin"), "pgbouncer")
	fallback := filepath.Join(tmp, "sbin", "pgbouncer")
	tests := []struct {
		name     string
		lookPath func(string) (string, error)
		fallback string
		want     string
		wantErr  bool
	}{
		{"on PATH", func(string) (string, error) { return "/opt/bin/pgbouncer", nil }, fallback, "/opt/bin/pgbouncer", false},
		{"Debian location", func(string) (string, error) { return "", exec.ErrNotFound }, fallback, fallback, false},
		{"missing", func(string) (string, error) { return "", exec.ErrNotFound }, filepath.Join(tmp, "none"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findBouncer(tt.lookPath, tt.fallback)
			if tt.wantErr {
				if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "apt-get install pgbouncer") {
					t.Fatalf("findBouncer error = %v, want ErrNotInstalled naming the package", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("findBouncer = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int // sign
	}{
		{"9.6", "13", -1},
		{"15", "13", 1},
		{"15.2", "15", 1},
		{"16", "16", 0},
		{"beta", "9", -1},
	}
	for _, tt := range tests {
		t.Run(tt.a+"_vs_"+tt.b, func(t *testing.T) {
			got := compareVersions(tt.a, tt.b)
			if (got > 0) != (tt.want > 0) || (got < 0) != (tt.want < 0) {
				t.Errorf("compareVersions(%q, %q) = %d, want sign %d", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

// TestReplacedBinary: a process whose program file was replaced (as a
// package upgrade does) is told from one whose file is still there.
func TestReplacedBinary(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip(err)
	}
	data, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(t.TempDir(), "server")
	if err := os.WriteFile(prog, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prog, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if replacedBinary(cmd.Process.Pid) {
		t.Error("a process whose program is in place reported replaced")
	}
	if err := os.Remove(prog); err != nil {
		t.Fatal(err)
	}
	if !replacedBinary(cmd.Process.Pid) {
		t.Error("a process whose program was removed not reported replaced")
	}
}
