// Package regex owns an endpoint's regular expression: its meaning and the
// engine that evaluates it.
//
// Patterns are written for Python's re module (the predecessor used
// re.search) and are searched unanchored anywhere in a body. Go's RE2 engine
// evaluates them when it accepts the pattern (linear time, no timeout
// needed); patterns that need lookaround, backreferences and the like fall
// back to a backtracking engine (regexp2) with a match timeout.
//
// Neither engine speaks Python's dialect exactly, so Compile first rewrites
// the few constructs whose meaning differs (see translate.go):
//
//   - \d \w \s and their negations are Unicode-aware in Python 3 (\w is every
//     letter and number plus '_', \s includes \v and \x1c-\x1f); RE2's are
//     ASCII. They become explicit Unicode classes, or ASCII ones under (?a).
//   - \Z is the very end in Python (\z in Go); {,n} means {0,n}; a '[' inside a
//     class is literal (no POSIX classes, no .NET subtraction); (?P<name>),
//     (?P=name), (?#...), (?x) and octal escapes are spelled for the engines.
//   - \b and \B follow Python's Unicode word characters. RE2's \b is ASCII-only,
//     which is exact on ASCII bodies; a body with non-ASCII bytes is searched
//     by regexp2 with \b written as lookarounds over Python's word class.
//   - $ without (?m) matches at the end and also before a final newline in
//     Python, but only at the end in RE2. For a body that ends in "\n" RE2
//     searches the body and the body without that newline: exact whenever
//     nothing in the pattern can match a newline or \z (a match would then
//     have to consume that final newline after $). Other such patterns search
//     those bodies with regexp2, whose $ is Python's.
//
// Known residual differences: Unicode tables are Go's (Unicode 15) rather than
// those of the Python that wrote the pattern; case folding under (?i) is
// simple folding, and (?a) does not confine it to ASCII; \N{NAME} escapes are not supported; Python before 3.14 does
// not let \B match an empty string. regexp2 also accepts patterns that
// Python's re rejects (variable-width lookbehind, as in the predecessor's own
// example), evaluated with the meaning Python's third-party regex module gives
// them.
package regex

import (
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"

	"github.com/dlclark/regexp2/v2"
)

// Engine names, as reported by Engine.
const (
	EngineRE2       = "re2"
	EngineBacktrack = "regexp2"
)

// DefaultMatchTimeout bounds one backtracking match when Compile is given no
// positive timeout.
const DefaultMatchTimeout = time.Second

// Errors returned by Match when the backtracking engine gives up. Neither
// error's text includes the body (regexp2's own timeout error quotes the
// whole input).
var (
	ErrTimeout        = errors.New("regex match timed out")
	ErrBacktrackLimit = errors.New("regex match exceeded the backtracking stack limit")
)

// Regex is a compiled pattern. It is safe for concurrent use.
type Regex struct {
	pattern string

	// re2 is nil when RE2 rejects the pattern; bt is set when RE2 rejects it
	// or when some bodies need regexp2 to keep Python's meaning.
	re2 *regexp.Regexp
	bt  *regexp2.Regexp

	asciiWord bool // RE2's \b is exact only on ASCII bodies
	dollar    bool // a $ outside (?m): bodies ending in "\n" need care
	trimExact bool // with dollar: searching the body without its final "\n" is exact
}

// Compile compiles a Python-syntax pattern with RE2, falling back to regexp2
// with the given match timeout (DefaultMatchTimeout when not positive). The
// error names both engines' complaints when neither accepts it.
func Compile(pattern string, matchTimeout time.Duration) (*Regex, error) {
	if matchTimeout <= 0 {
		matchTimeout = DefaultMatchTimeout
	}
	r := &Regex{pattern: pattern}
	re2src, unicodeWord := translate(pattern, dialectRE2)
	re2, errRE2 := regexp.Compile(re2src)
	if errRE2 == nil {
		r.re2 = searchForm(re2src, re2)
		r.asciiWord = unicodeWord
		r.inspect(re2src)
		if !r.asciiWord && (!r.dollar || r.trimExact) {
			return r, nil // RE2 alone keeps Python's meaning for every body
		}
	}
	btsrc, _ := translate(pattern, dialectBacktrack)
	bt, errBT := compileBacktrack(btsrc, matchTimeout)
	if errBT == nil {
		r.bt = bt
		return r, nil
	}
	if r.re2 != nil {
		// regexp2 rejects what RE2 takes (only patterns outside Python's
		// syntax do): RE2 alone is the closest meaning there is.
		return r, nil
	}
	// Report the complaints about the pattern as written where they exist,
	// so the message quotes what the user wrote, not the translation.
	if _, err := regexp.Compile(pattern); err != nil {
		errRE2 = err
	}
	if _, err := compileBacktrack(pattern, matchTimeout); err != nil {
		errBT = err
	}
	return nil, fmt.Errorf("regex %q: re2: %w; regexp2: %w", pattern, errRE2, errBT)
}

