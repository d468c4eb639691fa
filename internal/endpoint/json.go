package endpoint

import (
	"encoding/json"
	"time"
)

// endpointJSON is Endpoint with durations as whole milliseconds.
type endpointJSON struct {
	jsonFields
	IntervalMS int64 `json:"interval_ms"`
	TimeoutMS  int64 `json:"timeout_ms"`
}

type jsonFields Endpoint // drops the methods, so no recursion

// MarshalJSON writes durations as interval_ms and timeout_ms.
func (e Endpoint) MarshalJSON() ([]byte, error) {
	return json.Marshal(endpointJSON{
		jsonFields: jsonFields(e),
		IntervalMS: e.Interval.Milliseconds(),
		TimeoutMS:  e.Timeout.Milliseconds(),
	})
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (e *Endpoint) UnmarshalJSON(data []byte) error {
	var v endpointJSON
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*e = Endpoint(v.jsonFields)
	e.Interval = time.Duration(v.IntervalMS) * time.Millisecond
	e.Timeout = time.Duration(v.TimeoutMS) * time.Millisecond
	return nil
}
