// Package status owns the status page: a static index.html (no script,
// inline CSS) with a section per endpoint group, each endpoint's state and
// uptime figures in text, and one SVG per endpoint (daily uptime bars over
// store.StatusDays days and an hourly response-time sparkline over
// store.StatusHours hours). Render is pure; Write hands the files to a Sink
// (a directory or an S3 bucket) so that a reader never sees a page half
// written.
package status

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/watcher-dev/watcher/internal/store"
)

// State is what the page says an endpoint is.
type State string

// States of an endpoint.
const (
	StateUp      State = "up"
	StateDown    State = "down"
	StateUnknown State = "unknown" // no recent check and no open alert
)

// Word is the state as the page prints it.
func (s State) Word() string {
	switch s {
	case StateUp:
		return "Up"
	case StateDown:
		return "Down"
	}
	return "No data"
}

// DefaultTitle heads a page whose Options name no title.
const DefaultTitle = "Status"

// IndexFile is the page's HTML file; each endpoint's SVG is SVGFile(id).
const IndexFile = "index.html"

// SVGFile names the SVG of endpoint id.
func SVGFile(id int64) string { return fmt.Sprintf("endpoint-%d.svg", id) }

// Content types of the page's files.
const (
	htmlType = "text/html; charset=utf-8"
	svgType  = "image/svg+xml"
)

// File is one file of the page.
type File struct {
	Name        string // IndexFile or SVGFile(id): no directories
	ContentType string
	Body        []byte
}

// Options shape a page.
type Options struct {
	Title string // the page's heading; DefaultTitle when empty
}

// Source reads what the page shows (*store.Store).
type Source interface {
	Status(ctx context.Context, now time.Time) (store.Status, error)
}

// Publish reads the status as of now from src, renders the page and writes
// it to sink.
func Publish(ctx context.Context, src Source, sink Sink, now time.Time, opt Options) error {
	st, err := src.Status(ctx, now)
	if err != nil {
		return fmt.Errorf("read status: %w", err)
	}
	files, err := Render(st, opt)
	if err != nil {
		return err
	}
	return Write(ctx, files, sink)
}

// StateOf is endpoint e's state as of now. An open "down" alert makes it
// down. Otherwise an endpoint with alert rules is up while it is checked
// (its alerts decide when failures make it down, so one failed check does
// not), and one without is what its latest check was. Without a check in
// the last few intervals it is unknown.
func StateOf(e store.EndpointStatus, now time.Time) State {
	switch {
	case e.DownSince != nil:
		return StateDown
	case e.LastCheck == nil || now.Sub(*e.LastCheck) > recent(e.Interval):
		return StateUnknown
	case e.Alerts || e.LastUp:
		return StateUp
	}
	return StateDown
}

// recent is how old the latest check of an endpoint checked every interval
// may be for the page to go by it: three intervals, at least five minutes
// (a fleet may fall a few minutes behind).
func recent(interval time.Duration) time.Duration { return max(3*interval, 5*time.Minute) }

// Uptime is the share of up checks in buckets, in percent, and whether
// there were any checks.
func Uptime(buckets []store.StatusBucket) (percent float64, ok bool) {
	var checks, up int64
	for _, b := range buckets {
		checks += b.Checks
		up += b.Up
	}
	if checks == 0 {
		return 0, false
	}
	return 100 * float64(up) / float64(checks), true
}

// formatPercent prints an uptime with two decimals, rounded down, so that
// a period with a failed check never reads 100.00 %.
func formatPercent(p float64) string {
	return fmt.Sprintf("%.2f%%", math.Floor(p*100)/100)
}

// uptimeText is Uptime of buckets as the page prints it: "—" without checks.
func uptimeText(buckets []store.StatusBucket) string {
	p, ok := Uptime(buckets)
	if !ok {
		return "—"
	}
	return formatPercent(p)
}

