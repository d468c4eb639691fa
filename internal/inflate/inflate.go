// Package inflate reads gzip-compressed payloads that arrive from outside
// the process (shards from the fanout, record-queue messages) without
// letting a small payload inflate into unbounded memory.
package inflate

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// ErrTooLarge is returned for a payload that inflates beyond its cap.
var ErrTooLarge = errors.New("inflates beyond its cap")

// Capped returns the inflated gz, reading at most limit bytes of it: a
// payload that inflates beyond limit returns ErrTooLarge (wrapped, with the
// cap), whatever its compressed size.
func Capped(gz []byte, limit int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, fmt.Errorf("%w of %d bytes", ErrTooLarge, limit)
	}
	return out, nil
}
