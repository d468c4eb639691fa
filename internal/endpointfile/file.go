// Package endpointfile reads the operator's endpoints file (YAML) into
// endpoints, validating every entry (its regex compiled by the engine the
// probe uses) and reporting every problem at once. Only the command line
// reads files, so the functions do not link this package or the regex
// engine through it.
package endpointfile

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/regex"
	"gopkg.in/yaml.v3"
)

// MaxListed is how many problems InvalidError's message lists before it
// says how many more there are.
const MaxListed = 20

// maxGroup is the longest status page group, in characters.
const maxGroup = 100

// Problem is one invalid field of one entry in an endpoints file.
type Problem struct {
	Index int // position in the endpoints list, from 0; -1 for the file itself
	// Entry is the entry's name, else its URL, to find it by; may be empty.
	// With Index -1 it names the top-level section ("defaults"), if any.
	Entry   string
	Field   string // empty for the entry as a whole
	Message string
}

// String is the one format of every problem:
// "endpoints[INDEX] (NAME or URL): FIELD: message", or for the rest of the
// file "SECTION: FIELD: message" or "FIELD: message".
func (p Problem) String() string {
	var b strings.Builder
	if p.Index >= 0 {
		fmt.Fprintf(&b, "endpoints[%d]", p.Index)
		if p.Entry != "" {
			fmt.Fprintf(&b, " (%s)", p.Entry)
		}
		b.WriteString(": ")
	} else if p.Entry != "" {
		b.WriteString(p.Entry + ": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// InvalidError lists every problem found in an endpoints file; its message
// shows the first MaxListed.
type InvalidError struct{ Problems []Problem }

func (e *InvalidError) Error() string {
	n := len(e.Problems)
	lines := []string{fmt.Sprintf("invalid endpoints file: %d problem(s)", n)}
	for _, p := range e.Problems[:min(n, MaxListed)] {
		lines = append(lines, "  "+p.String())
	}
	if n > MaxListed {
		lines = append(lines, fmt.Sprintf("  ... and %d more", n-MaxListed))
	}
	return strings.Join(lines, "\n")
}

var (
	entryFields     = []string{"name", "url", "method", "headers", "body", "basic_auth", "regex", "interval", "timeout", "location", "enabled", "group", "alerts"}
	basicAuthFields = []string{"username", "password_env", "password_secret"}
	defaultsFields  = []string{"alerts"}
	alertFields     = []string{"failures", "failure_ratio", "window", "successes", "certificate_days"}
	// envName is what password_env may name: a portable environment variable.
	envName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
)

// Parse reads an endpoints file and validates every entry against the
// fleet's locations, in one pass: it returns all problems at once as
// *InvalidError (two entries with one import identity included), and no
// endpoints unless the whole file is valid.
func Parse(data []byte, locations []string) ([]endpoint.Endpoint, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &InvalidError{[]Problem{{Index: -1, Field: "file", Message: err.Error()}}}
	}
	list, defaultsNode, problem := topLevel(&doc)
	if problem != nil {
		return nil, &InvalidError{[]Problem{*problem}}
	}
	defaults, problems := parseDefaults(defaultsNode)
	var (
		out  = make([]endpoint.Endpoint, 0, len(list))
		keys = map[string]int{}
	)
	for i, node := range list {
		at := Problem{Index: i, Entry: label(node)}
		ep, ps := parseEntry(at, node, locations, defaults)
		problems = append(problems, ps...)
		if ep.Name != "" || ep.URL != "" {
			if j, dup := keys[ep.Key()]; dup {
				if ep.Name != "" {
					at.Field, at.Message = "name", fmt.Sprintf("%q already names endpoints[%d]", ep.Name, j)
				} else {
					at.Message = fmt.Sprintf("same endpoint as endpoints[%d] (url, method, headers, body, regex, "+
						"basic_auth username and location all equal); give one a name", j)
				}
				problems = append(problems, at)
			} else {
				keys[ep.Key()] = i
			}
		}
		out = append(out, ep)
	}
	if len(problems) > 0 {
		return nil, &InvalidError{problems}
	}
	return out, nil
}

// topLevel returns the entries of the endpoints list and the defaults
// mapping (nil when absent), or the one problem that makes the file
// unreadable as a whole.
func topLevel(doc *yaml.Node) ([]*yaml.Node, *yaml.Node, *Problem) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil, &Problem{Index: -1, Field: "endpoints", Message: "file is empty; want a top-level 'endpoints' list"}
	}
	root := deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, nil, &Problem{Index: -1, Field: "file", Message: "top level must be a mapping with an 'endpoints' list"}
	}
	var list, defaults *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		var into **yaml.Node
		switch k.Value {
		case "endpoints":
			into = &list
		case "defaults":
			into = &defaults
		default:
			return nil, nil, &Problem{Index: -1, Field: k.Value, Message: fmt.Sprintf("unknown top-level key (line %d); only 'endpoints' and 'defaults' are allowed", k.Line)}
		}
		if *into != nil {
			return nil, nil, &Problem{Index: -1, Field: k.Value, Message: fmt.Sprintf("given twice (line %d)", k.Line)}
		}
		*into = deref(root.Content[i+1])
	}
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil, nil, &Problem{Index: -1, Field: "endpoints", Message: "must be a list"}
	}
	if defaults != nil && defaults.ShortTag() != "!!null" && defaults.Kind != yaml.MappingNode {
		return nil, nil, &Problem{Index: -1, Field: "defaults", Message: fmt.Sprintf("want a mapping, got %s (line %d)", kind(defaults), defaults.Line)}
	}
	return list.Content, defaults, nil
}

