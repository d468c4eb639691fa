package regex

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// dialect is the engine a translation is written for.
type dialect int

const (
	dialectRE2 dialect = iota
	dialectBacktrack
)

// translate rewrites a Python re pattern into the dialect of one engine with
// Python's meaning (see the package comment for what changes and why). It
// never fails: what it does not understand is copied as written, for the
// engine to accept or reject. unicodeWord reports a \b or \B over Unicode
// word characters, which the RE2 translation spells as RE2's ASCII \b.
func translate(pattern string, d dialect) (out string, unicodeWord bool) {
	t := translator{src: pattern, d: d, stack: []pyFlags{{}}}
	t.run()
	return t.out.String(), t.unicodeWord
}

// pyFlags are the Python flags the translation itself must follow; i, m and s
// mean the same to both engines and are passed through.
type pyFlags struct {
	verbose bool // (?x): whitespace and # comments are not part of the pattern
	ascii   bool // (?a): \d \w \s \b are ASCII-only
}

type translator struct {
	src         string
	i           int
	d           dialect
	out         strings.Builder
	stack       []pyFlags // one entry per open group, innermost last
	unicodeWord bool
}

func (t *translator) flags() pyFlags { return t.stack[len(t.stack)-1] }

func (t *translator) run() {
	for t.i < len(t.src) {
		c := t.src[t.i]
		if t.flags().verbose {
			if strings.IndexByte(" \t\n\r\v\f", c) >= 0 {
				t.i++
				continue
			}
			if c == '#' {
				if nl := strings.IndexByte(t.src[t.i:], '\n'); nl >= 0 {
					t.i += nl + 1
				} else {
					t.i = len(t.src)
				}
				continue
			}
		}
		switch c {
		case '\\':
			t.escape()
		case '[':
			t.class()
		case '(':
			t.group()
		case ')':
			t.i++
			t.out.WriteByte(')')
			if len(t.stack) > 1 {
				t.stack = t.stack[:len(t.stack)-1]
			}
		case '{':
			t.brace()
		case ']', '}':
			// Literal in Python; spelled so no engine reads structure into it.
			t.i++
			t.hex(rune(c))
		default:
			t.copyRune()
		}
	}
}

// copyRune copies one rune, or one byte of invalid UTF-8, as written.
func (t *translator) copyRune() {
	_, size := utf8.DecodeRuneInString(t.src[t.i:])
	t.out.WriteString(t.src[t.i : t.i+size])
	t.i += size
}

func (t *translator) hex(r rune) { fmt.Fprintf(&t.out, `\x{%x}`, r) }

func (t *translator) push(f pyFlags) { t.stack = append(t.stack, f) }

// group handles '(' and the Python group extensions.
func (t *translator) group() {
	rest := t.src[t.i:]
	switch {
	case !strings.HasPrefix(rest, "(?"):
		t.out.WriteByte('(')
		t.i++
		t.push(t.flags())
	case strings.HasPrefix(rest, "(?P<"):
		t.out.WriteString("(?<") // both engines take this spelling
		t.i += 4
		t.push(t.flags())
	case strings.HasPrefix(rest, "(?P="):
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			t.out.WriteString(rest)
			t.i = len(t.src)
			return
		}
		fmt.Fprintf(&t.out, `\k<%s>`, rest[4:end])
		t.i += end + 1
	case strings.HasPrefix(rest, "(?#"):
		// A comment runs to the first ')', escapes or not, as in Python.
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			t.out.WriteString(rest)
			t.i = len(t.src)
			return
		}
		t.i += end + 1
	case strings.HasPrefix(rest, "(?("):
		// Conditional: copy the condition whole so its ')' closes nothing.
		end := strings.IndexByte(rest[3:], ')')
		if end < 0 {
			t.out.WriteString(rest)
			t.i = len(t.src)
			return
		}
		t.out.WriteString(rest[:3+end+1])
		t.i += 3 + end + 1
		t.push(t.flags())
	default:
		if !t.flagGroup(rest) {
			// (?: (?= (?! (?<= (?<! (?> and whatever else: as written.
			t.out.WriteString("(?")
			t.i += 2
			t.push(t.flags())
		}
	}
}

