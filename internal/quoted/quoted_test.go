package quoted

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, fields := range [][]string{
		nil,
		{""},
		{"", ""},
		{"a b", `"quoted"`, "new\nline", "nul\x00", "tab\t", "ünï", "\xff not UTF-8", `back\slash`},
	} {
		s := Join(fields...)
		if strings.ContainsAny(s, "\x00\n") {
			t.Errorf("Join(%q) = %q holds a NUL or a newline", fields, s)
		}
		got, err := Split(s)
		if err != nil || !slices.Equal(got, fields) {
			t.Errorf("Split(Join(%q)) = %q, %v", fields, got, err)
		}
	}
}

func TestSplitRefuses(t *testing.T) {
	for _, s := range []string{`a`, `"a`, `"a""b"`, `"a"  "b"`, `"a" `, ` "a"`, `"\q"`, "`raw`", `'x'`, `"a" 'b'`} {
		if got, err := Split(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("Split(%q) = %q, %v; want ErrMalformed", s, got, err)
		}
	}
}
