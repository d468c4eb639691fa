package regex

import (
	"regexp"
	"regexp/syntax"
	"strings"
)

// searchForm returns a regexp that matches exactly the bodies re matches,
// for Match's yes-or-no search, without the leading and trailing .* that
// patterns written for re.search often carry (".*welcome"): in an
// unanchored search they change no answer, since .* may match nothing, but
// Go's engines pay for them at every start position (on a 2 KB body, 40 µs
// for ".*welcome" against 0.3 µs for "welcome"). src is re's source; re
// itself is returned whenever the shorter form is not proven to parse to
// the same pattern less those edges.
func searchForm(src string, re *regexp.Regexp) *regexp.Regexp {
	tree, err := syntax.Parse(src, syntax.Perl)
	if err != nil || tree.Op != syntax.OpConcat {
		return re
	}
	subs := tree.Sub
	lead, trail := 0, 0
	for len(subs) > 1 && isDotStar(subs[0]) {
		subs, lead = subs[1:], lead+1
	}
	for len(subs) > 1 && isDotStar(subs[len(subs)-1]) {
		subs, trail = subs[:len(subs)-1], trail+1
	}
	if lead == 0 && trail == 0 {
		return re
	}
	short, ok := stripDotStars(src, lead, trail)
	if !ok {
		return re
	}
	got, err := syntax.Parse(short, syntax.Perl)
	if err != nil {
		return re
	}
	want := subs[0]
	if len(subs) > 1 {
		want = &syntax.Regexp{Op: syntax.OpConcat, Sub: subs}
	}
	if !got.Equal(want) {
		return re
	}
	fast, err := regexp.Compile(short)
	if err != nil {
		return re
	}
	return fast
}

// isDotStar reports a .* or .*? (with or without (?s)).
func isDotStar(n *syntax.Regexp) bool {
	return n.Op == syntax.OpStar && len(n.Sub) == 1 &&
		(n.Sub[0].Op == syntax.OpAnyCharNotNL || n.Sub[0].Op == syntax.OpAnyChar)
}

// stripDotStars removes lead ".*" (or ".*?") after any leading flag groups
// such as "(?i)", and trail of them at the end. It only cuts text; the
// caller checks that the result parses to what it expects.
func stripDotStars(src string, lead, trail int) (string, bool) {
	flags := 0
	for strings.HasPrefix(src[flags:], "(?") {
		end := strings.IndexByte(src[flags:], ')')
		if end < 0 || strings.ContainsAny(src[flags+2:flags+end], ":()") {
			break // a group, not a flag setting
		}
		flags += end + 1
	}
	head, rest := src[:flags], src[flags:]
	for range lead {
		switch {
		case strings.HasPrefix(rest, ".*?"):
			rest = rest[3:]
		case strings.HasPrefix(rest, ".*"):
			rest = rest[2:]
		default:
			return "", false
		}
	}
	for range trail {
		switch {
		case strings.HasSuffix(rest, ".*?"):
			rest = rest[:len(rest)-3]
		case strings.HasSuffix(rest, ".*"):
			rest = rest[:len(rest)-2]
		default:
			return "", false
		}
	}
	return head + rest, true
}
