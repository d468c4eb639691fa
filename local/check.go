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
	"github.com/watcher-dev/watcher/internal/record"
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
		Long: `Run one check and print its result as one JSON object, in the record queue's form (durations in ns).

The exit code is 0 when the check is up (no error, HTTP status 200-399, the regex matched if given),
1 when it failed (the JSON and the error line say why), 2 for a usage error, 3 for any other error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &check.Request{URL: args[0], Method: strings.ToUpper(method), Body: body, Timeout: timeout}
			if len(headers) > 0 {
				req.Headers = map[string]string{}
			}
			for _, h := range headers {
				k, v, ok := strings.Cut(h, ":")
				if !ok {
					return usage(fmt.Errorf("--header %q: want Key:Value", h))
				}
				req.Headers[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
			if pattern != "" {
				re, err := regex.Compile(pattern, endpoint.RegexMatchTimeout)
				if err != nil {
					return usage(fmt.Errorf("--regex: %w", err))
				}
				req.Regex = re
			}
			// A person checking from their own machine may reach its loopback
			// (the target farm); private ranges only when asked.
			checker := check.New(check.Options{Policy: check.Policy{AllowLoopback: true, AllowPrivate: allowPrivate}, FreshDNS: true})
			res := checker.Run(cmd.Context(), req)
			if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
				return err
			}
			if why := checkFailure(res); why != "" {
				return failed(fmt.Errorf("check failed: %s", why))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&pattern, "regex", "", "regular expression searched in the body")
	f.StringVar(&method, "method", endpoint.DefaultMethod, "HTTP method")
	f.StringArrayVar(&headers, "header", nil, "request header Key:Value (repeatable)")
	f.StringVar(&body, "body", "", "request body")
	f.DurationVar(&timeout, "timeout", endpoint.DefaultTimeout, "check timeout")
	f.BoolVar(&allowPrivate, "allow-private", false, "allow private (intranet) addresses")
	positive(f, "timeout", &timeout)
	return cmd
}

// checkFailure says why a check is not up, as the report counts it: an
// error class, a status outside 200-399, or a regex that did not match; ""
// when it is up.
func checkFailure(r record.Result) string {
	switch {
	case r.Error != "" && r.ErrorDetail != "":
		return r.Error + ": " + r.ErrorDetail
	case r.Error != "":
		return r.Error
	case r.StatusCode == nil:
		return "no response"
	case *r.StatusCode < 200 || *r.StatusCode > 399:
		return fmt.Sprintf("HTTP status %d", *r.StatusCode)
	case r.RegexMatch != nil && !*r.RegexMatch:
		return "the regex did not match the body"
	}
	return ""
}
