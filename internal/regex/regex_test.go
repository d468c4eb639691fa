package regex

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

// pyCases writes the agreement tables as JSON and skips the tests, so that
// testdata/pyverify.py can check every want against Python again.
var pyCases = flag.String("pycases", "", "write the Python agreement tables as JSON to this file")

type matchCase struct {
	name    string
	pattern string
	input   string
	want    bool
}

// pythonCases: every want is what python3 (3.11.7, Unicode 14) gives for
// re.search(pattern, input) is not None, and Python's re accepts every
// pattern. Verified with:
//
//	go test ./internal/regex -run TestMatchAgreesWithPython -args -pycases=/tmp/cases.json
//	python3 internal/regex/testdata/pyverify.py /tmp/cases.json
var pythonCases = []matchCase{
	{"literal", `welcome`, "You are always welcome!", true},
	{"literal absent", `welcome`, "You are not invited.", false},
	{"unanchored middle", `always`, "You are always welcome!", true},
	{"dot star prefix", `.*welcome`, "You are always welcome!", true},
	{"dot stops at newline", `a.b`, "a\nb", false},
	{"dotall", `(?s)a.b`, "a\nb", true},
	{"empty pattern", ``, "", true},
	{"ignorecase", `(?i)WELCOME`, "You are always welcome!", true},
	{"ignorecase unicode", `(?i)ÉCOLE`, "une école", true},
	{"scoped ignorecase hit", `(?i:hello) World`, "HELLO World", true},
	{"scoped ignorecase miss", `(?i:hello) World`, "HELLO world", false},
	{"ignorecase class", `(?i)^[a-c]+$`, "ABCabc", true},
	{"caret start", `^You`, "You are", true},
	{"caret not mid", `^are`, "You are", false},
	{"multiline caret", `(?m)^are`, "You\nare", true},
	{"multiline caret after final newline", `(?m)^$`, "a\n", true},
	{"multiline dollar", `(?m)end$`, "end\nnext", true},
	{"dollar not before inner newline", `end$`, "end\nnext", false},
	{"dollar at end", `welcome!$`, "You are always welcome!", true},
	{"dollar before final newline", `welcome!$`, "You are always welcome!\n", true},
	{"dollar not before two newlines", `welcome!$`, "welcome!\n\n", false},
	{"dollar only body newline", `^$`, "\n", true},
	{"dollar empty body", `^$`, "", true},
	{"dollar then newline", `a$\n`, "a\n", true},
	{"dollar then space class", `b$\s`, "ab\n", true},
	{"dollar negated class", `[^x]$`, "ab\n", true},
	{"dollar alternation", `x$|y`, "ax\n", true},
	{"Z is the very end", `welcome!\Z`, "welcome!\n", false},
	{"Z at end", `welcome!\Z`, "welcome!", true},
	{"A and Z empty", `\A\Z`, "\n", false},
	{"lookahead hit", `welcome(?=!)`, "welcome!", true},
	{"negative lookahead", `welcome(?!!)`, "welcome!", false},
	{"lookbehind hit", `(?<=always )welcome`, "You are always welcome!", true},
	{"negative lookbehind", `(?<!always )welcome`, "You are always welcome!", false},
	{"backreference hit", `(\w+) \1`, "hello hello", true},
	{"backreference miss", `\b(\w+) \1\b`, "hello world", false},
	{"named group", `(?P<word>\w+)!`, "welcome!", true},
	{"named backreference", `(?P<w>\w+) (?P=w)`, "bye bye", true},
	{"conditional hit", `^(<)?\w+(?(1)>)$`, "<a>", true},
	{"conditional miss", `^(<)?\w+(?(1)>)$`, "<a", false},
	{"atomic group", `^(?>a*)a`, "aaa", false},
	{"possessive", `a*+a`, "aaa", false},
	{"lazy", `^a+?b$`, "aaab", true},
	{"optional", `colou?r`, "color", true},
	{"repeat upto", `^x{,2}y`, "xxxy", false},
	{"repeat upto unanchored", `x{,2}y`, "xxxy", true},
	{"repeat open", `^x{,}y$`, "xxxy", true},
	{"empty braces literal", `a{}`, "a{}", true},
	{"brace literal", `a{x}`, "a{x}", true},
	{"repeat above RE2 limit", `^a{1001}$`, strings.Repeat("a", 1001), true},
	{"class leading bracket", `[]a]+`, "]]", true},
	{"negated class leading bracket", `[^]]`, "]", false},
	{"posix class is literal", `[[:alpha:]]`, "a", false},
	{"posix class is literal hit", `[[:alpha:]]`, "a]", true},
	{"class dash", `[\w-]+@`, "jörg-x@", true},
	{"word unicode", `^\w+$`, "café", true},
	{"word unicode punctuation", `^\w+$`, "naïve!", false},
	{"word number", `^\w+$`, "x²", true},
	{"nonword unicode", `\W`, "café", false},
	{"digit unicode", `\d`, "٣", true},
	{"digit ascii flag", `(?a)\d`, "٣", false},
	{"scoped ascii flag", `(?a:\w)$`, "é", false},
	{"digits", `^\d+$`, "123", true},
	{"space vertical tab", `\s`, "\v", true},
	{"space file separator", `\s`, "\x1c", true},
	{"space nbsp", `\s`, "a\u00a0b", true},
	{"space em", `\s`, "\u2003", true},
	{"space ascii flag", `(?a)\s`, "\u00a0", false},
	{"nonspace", `\S`, " \t", false},
	{"boundary unicode end", `\bcafé\b`, "café!", true},
	{"boundary unicode inside", `\bcafé\b`, "cafés", false},
	{"boundary ascii", `\bwelcome\b`, "welcome!", true},
	{"boundary ascii inside", `\bwelcome\b`, "unwelcome", false},
	{"boundary before accent", `\bé`, "café", false},
	{"boundary ascii flag", `(?a)\bé`, "café", true},
	{"nonboundary unicode", `\Bé`, "café", true},
	{"boundary with dollar", `\bé$`, "ré é\n", true},
	{"class nonword", `^[\W\d]+$`, "!!", true},
	{"class nonword letters", `^[\W\d]+$`, "ab", false},
	{"class nonword unicode", `[\W]`, "é", false},
	{"negated class nonword", `[^\W]`, "é", true},
	{"class nonspace", `^[\S]+$`, "a\u00a0b", false},
	{"class nondigit", `^[\D]+$`, "ab٣", false},
	{"emoji", `😀+`, "hi 😀😀", true},
	{"dot is one code point", `^.$`, "😀", true},
	{"unicode escape", `caf\u00e9`, "café", true},
	{"long unicode escape", `\U0001F600`, "😀", true},
	{"hex escape", `\x41`, "A", true},
	{"octal escape", `\101`, "A", true},
	{"null escape", `a\0b`, "a\x00b", true},
	{"class octal", `[\1]`, "\x01", true},
	{"class backspace", `[\b]`, "\b", true},
	{"escaped dot", `a\.b`, "axb", false},
	{"escaped underscore", `\_`, "_", true},
	{"escaped dash", `\-`, "-", true},
	{"escaped space", `a\ b`, "a b", true},
	{"escaped unicode", `\é`, "é", true},
	{"close brace literal", `a}`, "a}", true},
	{"close bracket literal", `a]`, "a]", true},
	{"verbose", `(?x) wel come # a comment`, "welcome", true},
	{"verbose escaped space", `(?x)a\ b`, "a b", true},
	{"verbose class space", `(?x)a[ ]b`, "a b", true},
	{"verbose multiline", "(?x)\n  \\d+  # number\n  \\s* [a-z]+  # unit\n", "42 ms", true},
	{"comment group", `wel(?#comment)come`, "welcome", true},
	{"alternation", `cat|dog`, "hotdog", true},
	{"nested groups", `^(a(b|c))+$`, "abac", true},
	{"unicode literal miss", `école`, "ecole", false},
	{"backtracking negated digit", `(?=1)(|\D)\w`, "1", true},
	{"backtracking nonword boundary", `(?=é)\B\w`, "éé", true},
	{"named group numbering", `(?P<n>a)(b)\1`, "aba", true},
	{"named group numbering miss", `(?P<n>a)(b)\1`, "abb", false},
}

