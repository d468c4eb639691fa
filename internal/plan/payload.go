package plan

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/watcher-dev/watcher/internal/inflate"
)

// Shard payloads. Lambda takes an Invoke payload only as JSON, so a
// compressed shard travels as base64 text in a JSON object:
// {"shard_gz":"<base64 of the gzip of the shard's JSON>"}. Small shards stay
// plain JSON, so event fixtures and logs stay readable.
const (
	// CompressFrom is the JSON size from which a shard is compressed.
	CompressFrom = 64 << 10
	// MaxShardJSONBytes caps what DecodeShard decompresses, so that a
	// hostile payload (1 MB of gzip can hold a gigabyte) cannot exhaust a
	// probe's memory: four times DefaultOptions.MaxJSONBytes. EncodeShard
	// leaves larger JSON plain, so whatever it compresses decodes.
	MaxShardJSONBytes = 16 << 20
	// compressLevel: BestSpeed, as the fanout has 0.14 of a vCPU. On a
	// shard of 10,000 of the reference's endpoints (BenchmarkEncodeShard)
	// it compressed 1.85 MB of JSON to 132 KB in 2.9 ms on top of the
	// 16.3 ms of the JSON itself; DefaultCompression took 5.6 ms for 9 %
	// fewer bytes.
	compressLevel = gzip.BestSpeed
)

// ErrShardTooLarge is returned by DecodeShard for a compressed shard whose
// JSON exceeds MaxShardJSONBytes.
var ErrShardTooLarge = errors.New("compressed shard expands past MaxShardJSONBytes (16 MiB)")

// compressed is the JSON form of a compressed shard.
type compressed struct {
	GZ []byte `json:"shard_gz"` // base64 in JSON
}

const (
	compressedPrefix = `{"shard_gz":"`
	compressedSuffix = `"}`
)

// EncodeShard returns the payload of the Invoke that starts sh's probe: its
// JSON, or from CompressFrom bytes on its compressed form, unless that is no
// smaller (an incompressible shard). So an encoding is never larger than
// the JSON. sh.Payload is not part of it.
func EncodeShard(sh *Shard) ([]byte, error) {
	var e Encoder
	return e.Encode(sh)
}

// Encoder encodes shards as EncodeShard does, reusing its compressor, which
// allocates about a megabyte when new. Not for concurrent use; the zero
// value is ready.
type Encoder struct {
	level int // 0: compressLevel
	gz    *gzip.Writer
	buf   bytes.Buffer
}

// Encode is EncodeShard.
func (e *Encoder) Encode(sh *Shard) ([]byte, error) {
	payload, _, err := e.encode(sh)
	return payload, err
}

// Payload is Shard.Encoded with this encoder: the planner's Payload, or
// the shard encoded now.
func (e *Encoder) Payload(sh *Shard) ([]byte, error) {
	if sh.Payload != nil {
		return sh.Payload, nil
	}
	return e.Encode(sh)
}

// encode is Encode; it also returns the size of the shard's JSON.
func (e *Encoder) encode(sh *Shard) (payload []byte, plain int, err error) {
	js, err := json.Marshal(sh)
	if err != nil {
		return nil, 0, fmt.Errorf("encode shard %s/%d: %w", sh.Location, sh.Index, err)
	}
	if len(js) < CompressFrom || len(js) > MaxShardJSONBytes {
		return js, len(js), nil
	}
	e.buf.Reset()
	if e.gz == nil {
		if e.gz, err = gzip.NewWriterLevel(&e.buf, cmp.Or(e.level, compressLevel)); err != nil {
			return nil, 0, fmt.Errorf("compress shard %s/%d: %w", sh.Location, sh.Index, err)
		}
	} else {
		e.gz.Reset(&e.buf)
	}
	// Writes to a bytes.Buffer do not fail.
	_, _ = e.gz.Write(js)
	_ = e.gz.Close()
	n := len(compressedPrefix) + base64.StdEncoding.EncodedLen(e.buf.Len()) + len(compressedSuffix)
	if n >= len(js) {
		return js, len(js), nil
	}
	payload = make([]byte, 0, n)
	payload = append(payload, compressedPrefix...)
	payload = base64.StdEncoding.AppendEncode(payload, e.buf.Bytes())
	payload = append(payload, compressedSuffix...)
	return payload, len(js), nil
}

// DecodeShard reads a shard payload in either form EncodeShard writes: plain
// JSON (what event fixtures and fanouts before compression send) or
// compressed, whose JSON it reads up to MaxShardJSONBytes.
func DecodeShard(payload []byte) (Shard, error) {
	// One parse reads a plain shard, or finds the compressed form.
	var w struct {
		compressed
		Shard
	}
	if err := json.Unmarshal(payload, &w); err != nil {
		return Shard{}, fmt.Errorf("decode shard: %w", err)
	}
	if w.GZ == nil {
		return w.Shard, nil
	}
	js, err := inflate.Capped(w.GZ, MaxShardJSONBytes)
	if errors.Is(err, inflate.ErrTooLarge) {
		return Shard{}, fmt.Errorf("decode shard: %w", ErrShardTooLarge)
	}
	if err != nil {
		return Shard{}, fmt.Errorf("decode shard: shard_gz: %w", err)
	}
	var sh Shard
	if err := json.Unmarshal(js, &sh); err != nil {
		return Shard{}, fmt.Errorf("decode shard: shard_gz: %w", err)
	}
	return sh, nil
}