// parseDefaults reads the top-level defaults mapping (nil or null: none),
// reporting its problems as "defaults: FIELD: message".
func parseDefaults(node *yaml.Node) (alertsIn, []Problem) {
	var ps []Problem
	if node == nil || node.Kind != yaml.MappingNode {
		return alertsIn{}, nil
	}
	bad := func(field, format string, args ...any) {
		ps = append(ps, Problem{Index: -1, Entry: "defaults", Field: field, Message: fmt.Sprintf(format, args...)})
	}
	f := fields(node, "", defaultsFields, bad)
	in := readAlerts(f["alerts"], bad)
	if in.ratio != nil && *in.ratio > 0 && !in.windowWritten {
		bad("alerts.failure_ratio", "needs a window")
	}
	return in, ps
}

// parseEntry reads one entry field by field, so that every problem names
// its field, and reports problems as copies of at. defaults are the file's
// alert defaults, which the entry's own alerts override field by field.
func parseEntry(at Problem, node *yaml.Node, locations []string, defaults alertsIn) (endpoint.Endpoint, []Problem) {
	var ps []Problem
	bad := func(field, format string, args ...any) {
		at.Field, at.Message = field, fmt.Sprintf(format, args...)
		ps = append(ps, at)
	}
	node = deref(node)
	if node.Kind != yaml.MappingNode {
		bad("", "must be a mapping, got %s (line %d)", kind(node), node.Line)
		return endpoint.Endpoint{}, ps
	}
	f := fields(node, "", entryFields, bad)
	text := func(name string) string { return scalar(f, "", name, bad) }
	method := text("method")
	ep := endpoint.Endpoint{
		Name:     text("name"),
		URL:      strings.TrimSpace(text("url")),
		Method:   strings.ToUpper(method),
		Body:     text("body"),
		Regex:    text("regex"),
		Location: text("location"),
		Group:    strings.TrimSpace(text("group")),
		Enabled:  true,
	}
	if msg := checkGroup(ep.Group); msg != "" {
		bad("group", "%s", msg)
	}
	if ep.Method == "" {
		ep.Method = endpoint.DefaultMethod
	}
	if ep.Location == "" {
		ep.Location = endpoint.DefaultLocation
	}
	if v := f["enabled"]; v != nil && v.ShortTag() != "!!null" {
		if err := v.Decode(&ep.Enabled); err != nil || v.Kind != yaml.ScalarNode {
			bad("enabled", "want true or false, got %s (line %d)", kind(v), v.Line)
		}
	}
	if v := f["headers"]; v != nil && v.ShortTag() != "!!null" {
		if v.Kind != yaml.MappingNode {
			bad("headers", "want a mapping of names to values, got %s (line %d)", kind(v), v.Line)
		} else {
			h := fields(v, "headers.", nil, bad)
			ep.Headers = make(map[string]string, len(h))
			for _, k := range slices.Sorted(maps.Keys(h)) {
				if h[k].Kind != yaml.ScalarNode {
					bad("headers."+k, "want a string, got %s (line %d)", kind(h[k]), h[k].Line)
				} else if msg := checkHeader(k, h[k].Value); msg != "" {
					bad("headers."+k, "%s", msg)
				}
				ep.Headers[k] = h[k].Value
			}
		}
	}

	if msg := checkURL(ep.URL); msg != "" {
		bad("url", "%s", msg)
	}
	if !slices.Contains(endpoint.Methods, ep.Method) {
		bad("method", "%q is not one of %s", method, strings.Join(endpoint.Methods, ", "))
	}
	var err error
	intervalOK := false
	ep.Interval, err = duration(f["interval"], endpoint.DefaultInterval)
	switch {
	case err != nil:
		bad("interval", "%v", err)
	case ep.Interval < endpoint.MinInterval || ep.Interval > endpoint.MaxInterval:
		bad("interval", "%s is outside %s..%s", ep.Interval, endpoint.MinInterval, endpoint.MaxInterval)
	case ep.Interval%time.Second != 0:
		bad("interval", "%s is not a whole number of seconds", ep.Interval)
	default:
		intervalOK = true
	}
	// A bad interval is reported once: the timeout is then judged alone.
	defTimeout := endpoint.DefaultTimeout
	if intervalOK {
		defTimeout = min(defTimeout, ep.Interval)
	}
	if ep.Timeout, err = duration(f["timeout"], defTimeout); err != nil {
		bad("timeout", "%v", err)
	} else if ep.Timeout <= 0 {
		bad("timeout", "must be positive, got %s", ep.Timeout)
	} else if intervalOK && ep.Timeout > ep.Interval {
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
	if v := f["basic_auth"]; v != nil {
		ep.BasicAuth = basicAuth(v, &ep, bad)
	}
	ep.Alerts = alertRules(defaults, readAlerts(f["alerts"], bad), ep.Interval, intervalOK, bad)
	return ep, ps
}

// alertsIn is one alerts field as written (in defaults or in an entry):
// nil pointers for the keys not given.
type alertsIn struct {
	set                           bool // a mapping or true was given
	off                           bool // alerts: false
	failures, successes, certDays *int
	ratio                         *float64
	window                        *time.Duration
	// Written, valid or not: an invalid one is reported once, not again
	// as missing.
	ratioWritten, windowWritten bool
}

// readAlerts reads an alerts field, a mapping, true (the defaults) or
// false (none), checking each key on its own; bad names fields "alerts.KEY".
func readAlerts(v *yaml.Node, bad func(field, format string, args ...any)) alertsIn {
	var in alertsIn
	if v == nil || v.ShortTag() == "!!null" {
		return in
	}
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!bool" {
		var on bool
		if err := v.Decode(&on); err == nil {
			in.set, in.off = on, !on
			return in
		}
	}
	if v.Kind != yaml.MappingNode {
		bad("alerts", "want a mapping (failures, failure_ratio, window, successes, certificate_days), true or false, got %s (line %d)", kind(v), v.Line)
		return in
	}
	in.set = true
	f := fields(v, "alerts.", alertFields, bad)
	count := func(name string, lo, hi int) *int {
		n := f[name]
		if n == nil || n.ShortTag() == "!!null" {
			return nil
		}
		var i int
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			bad("alerts."+name, "want a whole number, got %s (line %d)", kind(n), n.Line)
			return nil
		}
		if i < lo || i > hi {
			bad("alerts."+name, "%d is outside %d..%d", i, lo, hi)
			return nil
		}
		return &i
	}
	in.failures = count("failures", 1, 100)
	in.successes = count("successes", 1, 100)
	in.certDays = count("certificate_days", 0, 365)
	if n := f["failure_ratio"]; n != nil && n.ShortTag() != "!!null" {
		in.ratioWritten = true
		var r float64
		switch {
		case n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!float" && n.ShortTag() != "!!int") || n.Decode(&r) != nil:
			bad("alerts.failure_ratio", "want a number such as 0.5, got %s (line %d)", kind(n), n.Line)
		case !(r >= 0 && r <= 1):
			bad("alerts.failure_ratio", "%s is outside 0..1 (a share of the checks in the window; 0 turns it off)", n.Value)
		default:
			in.ratio = &r
		}
	}
	if n := f["window"]; n != nil && n.ShortTag() != "!!null" {
		in.windowWritten = true
		d, err := duration(n, 0)
		switch {
		case err != nil:
			bad("alerts.window", "%v", err)
		case d < time.Minute || d > endpoint.MaxAlertWindow:
			bad("alerts.window", "%s is outside %s..%s", d, time.Minute, endpoint.MaxAlertWindow)
		case d%time.Second != 0:
			bad("alerts.window", "%s is not a whole number of seconds", d)
		default:
			in.window = &d
		}
	}
	return in
}