// predecessorPattern is the predecessor's own example. Python's re rejects
// it (variable-width lookbehind); the wants come from Python's third-party
// regex module (2026.5.9, regex.search(pattern, input, flags=regex.V0)),
// which accepts it with re's meaning otherwise, checked by pyverify.py too.
const predecessorPattern = `(?=^.*you.*welcome)(?!.*forbidden).*\b(?:[a-zA-Z]{3,6}\s?){2,4}\b(?<=\b[a-zA-Z]+\b)\s\d{1,3}(?<!100|200)\s(?:at|on)\s[0-9]{2}:[0-9]{2}(?=\s(?:AM|PM)$)`

var predecessorCases = []matchCase{
	{"match", predecessorPattern, "Hey you, you are welcome to join the party 42 at 10:30 PM", true},
	{"before final newline", predecessorPattern, "Hey you, you are welcome to join the party 42 at 10:30 PM\n", true},
	{"forbidden", predecessorPattern, "Hey you, you are welcome to join the forbidden party 42 at 10:30 PM", false},
	{"number 200", predecessorPattern, "Hey you, you are welcome to join the party 200 at 10:30 PM", false},
	{"number 300 on AM", predecessorPattern, "Hey you, you are welcome to join the party 300 on 10:30 AM", true},
	{"no you", predecessorPattern, "Hey, all are welcome to join the party 42 at 10:30 PM", false},
	{"not at end", predecessorPattern, "Hey you, you are welcome to join the party 42 at 10:30 PM!", false},
	{"welcome capitalised", predecessorPattern, "Hey you, you are Welcome to join the party 42 at 10:30 PM", false},
	{"second line", predecessorPattern, "first line\nHey you, you are welcome to join the party 42 at 10:30 PM", false},
	{"four digits", predecessorPattern, "Hey you, you are welcome to join the party 4242 at 10:30 PM", false},
}

