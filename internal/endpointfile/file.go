// Package endpointfile reads the operator's endpoints file (YAML) into
// endpoints, validating every entry (its regex compiled by the engine the
// probe uses) and reporting every problem at once. Only the command line
// reads files, so the functions do not link this package or the regex
// engine through it.
package endpointfile

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/regex"
	"gopkg.in/yaml.v3"
)

// Problem is one invalid field of one entry in an endpoints file.
type Problem struct {
	Index   int // position in the endpoints list, from 0; -1 for the file itself
	Field   string
	Message string
}

func (p Problem) String() string {
	if p.Index < 0 {
		return p.Field + ": " + p.Message
	}
	return fmt.Sprintf("endpoints[%d].%s: %s", p.Index, p.Field, p.Message)
}

// InvalidError lists every problem found in an endpoints file.
type InvalidError struct{ Problems []Problem }

func (e *InvalidError) Error() string {
	lines := make([]string, 0, len(e.Problems)+1)
	lines = append(lines, fmt.Sprintf("invalid endpoints file: %d problem(s)", len(e.Problems)))
	for _, p := range e.Problems {
		lines = append(lines, "  "+p.String())
	}
	return strings.Join(lines, "\n")
}

// entry is one item of the YAML file as written by the operator.
type entry struct {
	Name      string              `yaml:"name"`
	URL       string              `yaml:"url"`
	Method    string              `yaml:"method"`
	Headers   map[string]string   `yaml:"headers"`
	Body      string              `yaml:"body"`
	BasicAuth *endpoint.BasicAuth `yaml:"basic_auth"`
	Regex     string              `yaml:"regex"`
	Interval  yaml.Node           `yaml:"interval"`
	Timeout   yaml.Node           `yaml:"timeout"`
	Location  string              `yaml:"location"`
	Enabled   *bool               `yaml:"enabled"`
}

var (
	entryFields     = []string{"name", "url", "method", "headers", "body", "basic_auth", "regex", "interval", "timeout", "location", "enabled"}
	basicAuthFields = []string{"username", "password_env", "password_secret"}
)

// Parse reads an endpoints file and validates every entry against the
// fleet's locations. It returns all problems at once as *InvalidError, and
// no endpoints unless the whole file is valid.
func Parse(data []byte, locations []string) ([]endpoint.Endpoint, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &InvalidError{[]Problem{{Index: -1, Field: "file", Message: err.Error()}}}
	}
	list, problem := endpointsNode(&doc)
	if problem != nil {
		return nil, &InvalidError{[]Problem{*problem}}
	}
	var (
		problems []Problem
		out      = make([]endpoint.Endpoint, 0, len(list))
		names    = map[string]int{}
	)
	for i, node := range list {
		ep, ps := parseEntry(i, node, locations)
		problems = append(problems, ps...)
		if ep.Name != "" {
			if j, dup := names[ep.Name]; dup {
				problems = append(problems, Problem{i, "name", fmt.Sprintf("%q already names endpoints[%d]", ep.Name, j)})
			}
			names[ep.Name] = i
		}
		out = append(out, ep)
	}
	if len(problems) > 0 {
		return nil, &InvalidError{problems}
	}
	return out, nil
}

func endpointsNode(doc *yaml.Node) ([]*yaml.Node, *Problem) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, &Problem{Index: -1, Field: "endpoints", Message: "file is empty; want a top-level 'endpoints' list"}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &Problem{Index: -1, Field: "file", Message: "top level must be a mapping with an 'endpoints' list"}
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := root.Content[i].Value; k != "endpoints" {
			return nil, &Problem{Index: -1, Field: k, Message: fmt.Sprintf("unknown top-level key (line %d); only 'endpoints' is allowed", root.Content[i].Line)}
		}
		list = root.Content[i+1]
	}
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil, &Problem{Index: -1, Field: "endpoints", Message: "must be a list"}
	}
	return list.Content, nil
}

