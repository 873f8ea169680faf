package seccomp

import (
	"bytes"
	"slices"
	"testing"
)

// TestPrecompiledIsCurrent: the program compiled when sandbox was built is
// what Compile makes now; otherwise run `go generate ./seccomp`.
func TestPrecompiledIsCurrent(t *testing.T) {
	p := defaultPrecompiled
	if p == nil {
		t.Skip("no precompiled default profile for this architecture (go generate ./seccomp makes one for the machine it runs on)")
	}
	if !kernelAtLeast(p.minKernel) {
		t.Skipf("this kernel is older than %d.%d, on which the profile expands differently", p.minKernel[0], p.minKernel[1])
	}
	want := slices.Clone(dockerCaps)
	slices.Sort(want)
	if !slices.Equal(p.caps, want) {
		t.Errorf("precompiled for %q, want Docker's default set %q", p.caps, want)
	}
	prof, err := Default(p.caps)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		first []Rule
		got   string
	}{{"plain", nil, p.plain}, {"with fake root", FakeRoot(), p.withFakeRoot}} {
		prog, err := Compile(prof, c.first)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(prog.Bytes(), []byte(c.got)) || prog.Flags != p.flags {
			t.Errorf("the precompiled default profile (%s) is not what Compile makes now: run go generate ./seccomp", c.name)
		}
	}
	if !DefaultIsPrecompiled(dockerCaps) || DefaultIsPrecompiled(append(slices.Clone(dockerCaps), "CAP_SYS_ADMIN")) {
		t.Error("DefaultIsPrecompiled is wrong about which sets were precompiled")
	}
}

func TestParseKernel(t *testing.T) {
	for release, want := range map[string][2]int{"6.1.0-18-amd64": {6, 1}, "4.19.0": {4, 19}, "6.18.44-fc-v1147": {6, 18}, "5.15rc2": {5, 15}} {
		if got, ok := parseKernel(release); !ok || got != want {
			t.Errorf("parseKernel(%q) = %v, %v; want %v", release, got, ok, want)
		}
	}
	if _, ok := parseKernel("garbage"); ok {
		t.Error("parseKernel accepted garbage")
	}
}