// flagGroup handles (?aiLmsux) and (?aiLmsux-imsx:...). It keeps i, m and s
// for the engine and applies x and a itself.
func (t *translator) flagGroup(rest string) bool {
	j := 2
	for j < len(rest) && strings.IndexByte("aiLmsux-", rest[j]) >= 0 {
		j++
	}
	if j == 2 || j >= len(rest) || (rest[j] != ')' && rest[j] != ':') {
		return false
	}
	f := t.flags()
	var on, off strings.Builder
	negative := false
	for _, c := range rest[2:j] {
		switch {
		case c == '-':
			negative = true
		case c == 'x':
			f.verbose = !negative
		case c == 'a':
			f.ascii = true
		case c == 'u':
			f.ascii = false
		case strings.ContainsRune("ims", c) && negative:
			off.WriteRune(c)
		case strings.ContainsRune("ims", c):
			on.WriteRune(c)
		}
	}
	keep := on.String()
	if off.Len() > 0 {
		keep += "-" + off.String()
	}
	if rest[j] == ')' {
		// Global flags: Python (3.11+) takes them only at the start, where
		// the innermost group is the whole pattern.
		t.stack[len(t.stack)-1] = f
		if keep != "" {
			t.out.WriteString("(?" + keep + ")")
		}
	} else {
		t.out.WriteString("(?" + keep + ":")
		t.push(f)
	}
	t.i += j + 1
	return true
}

// brace handles '{': a Python repetition {m}, {m,}, {,n}, {m,n} or a literal.
func (t *translator) brace() {
	rest := t.src[t.i+1:]
	k := digits(rest)
	lo, hi, comma := rest[:k], "", false
	if k < len(rest) && rest[k] == ',' {
		comma = true
		n := digits(rest[k+1:])
		hi = rest[k+1 : k+1+n]
		k += 1 + n
	}
	if k < len(rest) && rest[k] == '}' && (lo != "" || comma) {
		if lo == "" {
			lo = "0"
		}
		t.out.WriteString("{" + lo)
		if comma {
			t.out.WriteString("," + hi)
		}
		t.out.WriteString("}")
		t.i += k + 2
		return
	}
	t.out.WriteString(`\{`)
	t.i++
}

func digits(s string) int {
	n := 0
	for n < len(s) && '0' <= s[n] && s[n] <= '9' {
		n++
	}
	return n
}

// escape handles a backslash outside a class.
func (t *translator) escape() {
	if t.i+1 >= len(t.src) {
		t.out.WriteByte('\\') // dangling: Python rejects it, so will the engine
		t.i++
		return
	}
	c := t.src[t.i+1]
	f := t.flags()
	switch c {
	case 'd', 'D', 'w', 'W', 's', 'S':
		t.out.WriteString(perlClass(c, f.ascii))
		t.i += 2
		return
	case 'b', 'B':
		t.boundary(c == 'B', f.ascii)
		t.i += 2
		return
	case 'A':
		t.out.WriteString(`\A`)
		t.i += 2
		return
	case 'Z':
		t.out.WriteString(`\z`) // Python's \Z is the very end
		t.i += 2
		return
	}
	if '1' <= c && c <= '9' && !t.octal3() {
		// Group reference: Python reads one or two digits.
		n := 1
		if t.i+2 < len(t.src) && '0' <= t.src[t.i+2] && t.src[t.i+2] <= '9' {
			n = 2
		}
		fmt.Fprintf(&t.out, `(?:\%s)`, t.src[t.i+1:t.i+1+n])
		t.i += 1 + n
		return
	}
	if r, n, ok := t.charEscape(false); ok {
		t.hex(r)
		t.i += n
		return
	}
	t.rawEscape()
}

// octal3 reports a three-digit octal escape such as \101 at t.i.
func (t *translator) octal3() bool {
	s := t.src[t.i+1:]
	return len(s) >= 3 && isOctal(s[0]) && isOctal(s[1]) && isOctal(s[2])
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }

// charEscape decodes a backslash escape at t.i that stands for one
// character: control and hex escapes, octal, escaped punctuation and
// escaped non-ASCII. inClass selects Python's class rules (\b is backspace,
// any octal digit starts an octal escape). n is the escape's length.
func (t *translator) charEscape(inClass bool) (r rune, n int, ok bool) {
	s := t.src[t.i+1:]
	c := s[0]
	switch c {
	case 'a':
		return 0x07, 2, true
	case 'f':
		return '\f', 2, true
	case 'n':
		return '\n', 2, true
	case 'r':
		return '\r', 2, true
	case 't':
		return '\t', 2, true
	case 'v':
		return '\v', 2, true
	case 'b':
		if inClass {
			return '\b', 2, true
		}
		return 0, 0, false
	case 'x':
		return hexEscape(s, 2)
	case 'u':
		return hexEscape(s, 4)
	case 'U':
		return hexEscape(s, 8)
	}
	if c == '0' || (inClass && isOctal(c)) || (isOctal(c) && t.octal3()) {
		n := 1
		for n < 3 && n < len(s) && isOctal(s[n]) {
			n++
		}
		var v rune
		for _, d := range s[:n] {
			v = v*8 + d - '0'
		}
		if v > 0o377 {
			return 0, 0, false
		}
		return v, 1 + n, true
	}
	if c < utf8.RuneSelf {
		if isAlnum(c) {
			return 0, 0, false // unknown letter escape: Python rejects it
		}
		return rune(c), 2, true
	}
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		return 0, 0, false
	}
	return r, 1 + size, true
}

