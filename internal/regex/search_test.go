package regex

import (
	"regexp"
	"testing"
)

func TestSearchForm(t *testing.T) {
	bodies := []string{
		"", "\n", "welcome", "You are always welcome!", "you are\nwelcome\n", "WELCOME", "a.b", "a\\b",
		"xwelcomex", "welcome\nwelcome", "ab", "a\nb", "aXXb", "a.*b", "é welcome é",
	}
	tests := []struct {
		name    string
		pattern string // RE2 syntax, as translate writes it
		want    string // the search form's source
	}{
		{"leading", `.*welcome`, `welcome`},
		{"lazy leading", `.*?welcome`, `welcome`},
		{"trailing", `welcome.*`, `welcome`},
		{"both", `.*welcome.*`, `welcome`},
		{"flags kept", `(?i).*welcome`, `(?i)welcome`},
		{"dot matches newline", `(?s).*a.*b.*`, `(?s)a.*b`},
		{"middle kept", `a.*b`, `a.*b`},
		{"anchored kept", `^.*welcome`, `^.*welcome`},
		{"escaped dot kept", `a\.*`, `a\.*`},
		{"escaped backslash", `a\\.*`, `a\\`},
		{"only dot star kept", `.*`, `.*`},
		{"group kept", `(?s:.*)welcome`, `(?s:.*)welcome`},
		{"alternation kept", `.*a|b`, `.*a|b`},
		{"class kept", `[^\n]*welcome`, `[^\n]*welcome`},
		{"plus kept", `.+welcome`, `.+welcome`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			full := regexp.MustCompile(tt.pattern)
			got := searchForm(tt.pattern, full)
			if got.String() != tt.want {
				t.Errorf("searchForm(%q) = %q, want %q", tt.pattern, got.String(), tt.want)
			}
			for _, b := range bodies {
				if g, w := got.MatchString(b), full.MatchString(b); g != w {
					t.Errorf("on %q: search form %q says %v, %q says %v", b, got, g, tt.pattern, w)
				}
			}
		})
	}
}
