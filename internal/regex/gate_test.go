package regex

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// catastrophic needs the backtracking engine and takes exponential time on
// bodyHostile.
const catastrophic = `^(?=(a+)+$)`

var bodyHostile = []byte(strings.Repeat("a", 40) + "b")

// TestMatchContextAgreesWithMatch runs bodies that need the backtracking
// engine through the worker process and checks it answers as Match does in
// this process, errors included.
func TestMatchContextAgreesWithMatch(t *testing.T) {
	tests := []struct {
		pattern string
		body    string
	}{
		{`welcome(?= home)`, "welcome home"},
		{`welcome(?= home)`, "welcome away"},
		{`(a)b\1`, "xxabay aba"},
		{`\bwelcome\b`, "é welcome"},
		{`\bwelcome\b`, "éwelcome"},
		{`x\s?$`, "ax\n"},
		{`^(?=(a+)+$)`, string(bodyHostile)}, // times out in both
	}
	for _, tt := range tests {
		re, err := Compile(tt.pattern, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(tt.body)
		if !re.backtracks(body) {
			t.Fatalf("%q on %q: searched by RE2, the test needs the backtracking engine", tt.pattern, tt.body)
		}
		want, wantErr := re.Match(body)
		got, err := re.MatchContext(context.Background(), body)
		if got != want || !errors.Is(err, wantErr) {
			t.Errorf("%q on %q: MatchContext = %v, %v; Match = %v, %v", tt.pattern, tt.body, got, err, want, wantErr)
		}
	}
}

// TestGateBusy holds the gate's only slot: a backtracking match gives up
// with ErrBusy when its context ends, and runs once the slot is free.
func TestGateBusy(t *testing.T) {
	g := newGate(1)
	re, err := Compile(`welcome(?= home)`, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	g.slots <- struct{}{} // a hostile match holds the slot
	if ok, err := g.match(ended, re, []byte("welcome home")); ok || !errors.Is(err, ErrBusy) {
		t.Errorf("with the slot held: match = %v, %v; want ErrBusy", ok, err)
	}
	<-g.slots
	if ok, err := g.match(context.Background(), re, []byte("welcome home")); !ok || err != nil {
		t.Errorf("with the slot free: match = %v, %v", ok, err)
	}
	waitSlotsFree(t, g)
	// RE2 searches never meet the gate.
	plain, err := Compile(`welcome`, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := plain.MatchContext(ended, []byte("welcome")); !ok || err != nil {
		t.Errorf("RE2 search with an ended context: %v, %v", ok, err)
	}
}

// TestGateAbandonsAtDeadline ends the caller's context while the worker
// backtracks: the caller gets ErrTimeout at once, and the slot stays taken
// until the worker has finished.
func TestGateAbandonsAtDeadline(t *testing.T) {
	g := newGate(1)
	re, err := Compile(catastrophic, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if ok, err := g.match(ctx, re, bodyHostile); ok || !errors.Is(err, ErrTimeout) {
		t.Fatalf("match = %v, %v; want ErrTimeout", ok, err)
	}
	if len(g.slots) != 1 {
		t.Error("the slot came free while the worker still backtracked")
	}
	waitSlotsFree(t, g)
}

// TestGateSurvivesWorkerExit kills the worker mid-match: the match reports
// the exit, its slot comes back, and the next match starts a new worker.
func TestGateSurvivesWorkerExit(t *testing.T) {
	g := newGate(1)
	slow, err := Compile(catastrophic, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		ok  bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		ok, err := g.match(context.Background(), slow, bodyHostile)
		done <- result{ok, err}
	}()
	first := waitWorker(t, g, nil)
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.ok || !errors.Is(r.err, errWorkerExited) {
		t.Errorf("match during the kill = %v, %v; want errWorkerExited", r.ok, r.err)
	}
	waitSlotsFree(t, g)
	re, err := Compile(`welcome(?= home)`, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := g.match(context.Background(), re, []byte("welcome home")); !ok || err != nil {
		t.Errorf("after the kill: match = %v, %v", ok, err)
	}
	waitWorker(t, g, first)
}

// TestServeRefusesCorruptRequests feeds the worker's loop directly: a clean
// end of input exits 0, a truncated or oversized request exits 1.
func TestServeRefusesCorruptRequests(t *testing.T) {
	request := func(plen, blen uint32, data string) []byte {
		var hdr [24]byte
		binary.LittleEndian.PutUint64(hdr[8:], uint64(time.Second))
		binary.LittleEndian.PutUint32(hdr[16:], plen)
		binary.LittleEndian.PutUint32(hdr[20:], blen)
		return append(hdr[:], data...)
	}
	tests := []struct {
		name string
		in   []byte
		want int
	}{
		{"no requests", nil, 0},
		{"truncated header", make([]byte, 10), 1},
		{"truncated body", request(3, 10, "a(?=b)ab"), 1},
		{"pattern over the limit", request(maxPattern+1, 0, ""), 1},
	}
	for _, tt := range tests {
		if got := serve(bytes.NewReader(tt.in), io.Discard, io.Discard); got != tt.want {
			t.Errorf("%s: serve = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func waitSlotsFree(t *testing.T, g *gate) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(g.slots) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d slots still taken", len(g.slots))
		}
	}
}

// waitWorker waits until g runs a worker other than not, and returns it.
func waitWorker(t *testing.T, g *gate, not *worker) *worker {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		g.mu.Lock()
		w := g.w
		g.mu.Unlock()
		if w != nil && w != not {
			return w
		}
		if time.Now().After(deadline) {
			t.Fatal("no new worker started")
		}
	}
}

// TestGateWithoutWorker: when no worker can start, matches run in this
// process, still bounded by the slots.
func TestGateWithoutWorker(t *testing.T) {
	g := newGate(1)
	g.noSpawn = errors.New("no executable")
	re, err := Compile(`welcome(?= home)`, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := g.match(context.Background(), re, []byte("welcome home")); !ok || err != nil {
		t.Errorf("match = %v, %v", ok, err)
	}
	if g.w != nil || len(g.slots) != 0 {
		t.Errorf("worker %v started or %d slots left taken", g.w, len(g.slots))
	}
}

// TestGateInAWorkerThatDidNotServe: a process started as the worker whose
// main lacks ServeWorkerIfAsked spawns no worker of its own (that would be
// another copy of its main) and matches in process.
func TestGateInAWorkerThatDidNotServe(t *testing.T) {
	args := os.Args
	t.Cleanup(func() { os.Args = args })
	os.Args = []string{args[0], workerArg}
	g := newGate(1)
	re, err := Compile(`welcome(?= home)`, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := g.match(context.Background(), re, []byte("welcome home")); !ok || err != nil {
		t.Errorf("match = %v, %v", ok, err)
	}
	if g.w != nil || g.noSpawn == nil || !strings.Contains(g.noSpawn.Error(), "ServeWorkerIfAsked") {
		t.Errorf("worker %v, noSpawn %v; want none and why", g.w, g.noSpawn)
	}
}