// alertRules merges an entry's alerts over the defaults, field by field,
// and checks what depends on both or on the entry's interval (judged only
// when intervalOK). nil: no alerts.
func alertRules(defaults, own alertsIn, interval time.Duration, intervalOK bool, bad func(field, format string, args ...any)) *endpoint.AlertRules {
	if own.off || (!own.set && !defaults.set) {
		return nil
	}
	r := &endpoint.AlertRules{Failures: endpoint.DefaultAlertFailures, Successes: endpoint.DefaultAlertSuccesses}
	for _, in := range []alertsIn{defaults, own} {
		if in.failures != nil {
			r.Failures = *in.failures
		}
		if in.successes != nil {
			r.Successes = *in.successes
		}
		if in.certDays != nil {
			r.CertificateDays = *in.certDays
		}
		if in.ratio != nil {
			r.FailureRatio = *in.ratio
		}
		if in.window != nil {
			r.Window = *in.window
		}
	}
	switch {
	case r.FailureRatio == 0:
		// The window serves only the ratio; one inherited with a ratio an
		// entry turned off is dropped, one written without any is a mistake.
		if own.window != nil && !own.ratioWritten && !defaults.ratioWritten {
			bad("alerts.window", "is used only with failure_ratio")
		}
		r.Window = 0
	case r.Window == 0:
		if own.ratio != nil && !own.windowWritten && !defaults.windowWritten {
			bad("alerts.failure_ratio", "needs a window")
		}
	case intervalOK && r.Window < interval:
		from := ""
		if own.window == nil {
			from = " (from defaults)"
		}
		bad("alerts.window", "%s%s is shorter than the interval %s", r.Window, from, interval)
	}
	return r
}

