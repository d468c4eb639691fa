package inflate

import (
	"bytes"
	"compress/gzip"
	"errors"
	"testing"
)

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCapped(t *testing.T) {
	payload := bytes.Repeat([]byte("watcher "), 1000) // 8,000 bytes
	if got, err := Capped(gz(t, payload), len(payload)); err != nil || !bytes.Equal(got, payload) {
		t.Errorf("at the cap: %d bytes, %v; want the payload back", len(got), err)
	}
	bomb := gz(t, make([]byte, 1<<20)) // a megabyte of zeros in about a kilobyte
	if _, err := Capped(bomb, 64<<10); !errors.Is(err, ErrTooLarge) {
		t.Errorf("%d bytes inflating to 1 MiB under a 64 KiB cap: %v, want ErrTooLarge", len(bomb), err)
	}
	if _, err := Capped([]byte("not gzip"), 1<<10); err == nil || errors.Is(err, ErrTooLarge) {
		t.Errorf("not gzip: %v, want a format error", err)
	}
}
