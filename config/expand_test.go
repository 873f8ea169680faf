package config

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"HOME": "/home/u", "PORT": "9000", "EMPTY": ""}[k]
		return v, ok
	}
	for _, tc := range []struct{ in, want, err string }{
		{"~/site", "/home/u/site", ""},
		{"~", "/home/u", ""},
		{"a~b", "a~b", ""},
		{"${PORT}", "9000", ""},
		{"-p ${PORT:-8080}", "-p 9000", ""},
		{"-p ${NOPE:-8080}", "-p 8080", ""},
		{"${EMPTY:-x}", "x", ""},
		{"${EMPTY}", "", ""},
		{"echo $HOME $1", "echo $HOME $1", ""},
		{"cost $$5 $${X}", "cost $5 ${X}", ""},
		{"end$", "end$", ""},
		{"${NOPE}", "", "NOPE} is not set"},
		{"${PORT", "", "unclosed"},
		{"${1X}", "", "not a variable name"},
		{"${}", "", "not a variable name"},
	} {
		got, err := expand(tc.in, env)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("expand(%q) error = %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
