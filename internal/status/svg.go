package status

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// The SVG's geometry, in pixels: a bar per day, a point per hour.
const (
	svgWidth   = 720
	svgHeight  = 116
	barPitch   = svgWidth / store.StatusDays // 8: a bar and its gap
	barWidth   = barPitch - 2
	barHeight  = 34
	sparkTop   = 58 // the sparkline's highest point
	sparkBase  = 96 // its zero
	hourPitch  = float64(svgWidth-20) / (store.StatusHours - 1)
	hourMargin = 10
)

// Bar colours by a day's uptime.
const (
	colourAll     = "#15803d" // every check up
	colourMost    = "#84cc16" // 99 % or more
	colourSome    = "#f59e0b" // 95 % or more
	colourFew     = "#dc2626" // less
	colourNoCheck = "#d1d5db" // no checks
)

type (
	svgData struct {
		Width, Height, Base, LabelY, Mid, Days, Hours int
		Label, Caption, Mean, P95                     string
		Bars                                          []bar
		Points                                        []point
	}
	bar struct {
		X, W, H      int
		Color, Title string
	}
	point struct {
		X, Y  string
		Title string
	}
)

// barColour is the colour of a day with these checks.
func barColour(d store.StatusBucket) string {
	p, ok := Uptime([]store.StatusBucket{d})
	switch {
	case !ok:
		return colourNoCheck
	case d.Up == d.Checks:
		return colourAll
	case p >= 99:
		return colourMost
	case p >= 95:
		return colourSome
	}
	return colourFew
}

// renderSVG draws endpoint e's uptime bars and response-time sparkline.
func renderSVG(e store.EndpointStatus, name string) ([]byte, error) {
	d := svgData{Width: svgWidth, Height: svgHeight, Base: sparkBase, LabelY: svgHeight - 4, Mid: svgWidth / 2,
		Days: len(e.Days), Hours: len(e.Hours),
		Label: fmt.Sprintf("%s: uptime per day, response time per hour", name)}
	for i, day := range e.Days {
		title := day.Start.Format("2006-01-02") + ": no checks"
		if day.Checks > 0 {
			p, _ := Uptime([]store.StatusBucket{day})
			title = fmt.Sprintf("%s: %s up (%d of %d checks)", day.Start.Format("2006-01-02"), formatPercent(p), day.Up, day.Checks)
		}
		d.Bars = append(d.Bars, bar{X: i * barPitch, W: barWidth, H: barHeight, Color: barColour(day), Title: title})
	}
	var top time.Duration
	for _, h := range e.Hours {
		top = max(top, h.P95, h.Mean)
	}
	y := func(v time.Duration) string {
		if top == 0 {
			return fmt.Sprint(sparkBase)
		}
		return fmt.Sprintf("%.1f", sparkBase-float64(sparkBase-sparkTop)*float64(v)/float64(top))
	}
	var mean, p95 strings.Builder
	gap := true
	for i, h := range e.Hours {
		if h.Checks == 0 {
			gap = true
			continue
		}
		x := fmt.Sprintf("%.1f", hourMargin+float64(i)*hourPitch)
		cmd := "L"
		if gap {
			cmd = "M"
		}
		gap = false
		fmt.Fprintf(&mean, "%s%s %s ", cmd, x, y(h.Mean))
		fmt.Fprintf(&p95, "%s%s %s ", cmd, x, y(h.P95))
		d.Points = append(d.Points, point{X: x, Y: y(h.Mean), Title: fmt.Sprintf("%s UTC: mean %.0f ms, p95 %.0f ms (%d checks)",
			h.Start.Format("2006-01-02 15:04"), record.MS(h.Mean), record.MS(h.P95), h.Checks)})
	}
	d.Mean, d.P95 = strings.TrimSpace(mean.String()), strings.TrimSpace(p95.String())
	d.Caption = "response time: no checks"
	if top > 0 {
		d.Caption = fmt.Sprintf("response time per hour: mean, p95 dashed (top %.0f ms)", record.MS(top))
	}
	var buf bytes.Buffer
	if err := svgTemplate.Execute(&buf, d); err != nil {
		return nil, fmt.Errorf("render the SVG of endpoint %d: %w", e.ID, err)
	}
	return buf.Bytes(), nil
}
