package reference

import (
	"regexp"
	"testing"
)

// The grammar as Docker's distribution/reference writes it: the plain
// loops must accept exactly what these accept.
var (
	nameRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	tagRe  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	hexRe  = regexp.MustCompile(`^[a-f0-9]{1,64}$`)
	refRe  = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`)
)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

var seeds = []string{
	"", "a", "A", "debian", "debian:bookworm", "library/debian:12", "docker.io/library/debian",
	"registry:5000/team/app:1", "registry:5000", "registry:5000:tag", "localhost/x", "a:", ":a", "a/",
	"/a", "a//b", "a..b", "a.b", "a_b", "a__b", "a___b", "a-b", "a---b", "a-_b", "a._b", "a-", "-a", ".a",
	"a:b:c", "a/b:c/d", "a:01/b", "a:/b", "a:x/b", "Upper", "a:Upper_tag.1-2", "a:.tag", "a:-tag", "a:_tag",
	"a@" + digest, "a:1@" + digest, "a@sha256:abc", "a@" + digest + "0", "@" + digest, "a@sha512:00",
	"0123456789ab", "sha256:0123456789ab", "host", "a:" + string(make([]byte, 0)) + "x",
	"a:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	"a:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	"a b", "a\x00", "é", "a/b/c/d:e",
}

func check(t *testing.T, s string) {
	if got, want := Valid(s), refRe.MatchString(s); got != want {
		t.Errorf("Valid(%q) = %v, the grammar says %v", s, got, want)
	}
	if got, want := ValidName(s), nameRe.MatchString(s); got != want {
		t.Errorf("ValidName(%q) = %v, the grammar says %v", s, got, want)
	}
	if got, want := ValidTag(s), tagRe.MatchString(s); got != want {
		t.Errorf("ValidTag(%q) = %v, the grammar says %v", s, got, want)
	}
	if got, want := IsHex(s), hexRe.MatchString(s); got != want {
		t.Errorf("IsHex(%q) = %v, the grammar says %v", s, got, want)
	}
}

func TestMatchesGrammar(t *testing.T) {
	for _, s := range seeds {
		check(t, s)
	}
	if !ValidDigest(digest) || ValidDigest(digest[:70]) || ValidDigest("sha256:"+string(make([]byte, 64))) {
		t.Error("ValidDigest")
	}
}

// FuzzMatchesGrammar: go test -fuzz FuzzMatchesGrammar ./image/reference
func FuzzMatchesGrammar(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { check(t, s) })
}