func dumpCases(t *testing.T) bool {
	t.Helper()
	if *pyCases == "" {
		return false
	}
	type row struct {
		Name    string `json:"name"`
		Module  string `json:"module"`
		Pattern string `json:"pattern"`
		Input   string `json:"input"`
		Want    bool   `json:"want"`
	}
	var rows []row
	for _, c := range pythonCases {
		rows = append(rows, row{c.name, "re", c.pattern, c.input, c.want})
	}
	for _, c := range predecessorCases {
		rows = append(rows, row{"predecessor " + c.name, "regex", c.pattern, c.input, c.want})
	}
	b, err := json.MarshalIndent(rows, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(*pyCases, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Skipf("wrote %d cases to %s", len(rows), *pyCases)
	return true
}

func runCases(t *testing.T, cases []matchCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			re, err := Compile(c.pattern, time.Second)
			if err != nil {
				t.Fatalf("Compile(%q): %v", c.pattern, err)
			}
			got, err := re.Match([]byte(c.input))
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if got != c.want {
				t.Errorf("Match(%q, %q) = %v (engine %s), Python says %v", c.pattern, c.input, got, re.Engine(), c.want)
			}
		})
	}
}

func TestMatchAgreesWithPython(t *testing.T) {
	if dumpCases(t) {
		return
	}
	runCases(t, pythonCases)
}

func TestPredecessorPattern(t *testing.T) {
	if *pyCases != "" {
		t.Skip("dumping cases")
	}
	re, err := Compile(predecessorPattern, time.Second)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if re.Engine() != EngineBacktrack {
		t.Errorf("Engine() = %s, want %s", re.Engine(), EngineBacktrack)
	}
	runCases(t, predecessorCases)
}

func TestEngine(t *testing.T) {
	tests := []struct {
		name, pattern, want string
	}{
		{"literal", `welcome`, EngineRE2},
		{"ignorecase", `(?i)welcome`, EngineRE2},
		{"python named group", `(?P<w>\w+)`, EngineRE2},
		{"Z anchor", `ok\Z`, EngineRE2},
		{"repeat upto", `a{,3}`, EngineRE2},
		{"verbose", `(?x) a b`, EngineRE2},
		{"catastrophic in RE2 is linear", `(a+)+$`, EngineRE2},
		{"lookahead", `a(?=b)`, EngineBacktrack},
		{"lookbehind", `(?<=a)b`, EngineBacktrack},
		{"backreference", `(a)\1`, EngineBacktrack},
		{"named backreference", `(?P<a>x)(?P=a)`, EngineBacktrack},
		{"atomic", `(?>a+)b`, EngineBacktrack},
		{"above RE2 repeat limit", `a{2000}`, EngineBacktrack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			re, err := Compile(tt.pattern, time.Second)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.pattern, err)
			}
			if got := re.Engine(); got != tt.want {
				t.Errorf("Engine() = %s, want %s", got, tt.want)
			}
			if got := re.String(); got != tt.pattern {
				t.Errorf("String() = %q, want %q", got, tt.pattern)
			}
		})
	}
}

