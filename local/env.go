package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/store"
)

// Exit codes, the same for every command (README, "The watcher command").
const (
	exitFailed = 1 // the command ran and what it reports failed: a check, checks neither written nor spilled
	exitUsage  = 2 // the command line or the environment is wrong: flags, arguments, variables
	exitError  = 3 // the command could not do its work: database unreachable, a file unreadable, ...
)

// codedError is an error that ends the command with a given exit code.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// failed marks err as the command's verdict: what it ran failed.
func failed(err error) error { return &codedError{exitFailed, err} }

// usage marks err as a mistake in the command line or the environment.
func usage(err error) error { return &codedError{exitUsage, err} }

// exitCodes makes the errors of every command's RunE end with exitError
// unless they carry a code of their own. Every other error cobra returns
// (unknown command or flag, bad flag value, wrong arguments, a required
// flag missing) comes before RunE, and exitCode maps it to exitUsage.
func exitCodes(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			var coded *codedError
			if err != nil && !errors.As(err, &coded) {
				err = &codedError{exitError, err}
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		exitCodes(sub)
	}
}

// exitCode is the process exit code for the error the root command returned.
func exitCode(err error) int {
	var coded *codedError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &coded):
		return coded.code
	default:
		return exitUsage
	}
}

// databaseURL is DATABASE_URL, which every command that needs the database
// reads, bounded by a connection timeout (withConnectTimeout), once the
// database has answered (connect): a command fails at once, naming the
// database, when it does not.
func databaseURL(ctx context.Context) (string, error) {
	u, err := envDatabaseURL()
	if err != nil {
		return "", err
	}
	st, err := connect(ctx, u)
	if err != nil {
		return "", err
	}
	st.Close()
	return u, nil
}

// envDatabaseURL is DATABASE_URL with a connection timeout.
func envDatabaseURL() (string, error) {
	u := os.Getenv("DATABASE_URL")
	if u == "" {
		return "", usage(errors.New("DATABASE_URL is not set: export it, or run `watcher db up` for a local PostgreSQL"))
	}
	return withConnectTimeout(u)
}

// withConnectTimeout adds connect_timeout to a database URL (or keyword=value
// string) that has none, so that no connection waits forever on a server
// that accepted it and never answers: DATABASE_CONNECT_TIMEOUT (a duration,
// rounded up to whole seconds as PostgreSQL takes it), else
// PGCONNECT_TIMEOUT (which pgx reads itself), else store.DefaultConnectTimeout.
// The URL's own connect_timeout wins over both variables.
func withConnectTimeout(u string) (string, error) {
	if _, err := pgconn.ParseConfig(u); err != nil {
		return "", usage(fmt.Errorf("DATABASE_URL: %w", err))
	}
	timeout := store.DefaultConnectTimeout
	if v := os.Getenv("DATABASE_CONNECT_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return "", usage(fmt.Errorf("DATABASE_CONNECT_TIMEOUT: %q is not a positive duration such as 5s", v))
		}
		timeout = d
	} else if os.Getenv("PGCONNECT_TIMEOUT") != "" {
		return u, nil
	}
	secs := fmt.Sprint(int64((timeout + time.Second - 1) / time.Second))
	if strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://") {
		_, query, hasQuery := strings.Cut(u, "?")
		if q, err := url.ParseQuery(query); err == nil && q.Has("connect_timeout") {
			return u, nil
		}
		if hasQuery {
			return u + "&connect_timeout=" + secs, nil
		}
		return u + "?connect_timeout=" + secs, nil
	}
	for _, field := range strings.Fields(u) {
		if strings.HasPrefix(field, "connect_timeout=") {
			return u, nil
		}
	}
	return u + " connect_timeout=" + secs, nil
}

// databaseName names the database of u in messages: host, port and
// database, never the password.
func databaseName(u string) string {
	cfg, err := pgconn.ParseConfig(u)
	if err != nil {
		return "DATABASE_URL"
	}
	return fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
}

// openStore opens DATABASE_URL and checks that the database answers.
func openStore(ctx context.Context) (*store.Store, error) {
	u, err := envDatabaseURL()
	if err != nil {
		return nil, err
	}
	return connect(ctx, u)
}

// connect opens the database at u and pings it, so that a command fails at
// once, naming the database, when it does not answer (within the connection
// timeout) rather than at its first query.
func connect(ctx context.Context, u string) (*store.Store, error) {
	st, err := store.Open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", databaseName(u), err)
	}
	if err := st.Ping(ctx); err != nil {
		st.Close()
		return nil, unreachable(u, err)
	}
	return st, nil
}

// connectTimeout is the connection timeout u sets (withConnectTimeout
// gives it one), store.DefaultConnectTimeout when it sets none.
func connectTimeout(u string) time.Duration {
	if cfg, err := pgconn.ParseConfig(u); err == nil && cfg.ConnectTimeout > 0 {
		return cfg.ConnectTimeout
	}
	return store.DefaultConnectTimeout
}

// unreachable says that the database at u could not be used, and how long
// a connection was given.
func unreachable(u string, err error) error {
	return fmt.Errorf("database %s unavailable (connect timeout %s, set by DATABASE_CONNECT_TIMEOUT or the URL's connect_timeout): %w",
		databaseName(u), connectTimeout(u), err)
}

// locations are the probe fleets endpoints may name: WATCHER_LOCATIONS, a
// comma-separated list, "home" by default.
func locations() []string {
	v := os.Getenv("WATCHER_LOCATIONS")
	if v == "" {
		return []string{"home"}
	}
	var out []string
	for _, l := range strings.Split(v, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
