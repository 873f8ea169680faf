package config

import (
	"regexp"
	"testing"
)

// TestNameChecks: the plain loops that replaced the expressions accept
// exactly what the expressions did.
func TestNameChecks(t *testing.T) {
	nameRe := regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	varRe := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	for _, s := range []string{"", "a", "A9", "9a", "_a", ".a", "-a", "a_b.c-d", "a b", "a/b", "a=b", "é", "web-1", "A_B_9", "a$", "a-"} {
		if got, want := validName(s), nameRe.MatchString(s); got != want {
			t.Errorf("validName(%q) = %v, want %v", s, got, want)
		}
		if got, want := validVarName(s), varRe.MatchString(s); got != want {
			t.Errorf("validVarName(%q) = %v, want %v", s, got, want)
		}
	}
}
