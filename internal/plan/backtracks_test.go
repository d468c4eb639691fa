package plan

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/regex"
)

// TestBacktracksNeverMissesTheBacktrackingEngine holds Backtracks, the
// planner's stand-in, to the engine the probe really picks: every pattern
// that internal/regex compiles for the backtracking engine must be costed
// as backtracking (the reverse, an RE2 pattern costed as backtracking, only
// makes the estimate more cautious). Patterns are listed by hand and made
// at random from pieces of Python's syntax. The common RE2 patterns must
// not be costed as backtracking, or the estimate would be useless.
func TestBacktracksNeverMissesTheBacktrackingEngine(t *testing.T) {
	patterns := []string{
		`welcome`, `.*welcome`, `(?i)"status":\s*"(ok|healthy)"`, `^OK$`, `\d+ items`, `(?P<word>\w+)!`,
		`welcome(?=!)`, `welcome(?!!)`, `(?<=always )welcome`, `(?<!always )welcome`, `(\w+) \1`,
		`(?P<w>\w+) (?P=w)`, `^(<)?\w+(?(1)>)$`, `^(?>a*)a`, `a*+a`, `a++`, `a?+b`, `a{2,3}+`, `^a{1001}$`,
		`x{,2}y`, `\bword\b`, `welcome!\Z`, `\A\Z`, `(?x) a b # comment`, `a(?#comment)b`, `\101`, `[\d-z]+`,
		`(a|b)*c\2`, `(?s)a.b`, `(?m)^are`, `(?a)\w+`, `\u00e9`, `\N{LATIN SMALL LETTER E}`, `(?i:hello) World`,
	}
	pieces := []string{
		"a", "b", ".", `\d`, `\w`, `\s`, `\b`, "^", "$", `\Z`, `\A`, "*", "+", "?", "*?", "*+", "{2}", "{1001}", "{,3}",
		"(", ")", "(?:", "(?=", "(?!", "(?<=", "(?<!", "(?>", "(?P<n>", "(?P=n)", `\1`, "(?(1)", "|", "[a-z]", "[^x]",
		"(?i)", "(?m)", "(?s)", "(?x)", "(?#c)", " ", `\\`,
	}
	r := rand.New(rand.NewPCG(7, 8))
	for range 20_000 {
		var b strings.Builder
		for range 1 + r.IntN(8) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		patterns = append(patterns, b.String())
	}
	compiled, backtracking, cautious := 0, 0, 0
	for _, p := range patterns {
		re, err := regex.Compile(p, time.Second)
		if err != nil {
			continue // refused at import: never planned
		}
		compiled++
		switch bt := Backtracks(p); {
		case re.Engine() == regex.EngineBacktrack && !bt:
			t.Errorf("%q runs on the backtracking engine, but Backtracks says no", p)
		case re.Engine() == regex.EngineBacktrack:
			backtracking++
		case bt:
			cautious++
		}
	}
	if backtracking == 0 || compiled < 1000 {
		t.Fatalf("%d patterns compiled, %d on the backtracking engine: the case tests nothing", compiled, backtracking)
	}
	t.Logf("%d patterns compiled, %d backtracking, %d RE2 ones costed as backtracking", compiled, backtracking, cautious)
	for _, p := range []string{`welcome`, `.*welcome`, `(?i)"status":\s*"(ok|healthy)"`, `^OK$`, `\d+ items`, `(?P<word>\w+)!`, `\bword\b`} {
		if Backtracks(p) {
			t.Errorf("%q runs on RE2, but Backtracks says it backtracks", p)
		}
	}
}