// compileBacktrack compiles with regexp2's default (.NET-like) options, whose
// $ is Python's, numbering named and unnamed groups in pattern order as
// Python does (for \1), and guarding against panics on hostile patterns.
func compileBacktrack(src string, matchTimeout time.Duration) (re *regexp2.Regexp, err error) {
	defer func() {
		if p := recover(); p != nil {
			re, err = nil, fmt.Errorf("regexp2 panicked compiling the pattern: %v", p)
		}
	}()
	re, err = regexp2.Compile(src, regexp2.None, regexp2.OptionMaintainCaptureOrder())
	if err != nil {
		return nil, err
	}
	re.MatchTimeout = matchTimeout
	return re, nil
}

// inspect records which bodies RE2 cannot search with Python's meaning.
func (r *Regex) inspect(re2src string) {
	tree, err := syntax.Parse(re2src, syntax.Perl)
	if err != nil {
		return // cannot happen: regexp.Compile parsed it with these flags
	}
	var newline, textEnd bool
	walk(tree, func(n *syntax.Regexp) {
		switch n.Op {
		case syntax.OpEndText:
			if n.Flags&syntax.WasDollar != 0 {
				r.dollar = true
			} else {
				textEnd = true
			}
		case syntax.OpAnyChar:
			newline = true
		case syntax.OpLiteral:
			newline = newline || strings.ContainsRune(string(n.Rune), '\n')
		case syntax.OpCharClass:
			for i := 0; i+1 < len(n.Rune); i += 2 {
				newline = newline || (n.Rune[i] <= '\n' && '\n' <= n.Rune[i+1])
			}
		}
	})
	r.trimExact = !newline && !textEnd
}

func walk(n *syntax.Regexp, visit func(*syntax.Regexp)) {
	visit(n)
	for _, s := range n.Sub {
		walk(s, visit)
	}
}

// Engine reports which engine evaluates the pattern: EngineRE2 when RE2
// accepts it (regexp2 may still search the few bodies described in the
// package comment), EngineBacktrack otherwise.
func (r *Regex) Engine() string {
	if r.re2 != nil {
		return EngineRE2
	}
	return EngineBacktrack
}

// String returns the source pattern.
func (r *Regex) String() string { return r.pattern }

// Match reports whether the pattern occurs anywhere in body, as Python's
// re.search would. body is read as UTF-8. The error is ErrTimeout or
// ErrBacktrackLimit when the backtracking engine gives up.
func (r *Regex) Match(body []byte) (bool, error) {
	if r.backtracks(body) {
		return r.matchBacktrack(body)
	}
	if r.dollar && len(body) > 0 && body[len(body)-1] == '\n' {
		// Python's $ also matches just before the final newline, which is
		// the end of the body without it.
		return r.re2.Match(body) || r.re2.Match(body[:len(body)-1]), nil
	}
	return r.re2.Match(body), nil
}

// backtracks reports whether Match searches body with the backtracking
// engine rather than RE2.
func (r *Regex) backtracks(body []byte) bool {
	switch {
	case r.re2 == nil:
		return true
	case r.bt == nil:
		return false
	case r.asciiWord && !isASCII(body):
		return true
	}
	return r.dollar && !r.trimExact && len(body) > 0 && body[len(body)-1] == '\n'
}

func (r *Regex) matchBacktrack(body []byte) (ok bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			ok, err = false, errMatchPanicked
		}
	}()
	ok, err = r.bt.MatchString(string(body))
	switch {
	case err == nil:
		return ok, nil
	case errors.Is(err, regexp2.ErrBacktrackingStackLimit):
		return false, ErrBacktrackLimit
	case strings.HasPrefix(err.Error(), "match timeout"):
		// regexp2 v2 reports a timeout only as fmt.Errorf text that
		// quotes the input: keep the sentinel, drop the text.
		return false, ErrTimeout
	default:
		return false, errMatchFailed
	}
}

// isASCII reports whether b has no byte above 0x7f, eight bytes at a time.
func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