func hexEscape(s string, width int) (rune, int, bool) {
	if len(s) < 1+width {
		return 0, 0, false
	}
	var v rune
	for _, c := range s[1 : 1+width] {
		switch {
		case '0' <= c && c <= '9':
			v = v*16 + c - '0'
		case 'a' <= c && c <= 'f':
			v = v*16 + c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = v*16 + c - 'A' + 10
		default:
			return 0, 0, false
		}
	}
	if v > unicode.MaxRune || (0xd800 <= v && v <= 0xdfff) {
		return 0, 0, false
	}
	return v, 1 + 1 + width, true
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// rawEscape copies a backslash and the rune after it as written.
func (t *translator) rawEscape() {
	t.out.WriteByte('\\')
	t.i++
	t.copyRune()
}

// boundary writes \b or \B with Python's meaning.
func (t *translator) boundary(negate, ascii bool) {
	if t.d == dialectRE2 {
		// RE2's \b is ASCII: exact under (?a) and on ASCII bodies.
		if negate {
			t.out.WriteString(`\B`)
		} else {
			t.out.WriteString(`\b`)
		}
		t.unicodeWord = t.unicodeWord || !ascii
		return
	}
	w := "[" + wordClass(ascii) + "]"
	if negate {
		t.out.WriteString("(?:(?<=" + w + ")(?=" + w + ")|(?<!" + w + ")(?!" + w + "))")
	} else {
		t.out.WriteString("(?:(?<=" + w + ")(?!" + w + ")|(?<!" + w + ")(?=" + w + "))")
	}
}

// class handles a bracketed character class, by Python's rules: a ']' right
// after '[' or '[^' is literal, '[' inside is literal, and escapes follow
// the class escape rules.
func (t *translator) class() {
	t.i++
	t.out.WriteByte('[')
	if t.i < len(t.src) && t.src[t.i] == '^' {
		t.out.WriteByte('^')
		t.i++
	}
	first := true
	for t.i < len(t.src) {
		if t.src[t.i] == ']' && !first {
			t.out.WriteByte(']')
			t.i++
			return
		}
		first = false
		item := t.classItem()
		if t.i < len(t.src) && t.src[t.i] == '-' {
			t.i++
			if t.i >= len(t.src) || t.src[t.i] == ']' {
				t.out.WriteString(item + `\x{2d}`) // trailing '-' is literal
				continue
			}
			t.out.WriteString(item + "-" + t.classItem())
			continue
		}
		t.out.WriteString(item)
	}
	// Unterminated: Python rejects it; the engine sees an open '['.
}

// classItem translates one member of a class: a character or a Perl class.
func (t *translator) classItem() string {
	c := t.src[t.i]
	if c != '\\' {
		r, size := utf8.DecodeRuneInString(t.src[t.i:])
		if r == utf8.RuneError && size <= 1 {
			s := t.src[t.i : t.i+1]
			t.i++
			return s
		}
		t.i += size
		if c < utf8.RuneSelf && isAlnum(c) {
			return string(r)
		}
		return fmt.Sprintf(`\x{%x}`, r)
	}
	if t.i+1 >= len(t.src) {
		t.i++
		return `\`
	}
	e := t.src[t.i+1]
	if strings.IndexByte("dDwWsS", e) >= 0 {
		t.i += 2
		return classFragment(e, t.flags().ascii)
	}
	if r, n, ok := t.charEscape(true); ok {
		t.i += n
		return fmt.Sprintf(`\x{%x}`, r)
	}
	start := t.i
	t.i++
	_, size := utf8.DecodeRuneInString(t.src[t.i:])
	t.i += size
	return t.src[start:t.i]
}

// Python's Perl classes, as the inside of a bracketed class. Python 3's str
// patterns define \w as letters, numbers and '_' (str.isalnum), \d as
// decimal digits (Nd) and \s as str.isspace.
const (
	unicodeDigit = `\p{Nd}`
	unicodeWord  = `\p{L}\p{N}_`
	unicodeSpace = `\x{9}-\x{d}\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}`
	asciiDigit   = `0-9`
	asciiWord    = `0-9A-Za-z_`
	asciiSpace   = `\x{9}-\x{d}\x{20}`
)

func wordClass(ascii bool) string {
	if ascii {
		return asciiWord
	}
	return unicodeWord
}

// perlClass spells \d \D \w \W \s \S outside a class.
func perlClass(c byte, ascii bool) string {
	if c == 'd' && !ascii {
		return unicodeDigit
	}
	// Never \P{Nd}: regexp2 v2.13 mis-searches some patterns with a negated
	// category (`(|\P{Nd})\w` misses "1"); a negated class is fine.
	pos := positiveClass(c, ascii)
	if c >= 'a' {
		return "[" + pos + "]"
	}
	return "[^" + pos + "]"
}

func positiveClass(c byte, ascii bool) string {
	switch c {
	case 'd', 'D':
		if ascii {
			return asciiDigit
		}
		return unicodeDigit
	case 'w', 'W':
		return wordClass(ascii)
	default:
		if ascii {
			return asciiSpace
		}
		return unicodeSpace
	}
}

// classFragment spells \d \D \w \W \s \S inside a class. A negated class
// cannot nest inside another in either engine (and \P{...} trips regexp2,
// see perlClass), so \D, \W and \S become the explicit ranges of their
// complement.
func classFragment(c byte, ascii bool) string {
	if c >= 'a' {
		return positiveClass(c, ascii)
	}
	var set []span
	switch c {
	case 'D':
		if ascii {
			set = []span{{'0', '9'}}
		} else {
			set = tableSpans(unicode.Nd)
		}
	case 'W':
		if ascii {
			set = []span{{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}
		} else {
			set = tableSpans(unicode.L, unicode.N)
			set = append(set, span{'_', '_'})
		}
	case 'S':
		if ascii {
			set = []span{{0x9, 0xd}, {0x20, 0x20}}
		} else {
			set = []span{{0x9, 0xd}, {0x1c, 0x20}, {0x85, 0x85}, {0xa0, 0xa0}, {0x1680, 0x1680},
				{0x2000, 0x200a}, {0x2028, 0x2029}, {0x202f, 0x202f}, {0x205f, 0x205f}, {0x3000, 0x3000}}
		}
	}
	var b strings.Builder
	for _, s := range complement(set) {
		fmt.Fprintf(&b, `\x{%x}-\x{%x}`, s.lo, s.hi)
	}
	return b.String()
}

type span struct{ lo, hi rune }

// tableSpans flattens Unicode tables into sorted, merged spans.
func tableSpans(tables ...*unicode.RangeTable) []span {
	var set []span
	for _, tab := range tables {
		for _, r := range tab.R16 {
			set = appendStride(set, rune(r.Lo), rune(r.Hi), rune(r.Stride))
		}
		for _, r := range tab.R32 {
			set = appendStride(set, rune(r.Lo), rune(r.Hi), rune(r.Stride))
		}
	}
	slices.SortFunc(set, func(a, b span) int { return int(a.lo - b.lo) })
	merged := set[:0]
	for _, s := range set {
		if n := len(merged); n > 0 && s.lo <= merged[n-1].hi+1 {
			merged[n-1].hi = max(merged[n-1].hi, s.hi)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

func appendStride(set []span, lo, hi, stride rune) []span {
	if stride == 1 {
		return append(set, span{lo, hi})
	}
	for r := lo; r <= hi; r += stride {
		set = append(set, span{r, r})
	}
	return set
}

// complement returns the code points not in set (sorted, merged), leaving
// out surrogates, which UTF-8 text cannot hold.
func complement(set []span) []span {
	slices.SortFunc(set, func(a, b span) int { return int(a.lo - b.lo) })
	var out []span
	next := rune(0)
	add := func(lo, hi rune) {
		for _, s := range []span{{lo, min(hi, 0xd7ff)}, {max(lo, 0xe000), hi}} {
			if s.lo <= s.hi {
				out = append(out, s)
			}
		}
	}
	for _, s := range set {
		if s.lo > next {
			add(next, s.lo-1)
		}
		next = max(next, s.hi+1)
	}
	if next <= unicode.MaxRune {
		add(next, unicode.MaxRune)
	}
	return out
}
