// Package emf writes CloudWatch Embedded Metric Format lines: one JSON log
// line per invocation that CloudWatch turns into metrics, with no API call.
package emf

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Namespace holds every Watcher metric.
const Namespace = "Watcher"

// Metric is one value of a line.
type Metric struct {
	Name  string
	Unit  string // Count, Milliseconds, None, ...
	Value float64
}

// Write prints one EMF line. Dimensions must stay low-cardinality (function,
// location): each distinct set is a separate, billed metric.
func Write(w io.Writer, at time.Time, dims map[string]string, metrics []Metric) error {
	names := make([]string, 0, len(dims))
	line := make(map[string]any, len(dims)+len(metrics)+1)
	for k, v := range dims {
		names = append(names, k)
		line[k] = v
	}
	defs := make([]map[string]string, len(metrics))
	for i, m := range metrics {
		defs[i] = map[string]string{"Name": m.Name, "Unit": m.Unit}
		line[m.Name] = m.Value
	}
	line["_aws"] = map[string]any{
		"Timestamp": at.UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{
			"Namespace":  Namespace,
			"Dimensions": [][]string{names},
			"Metrics":    defs,
		}},
	}
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("encode EMF line: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