func parseEntry(i int, node *yaml.Node, locations []string) (endpoint.Endpoint, []Problem) {
	var ps []Problem
	bad := func(field, format string, args ...any) {
		ps = append(ps, Problem{i, field, fmt.Sprintf(format, args...)})
	}
	if node.Kind != yaml.MappingNode {
		bad("", "must be a mapping (line %d)", node.Line)
		return endpoint.Endpoint{}, ps
	}
	for _, unknown := range unknownKeys(node, entryFields) {
		bad(unknown, "unknown field")
	}
	var e entry
	if err := node.Decode(&e); err != nil {
		bad("", "%v", err)
		return endpoint.Endpoint{}, ps
	}
	ep := endpoint.Endpoint{
		Name:     e.Name,
		URL:      strings.TrimSpace(e.URL),
		Method:   strings.ToUpper(e.Method),
		Headers:  e.Headers,
		Body:     e.Body,
		Regex:    e.Regex,
		Location: e.Location,
		Enabled:  e.Enabled == nil || *e.Enabled,
	}
	if ep.Method == "" {
		ep.Method = endpoint.DefaultMethod
	}
	if ep.Location == "" {
		ep.Location = endpoint.DefaultLocation
	}

	if msg := checkURL(ep.URL); msg != "" {
		bad("url", "%s", msg)
	}
	if !slices.Contains(endpoint.Methods, ep.Method) {
		bad("method", "%q is not one of %s", e.Method, strings.Join(endpoint.Methods, ", "))
	}
	for k, v := range ep.Headers {
		if msg := checkHeader(k, v); msg != "" {
			bad("headers."+k, "%s", msg)
		}
	}
	var err error
	if ep.Interval, err = duration(&e.Interval, endpoint.DefaultInterval); err != nil {
		bad("interval", "%v", err)
	} else if ep.Interval < endpoint.MinInterval || ep.Interval > endpoint.MaxInterval {
		bad("interval", "%s is outside %s..%s", ep.Interval, endpoint.MinInterval, endpoint.MaxInterval)
	} else if ep.Interval%time.Second != 0 {
		bad("interval", "%s is not a whole number of seconds", ep.Interval)
	}
	if ep.Timeout, err = duration(&e.Timeout, min(endpoint.DefaultTimeout, ep.Interval)); err != nil {
		bad("timeout", "%v", err)
	} else if ep.Timeout <= 0 {
		bad("timeout", "must be positive, got %s", ep.Timeout)
	} else if ep.Interval > 0 && ep.Timeout > ep.Interval {
		bad("timeout", "%s is above the interval %s", ep.Timeout, ep.Interval)
	}
	if ep.Regex != "" {
		if _, err := regex.Compile(ep.Regex, endpoint.RegexMatchTimeout); err != nil {
			bad("regex", "no engine accepts it: %v", err)
		}
	}
	if !slices.Contains(locations, ep.Location) {
		bad("location", "%q is not a configured location (have: %s)", ep.Location, strings.Join(locations, ", "))
	}
	if e.BasicAuth != nil {
		for _, unknown := range unknownKeys(valueOf(node, "basic_auth"), basicAuthFields) {
			bad("basic_auth."+unknown, "unknown field")
		}
		ba := *e.BasicAuth
		ep.BasicAuth = &ba
		if ba.Username == "" {
			bad("basic_auth.username", "is required")
		}
		if (ba.PasswordEnv == "") == (ba.PasswordSecret == "") {
			bad("basic_auth", "needs exactly one of password_env or password_secret")
		}
		if _, ok := ep.Headers["Authorization"]; ok {
			bad("headers.Authorization", "conflicts with basic_auth")
		}
	}
	return ep, ps
}

func checkURL(raw string) string {
	if raw == "" {
		return "is required"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return err.Error()
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("scheme %q is not http or https", u.Scheme)
	}
	if u.Hostname() == "" {
		return "has no host"
	}
	if u.User != nil {
		return "must not carry credentials; use basic_auth with password_env or password_secret"
	}
	// url.Parse lets through hosts that net/http then refuses to send (an
	// invalid IDNA label, say): every check would fail, so refuse it here.
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, raw, nil)
	if err == nil {
		err = req.Write(io.Discard)
	}
	if err != nil {
		return fmt.Sprintf("cannot be requested: %v", err)
	}
	return ""
}

func checkHeader(name, value string) string {
	if name == "" || strings.ContainsAny(name, " \t\r\n:") {
		return "is not a valid header name"
	}
	if strings.ContainsAny(value, "\r\n") {
		return "value contains a line break"
	}
	if http.CanonicalHeaderKey(name) == "Host" {
		return "Host cannot be overridden"
	}
	return ""
}

// duration reads "30s", "1m" or a bare integer number of seconds.
func duration(n *yaml.Node, def time.Duration) (time.Duration, error) {
	if n.Kind == 0 {
		return def, nil
	}
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("want a duration such as 30s or a number of seconds")
	}
	if secs, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
		return time.Duration(secs) * time.Second, nil
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 30s or a number of seconds", n.Value)
	}
	return d, nil
}

func unknownKeys(m *yaml.Node, allowed []string) []string {
	var out []string
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i].Value; !slices.Contains(allowed, k) {
			out = append(out, k)
		}
	}
	return out
}

func valueOf(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
