package status

import "html/template"

// pageTemplate is index.html: no script, inline CSS, every name, state and
// figure in text; the SVGs only draw what the text already says.
var pageTemplate = template.Must(template.New(IndexFile).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 760px; padding: 1rem; color: #111827; background: #fff; }
h1 { font-size: 1.6rem; margin: 0.5rem 0; }
h2 { font-size: 1.2rem; margin: 2rem 0 0.5rem; border-bottom: 1px solid #e5e7eb; padding-bottom: 0.25rem; }
.summary { font-size: 1.1rem; font-weight: 600; padding: 0.75rem 1rem; border-radius: 6px; color: #fff; background: #b91c1c; }
.summary.ok { background: #15803d; }
.generated, .legend { color: #4b5563; font-size: 0.85rem; }
ul { list-style: none; padding: 0; margin: 0; }
li { padding: 0.75rem 0; border-bottom: 1px solid #f3f4f6; }
.head { display: flex; justify-content: space-between; align-items: baseline; gap: 1rem; flex-wrap: wrap; }
.name { font-weight: 600; overflow-wrap: anywhere; }
.state { font-weight: 700; }
.state-up { color: #15803d; }
.state-down { color: #b91c1c; }
.state-unknown { color: #4b5563; }
dl { display: flex; flex-wrap: wrap; gap: 0.25rem 1.25rem; margin: 0.25rem 0; font-size: 0.9rem; }
dt { color: #4b5563; }
dd { margin: 0 0 0 0.3rem; font-variant-numeric: tabular-nums; }
.fig { display: flex; }
img { display: block; width: 100%; max-width: 720px; height: auto; margin-top: 0.25rem; }
</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
<p class="summary{{if .AllUp}} ok{{end}}">{{.Summary}}</p>
<p class="generated">Updated {{.Generated}}</p>
</header>
<main>
{{- range .Groups}}
<section>
{{- if .Name}}
<h2>{{.Name}}</h2>
{{- else if gt (len $.Groups) 1}}
<h2>Other</h2>
{{- end}}
<ul>
{{- range .Items}}
<li>
<div class="head"><span class="name">{{.Name}}</span> <span class="state state-{{.State}}">{{.Word}}{{if .Since}} {{.Since}}{{end}}</span></div>
<dl>{{range .Uptime}}<div class="fig"><dt>Uptime {{.Label}}</dt><dd>{{.Value}}</dd></div>{{end}}</dl>
<img src="{{.Image}}" width="720" height="116" alt="{{.Alt}}">
</li>
{{- end}}
</ul>
</section>
{{- end}}
</main>
<footer>
<p class="legend">Bars: uptime per UTC day over the last {{.Days}} days (green: every check up; light green: 99% or more; amber: 95% or more; red: less; grey: no checks). Line: mean response time per hour over the last {{.Hours}} hours, dashed: the 95th percentile. A check is up when it got a 2xx or 3xx answer without error and its body matched the expected text, if any.</p>
</footer>
</body>
</html>
`))

// svgTemplate is one endpoint's SVG: the daily uptime bars, then the
// hourly response-time sparkline. Standalone: it names its namespace and
// size, and every bar and point has a title.
var svgTemplate = template.Must(template.New("svg").Parse(`<svg xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="{{.Label}}" font-family="system-ui, sans-serif" font-size="10" fill="#4b5563">
<title>{{.Label}}</title>
<g>
{{- range .Bars}}
<rect x="{{.X}}" y="0" width="{{.W}}" height="{{.H}}" rx="1" fill="{{.Color}}"><title>{{.Title}}</title></rect>
{{- end}}
</g>
<text x="0" y="47">{{.Days}} days ago</text>
<text x="{{.Width}}" y="47" text-anchor="end">today</text>
<line x1="0" y1="{{.Base}}" x2="{{.Width}}" y2="{{.Base}}" stroke="#e5e7eb"/>
{{- if .P95}}
<path d="{{.P95}}" fill="none" stroke="#93c5fd" stroke-width="1.5" stroke-dasharray="4 3"/>
{{- end}}
{{- if .Mean}}
<path d="{{.Mean}}" fill="none" stroke="#2563eb" stroke-width="2"/>
{{- end}}
{{- range .Points}}
<circle cx="{{.X}}" cy="{{.Y}}" r="2.5" fill="#2563eb"><title>{{.Title}}</title></circle>
{{- end}}
<text x="0" y="{{.LabelY}}">{{.Hours}} h ago</text>
<text x="{{.Mid}}" y="{{.LabelY}}" text-anchor="middle">{{.Caption}}</text>
<text x="{{.Width}}" y="{{.LabelY}}" text-anchor="end">now</text>
</svg>
`))