// checkGroup says what is wrong with a status page group, or "".
func checkGroup(g string) string {
	if n := utf8.RuneCountInString(g); n > maxGroup {
		return fmt.Sprintf("is %d characters long, more than %d", n, maxGroup)
	}
	if !utf8.ValidString(g) {
		return "is not valid UTF-8"
	}
	if strings.ContainsFunc(g, unicode.IsControl) {
		return "must not contain control characters (line breaks, tabs, ...)"
	}
	return ""
}

// basicAuth reads and checks the basic_auth field of ep.
func basicAuth(v *yaml.Node, ep *endpoint.Endpoint, bad func(field, format string, args ...any)) *endpoint.BasicAuth {
	if v.Kind != yaml.MappingNode {
		bad("basic_auth", "want a mapping with username and password_env or password_secret, got %s (line %d)", kind(v), v.Line)
		return nil
	}
	f := fields(v, "basic_auth.", basicAuthFields, bad)
	text := func(name string) string { return scalar(f, "basic_auth.", name, bad) }
	ba := &endpoint.BasicAuth{Username: text("username"), PasswordEnv: text("password_env"), PasswordSecret: text("password_secret")}
	switch {
	case ba.Username == "":
		bad("basic_auth.username", "is required")
	case strings.Contains(ba.Username, ":"):
		bad("basic_auth.username", "must not contain a colon")
	}
	if (ba.PasswordEnv == "") == (ba.PasswordSecret == "") {
		bad("basic_auth", "needs exactly one of password_env or password_secret")
	} else if ba.PasswordEnv != "" && !envName.MatchString(ba.PasswordEnv) {
		bad("basic_auth.password_env", "%q is not an environment variable name (capital letters, digits and _, not starting with a digit)", ba.PasswordEnv)
	}
	if _, ok := ep.Headers["Authorization"]; ok {
		bad("headers.Authorization", "conflicts with basic_auth")
	}
	return ba
}

