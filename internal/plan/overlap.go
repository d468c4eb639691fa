package plan

// overlapResolution is the width, in milliseconds, of the time buckets in
// which overlap counts checks in flight. A check counts in every bucket its
// [instant, instant + duration) touches, so the count of a bucket is at
// least the number of checks in flight at any moment within it: the peak
// over buckets bounds the true peak from above, by no more than the checks
// that start or end within one bucket of each other.
const overlapResolution = 10

// overlap tracks the peak number of a shard's checks in flight at once, as
// checks are added and taken away: a segment tree over the buckets of a
// window, each node holding what was added to its whole range and the
// largest count within it, so that adding an interval and reading the peak
// cost a logarithm of the window, not its length.
type overlap struct {
	origin int64 // ms of the first bucket
	n      int   // buckets
	add    []int32
	peak   []int32 // peak[node]: the largest count in node's range, add[node] included
}

// newOverlap covers the window of ms milliseconds from origin. Buckets
// are aligned on multiples of overlapResolution since the epoch.
func newOverlap(origin, ms int64) *overlap {
	if r := origin % overlapResolution; r != 0 {
		origin, ms = origin-r, ms+r
	}
	n := int(max(1, (ms+overlapResolution-1)/overlapResolution))
	return &overlap{origin: origin, n: n, add: make([]int32, 4*n), peak: make([]int32, 4*n)}
}

// reset empties the tracker for the next shard.
func (o *overlap) reset() {
	clear(o.add)
	clear(o.peak)
}

// top is the peak number of checks in flight.
func (o *overlap) top() int { return int(o.peak[1]) }

// addInterval adds v checks in flight over [start, start + dur), in ms.
// Intervals beyond the window are clipped to it.
func (o *overlap) addInterval(start, dur int64, v int32) {
	lo := int((start - o.origin) / overlapResolution)
	hi := int((start + max(dur, 1) - 1 - o.origin) / overlapResolution)
	lo, hi = max(lo, 0), min(hi, o.n-1)
	if lo > hi {
		return
	}
	o.update(1, 0, o.n-1, lo, hi, v)
}

func (o *overlap) update(node, lo, hi, a, b int, v int32) {
	if a <= lo && hi <= b {
		o.add[node] += v
		o.peak[node] += v
		return
	}
	mid := (lo + hi) / 2
	if a <= mid {
		o.update(2*node, lo, mid, a, b, v)
	}
	if b > mid {
		o.update(2*node+1, mid+1, hi, a, b, v)
	}
	o.peak[node] = max(o.peak[2*node], o.peak[2*node+1]) + o.add[node]
}