// DisplayName is what the page calls an endpoint: its name, or else its
// URL without credentials, query or fragment (which may hold secrets and
// have no place on a public page).
func DisplayName(e store.EndpointStatus) string {
	if e.Name != "" {
		return e.Name
	}
	u, err := url.Parse(e.URL)
	if err != nil {
		return "endpoint " + fmt.Sprint(e.ID)
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// Summary is the page's one-line verdict: "All systems operational", or
// how many endpoints are down and how many have no recent checks.
func Summary(states []State) string {
	var down, unknown int
	for _, s := range states {
		switch s {
		case StateDown:
			down++
		case StateUnknown:
			unknown++
		}
	}
	n := len(states)
	var parts []string
	switch {
	case n == 0:
		return "No endpoints"
	case down == 0 && unknown == 0:
		return "All systems operational"
	case down > 0:
		parts = append(parts, fmt.Sprintf("%d of %d down", down, n))
	}
	if unknown > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d without recent checks", unknown, n))
	}
	return strings.Join(parts, ", ")
}

// Render renders the page of st: IndexFile, then one SVG per endpoint.
func Render(st store.Status, opt Options) ([]File, error) {
	data := page{Title: cmp.Or(opt.Title, DefaultTitle), Generated: st.Now.UTC().Format("2006-01-02 15:04 UTC"),
		Days: store.StatusDays, Hours: store.StatusHours}
	files := []File{{Name: IndexFile, ContentType: htmlType}}
	var states []State
	groups := map[string]*group{}
	for _, e := range st.Endpoints {
		state := StateOf(e, st.Now)
		states = append(states, state)
		name := DisplayName(e)
		svg, err := renderSVG(e, name)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Name: SVGFile(e.ID), ContentType: svgType, Body: svg})
		item := item{Name: name, State: state, Word: state.Word(), Image: SVGFile(e.ID),
			Uptime: []figure{
				{fmt.Sprintf("%d h", store.StatusHours), uptimeText(e.Hours)},
				{"7 d", uptimeText(e.Days[len(e.Days)-7:])},
				{"30 d", uptimeText(e.Days[len(e.Days)-30:])},
				{fmt.Sprintf("%d d", store.StatusDays), uptimeText(e.Days)},
			}}
		if e.DownSince != nil {
			item.Since = "since " + e.DownSince.UTC().Format("2006-01-02 15:04 UTC")
		}
		item.Alt = alt(name, e)
		g := groups[e.Group]
		if g == nil {
			g = &group{Name: e.Group}
			groups[e.Group] = g
		}
		g.Items = append(g.Items, item)
	}
	data.Summary = Summary(states)
	data.AllUp = len(states) > 0 && !slices.ContainsFunc(states, func(s State) bool { return s == StateDown || s == StateUnknown })
	for _, g := range groups {
		slices.SortStableFunc(g.Items, func(a, b item) int {
			return cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.Name, b.Name))
		})
		data.Groups = append(data.Groups, *g)
	}
	// Named groups in order, the endpoints without one last.
	slices.SortFunc(data.Groups, func(a, b group) int {
		if (a.Name == "") != (b.Name == "") {
			return cmp.Compare(b.Name, a.Name) // "" after any name
		}
		return cmp.Compare(a.Name, b.Name)
	})
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("render status page: %w", err)
	}
	files[0].Body = buf.Bytes()
	return files, nil
}

// alt describes an endpoint's SVG in words, for those who cannot see it.
func alt(name string, e store.EndpointStatus) string {
	s := fmt.Sprintf("%s: uptime per day over %d days (%s)", name, store.StatusDays, uptimeText(e.Days))
	var checks int64
	var sum float64
	for _, h := range e.Hours {
		checks += h.Checks
		sum += float64(h.Checks) * h.Mean.Seconds() * 1000
	}
	if checks > 0 {
		s += fmt.Sprintf(" and response time per hour over %d hours (mean %.0f ms)", store.StatusHours, sum/float64(checks))
	}
	return s
}

// The page's template data.
type (
	page struct {
		Title, Summary, Generated string
		AllUp                     bool
		Days, Hours               int
		Groups                    []group
	}
	group struct {
		Name  string // "" for the endpoints without a group
		Items []item
	}
	item struct {
		Name       string
		State      State
		Word       string
		Since      string // when a down alert opened, or ""
		Uptime     []figure
		Image, Alt string
	}
	figure struct{ Label, Value string }
)