// fields returns the values of mapping m by key, reporting keys not in
// allowed (nil allows any) and keys given twice.
func fields(m *yaml.Node, prefix string, allowed []string, bad func(field, format string, args ...any)) map[string]*yaml.Node {
	out := make(map[string]*yaml.Node, len(m.Content)/2)
	lines := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		switch {
		case allowed != nil && !slices.Contains(allowed, k.Value):
			bad(prefix+k.Value, "unknown field")
		case out[k.Value] != nil:
			bad(prefix+k.Value, "given twice (lines %d and %d)", lines[k.Value], k.Line)
		default:
			out[k.Value], lines[k.Value] = deref(m.Content[i+1]), k.Line
		}
	}
	return out
}

// scalar is the string value of field name in f, "" when it is absent or
// null; a value that is not a string is reported as field prefix+name.
func scalar(f map[string]*yaml.Node, prefix, name string, bad func(field, format string, args ...any)) string {
	v := f[name]
	if v == nil || v.ShortTag() == "!!null" {
		return ""
	}
	if v.Kind != yaml.ScalarNode {
		bad(prefix+name, "want a string, got %s (line %d)", kind(v), v.Line)
		return ""
	}
	return v.Value
}

// label names an entry for people: its name, else its URL, as written.
func label(node *yaml.Node) string {
	node = deref(node)
	if node.Kind != yaml.MappingNode {
		return ""
	}
	var name, rawURL string
	for i := 0; i+1 < len(node.Content); i += 2 {
		if v := deref(node.Content[i+1]); v.Kind == yaml.ScalarNode && v.Value != "" {
			switch node.Content[i].Value {
			case "name":
				name = v.Value
			case "url":
				rawURL = v.Value
			}
		}
	}
	s := strings.TrimSpace(cmp.Or(name, rawURL))
	if r := []rune(s); len(r) > 80 {
		s = string(r[:77]) + "..."
	}
	if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsGraphic(r) || unicode.IsSpace(r) }) {
		s = strconv.Quote(s)
	}
	return s
}

// kind describes a node for a type error: a list, a mapping, or the scalar.
func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// deref follows an alias (*name) to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
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
	if n == nil || n.ShortTag() == "!!null" {
		return def, nil
	}
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("want a duration such as 30s or a number of seconds, got %s (line %d)", kind(n), n.Line)
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
