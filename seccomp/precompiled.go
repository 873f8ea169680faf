package seccomp

import (
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

//go:generate go run ./internal/mkdefault

// precompiled is Docker's default profile for Docker's default bounding
// set, compiled when sandbox was built (zdefault_GOARCH.go), with and
// without the fake-root rules. Expanding and compiling the profile costs
// about a millisecond, more than the rest of the filter's share of a
// start; nearly every sandbox uses exactly this one.
type precompiled struct {
	caps []string // sorted
	// minKernel is the newest kernel any rule of the profile depends on
	// ("4.8"): on an older kernel the expansion differs.
	minKernel           [2]int
	plain, withFakeRoot string // Program.Bytes()
	flags               uint
}

// defaultPrecompiled is set by zdefault_GOARCH.go where one was generated.
var defaultPrecompiled *precompiled

// DefaultProgram returns the filter of Docker's default profile for the
// bounding set caps, with the fake-root rules first when fakeRoot: the
// precompiled one when it applies, else compiled now.
func DefaultProgram(caps []string, fakeRoot bool) (*Program, error) {
	if p := defaultPrecompiled; p != nil && p.applies(caps) {
		raw := p.plain
		if fakeRoot {
			raw = p.withFakeRoot
		}
		ins, err := FromBytes([]byte(raw))
		if err != nil {
			return nil, err
		}
		return &Program{Instructions: ins, Flags: p.flags}, nil
	}
	prof, err := Default(caps)
	if err != nil {
		return nil, err
	}
	var first []Rule
	if fakeRoot {
		first = FakeRoot()
	}
	return Compile(prof, first)
}

// DefaultIsPrecompiled reports whether DefaultProgram(caps, …) costs
// nothing at start on this machine.
func DefaultIsPrecompiled(caps []string) bool {
	return defaultPrecompiled != nil && defaultPrecompiled.applies(caps)
}

func (p *precompiled) applies(caps []string) bool {
	sorted := slices.Clone(caps)
	slices.Sort(sorted)
	return slices.Equal(sorted, p.caps) && kernelAtLeast(p.minKernel)
}

// kernelAtLeast compares the running kernel's release with major.minor.
func kernelAtLeast(v [2]int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	got, ok := parseKernel(unix.ByteSliceToString(u.Release[:]))
	return ok && (got[0] > v[0] || got[0] == v[0] && got[1] >= v[1])
}

// parseKernel reads major and minor from a release like "6.1.0-18-amd64".
func parseKernel(release string) ([2]int, bool) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return [2]int{}, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor := parts[1]
	if i := strings.IndexFunc(minor, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minor = minor[:i]
	}
	m, err2 := strconv.Atoi(minor)
	return [2]int{major, m}, err1 == nil && err2 == nil
}
