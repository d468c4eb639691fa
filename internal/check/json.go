package check

import "time"

// Columns is a result keyed by its metrics column names, null where a value
// is absent: the JSON form `watcher check` prints. (Not a MarshalJSON method,
// which types embedding Result would inherit by accident.)
type Columns struct {
	StartedAt      time.Time `json:"started_at"`
	ResponseTimeMS float64   `json:"response_time_ms"`
	StatusCode     *int      `json:"status_code"`
	RegexMatch     *bool     `json:"regex_match"`
	Error          *string   `json:"error"`
	ErrorDetail    *string   `json:"error_detail"`
	DNSMS          float64   `json:"dns_ms"`
	ConnectMS      float64   `json:"connect_ms"`
	TLSMS          float64   `json:"tls_ms"`
	TTFBMS         float64   `json:"ttfb_ms"`
	BodyBytes      int64     `json:"body_bytes"`
}

// MS is a duration in milliseconds with microsecond resolution, the unit of
// every *_ms column.
func MS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Columns returns the result keyed by column.
func (r *Result) Columns() Columns {
	v := Columns{
		StartedAt:      r.StartedAt,
		ResponseTimeMS: MS(r.ResponseTime),
		StatusCode:     r.StatusCode,
		RegexMatch:     r.RegexMatch,
		DNSMS:          MS(r.DNS),
		ConnectMS:      MS(r.Connect),
		TLSMS:          MS(r.TLS),
		TTFBMS:         MS(r.TTFB),
		BodyBytes:      r.BodyBytes,
	}
	if r.Error != "" {
		v.Error, v.ErrorDetail = &r.Error, &r.ErrorDetail
	}
	return v
}