func TestCompileRejects(t *testing.T) {
	tests := []struct {
		name, pattern string
	}{
		{"unclosed group", `(unclosed`},
		{"reversed repeat", `a{2,1}`},
		{"nothing to repeat", `*abc`},
		{"reversed range", `[z-a]`},
		{"nested repeat", `a**`},
		{"unterminated class", `[abc`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			re, err := Compile(tt.pattern, time.Second)
			if err == nil {
				t.Fatalf("Compile(%q) = %s engine, want an error", tt.pattern, re.Engine())
			}
			msg := err.Error()
			for _, want := range []string{"re2:", "regexp2:", tt.pattern} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			if strings.Contains(msg, `\x{`) {
				t.Errorf("error %q quotes the translation, not the pattern", msg)
			}
		})
	}
}

func TestCatastrophicBacktracking(t *testing.T) {
	body := []byte(strings.Repeat("a", 64) + "b")
	tests := []struct {
		name    string
		pattern string
		engine  string
		wantErr error
	}{
		// RE2 takes the classic pattern and stays linear.
		{"re2 linear", `(a+)+$`, EngineRE2, nil},
		// A lookahead forces the backtracking engine, which must give up.
		{"regexp2 times out", `(?=a)(a+)+$`, EngineBacktrack, ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			re, err := Compile(tt.pattern, 10*time.Millisecond)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if re.Engine() != tt.engine {
				t.Fatalf("Engine() = %s, want %s", re.Engine(), tt.engine)
			}
			ok, err := re.Match(body)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Match = %v, %v; want error %v", ok, err, tt.wantErr)
			}
			if ok {
				t.Errorf("Match = true, want false")
			}
			if err != nil && strings.Contains(err.Error(), "aaaa") {
				t.Errorf("error %q quotes the body", err)
			}
		})
	}
}

// FuzzCompile: any pattern either compiles or is rejected, and a compiled
// pattern matches any body, without panicking.
func FuzzCompile(f *testing.F) {
	for _, c := range pythonCases {
		f.Add(c.pattern, c.input)
	}
	for _, s := range []string{
		predecessorPattern, `\`, `[`, `(?`, `(?P`, `(?P<`, `(?P=`, `(?(`, `(?#`, `{`, `{,`, `a{1,`, `[\`,
		`[a-`, `[]`, `[^]`, `\x`, `\u12`, `\U0011ffff`, `\777`, `(?x)#`, "(?x)[#]\n", `(?a-x:\W)`, `[\W-\S]`,
		"\xff", `\` + "\xff", "[\xff]", `(?i)\bß\b`, `$\n$`, `(?m)$`, `\Z$\z`,
	} {
		f.Add(s, "aaa\n")
	}
	f.Fuzz(func(t *testing.T, pattern, body string) {
		re, err := Compile(pattern, 5*time.Millisecond)
		if err != nil {
			return
		}
		if e := re.Engine(); e != EngineRE2 && e != EngineBacktrack {
			t.Fatalf("Engine() = %q", e)
		}
		for _, b := range []string{body, body + "\n", "", "\n", "é\n"} {
			_, err := re.Match([]byte(b))
			if err != nil && !errors.Is(err, ErrTimeout) && !errors.Is(err, ErrBacktrackLimit) {
				t.Fatalf("Match(%q) on %q: unexpected error %v", pattern, b, err)
			}
		}
	})
}

// body2K is a 2 KB page with the welcome message near its end.
var body2K = []byte(strings.Repeat("lorem ipsum dolor sit amet, you are here. ", 48) + "You are always welcome!")

func BenchmarkMatch(b *testing.B) {
	predecessorBody := []byte("Hey you, you are welcome " + strings.Repeat("to join ", 240) + "the party 42 at 10:30 PM")
	benches := []struct {
		name, pattern string
		body          []byte
	}{
		{"welcome", `welcome`, body2K},
		{"dotstar-welcome", `.*welcome`, body2K},
		{"boundary-welcome-ascii", `\bwelcome\b`, body2K},
		{"boundary-welcome-unicode", `\bwelcome\b`, append([]byte("é "), body2K...)},
		{"predecessor", predecessorPattern, predecessorBody},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			re, err := Compile(bb.pattern, time.Second)
			if err != nil {
				b.Fatal(err)
			}
			if ok, err := re.Match(bb.body); !ok || err != nil {
				b.Fatalf("Match = %v, %v; want true", ok, err)
			}
			b.SetBytes(int64(len(bb.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := re.Match(bb.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
