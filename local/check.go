package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/check"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/regex"
)

func checkCmd() *cobra.Command {
	var (
		pattern, method, body string
		headers               []string
		timeout               time.Duration
		allowPrivate          bool
	)
	cmd := &cobra.Command{
		Use:   "check URL",
		Short: "Run one check and print its result as one JSON object, in the record queue's form (durations in ns)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &check.Request{URL: args[0], Method: strings.ToUpper(method), Body: body, Timeout: timeout}
			if len(headers) > 0 {
				req.Headers = map[string]string{}
			}
			for _, h := range headers {
				k, v, ok := strings.Cut(h, ":")
				if !ok {
					return fmt.Errorf("--header %q: want Key:Value", h)
				}
				req.Headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
			if pattern != "" {
				re, err := regex.Compile(pattern, endpoint.RegexMatchTimeout)
				if err != nil {
					return fmt.Errorf("--regex: %w", err)
				}
				req.Regex = re
			}
			// A person checking from their own machine may reach its loopback
			// (the target farm); private ranges only when asked.
			checker := check.New(check.Options{Policy: check.Policy{AllowLoopback: true, AllowPrivate: allowPrivate}})
			res := checker.Run(cmd.Context(), req)
			enc := json.NewEncoder(os.Stdout)
			return enc.Encode(res)
		},
	}
	f := cmd.Flags()
	f.StringVar(&pattern, "regex", "", "regular expression searched in the body")
	f.StringVar(&method, "method", endpoint.DefaultMethod, "HTTP method")
	f.StringArrayVar(&headers, "header", nil, "request header Key:Value (repeatable)")
	f.StringVar(&body, "body", "", "request body")
	f.DurationVar(&timeout, "timeout", endpoint.DefaultTimeout, "check timeout")
	f.BoolVar(&allowPrivate, "allow-private", false, "allow private (intranet) addresses")
	return cmd
}
