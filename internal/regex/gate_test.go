package regex

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestGate holds the gate's only slot and checks who may still match: RE2
// searches pass, backtracking searches wait and give up with ErrBusy when
// their context ends; once the slot is free they run.
func TestGate(t *testing.T) {
	g := NewGate(1)
	g.slots <- struct{}{} // a hostile match holds the slot
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		pattern string
		body    string
		wantErr error
		want    bool
	}{
		{"RE2 pattern passes", `welcome`, "you are welcome", nil, true},
		{"RE2 pattern with ASCII \\b passes", `\bwelcome\b`, "you are welcome", nil, true},
		{"lookahead waits for the slot", `welcome(?= home)`, "welcome home", ErrBusy, false},
		{"\\b on a non-ASCII body waits", `\bwelcome\b`, "é welcome", ErrBusy, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			re, err := Compile(tt.pattern, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			got, err := g.Match(ended, re, []byte(tt.body))
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("Match = %v, %v; want %v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	<-g.slots
	re, err := Compile(`welcome(?= home)`, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := g.Match(ended, re, []byte("welcome home")); !ok || err != nil {
		t.Errorf("with the slot free: Match = %v, %v", ok, err)
	}
	if len(g.slots) != 0 {
		t.Error("the slot was not given back")
	}
	var none *Gate
	if ok, err := none.Match(ended, re, []byte("welcome home")); !ok || err != nil {
		t.Errorf("nil gate: Match = %v, %v", ok, err)
	}
}
