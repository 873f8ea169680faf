package container

import (
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sandbox-dev/sandbox/capability"
	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/seccomp"
	"github.com/sandbox-dev/sandbox/userns"
)

// FakeRoot reports whether a container with these settings runs with root
// emulation: on by default in single-id mode, where only root exists and
// package managers would fail to chown and drop privileges; never in
// subid mode, where the ids exist.
func FakeRoot(sec config.Security, m userns.Mapping) bool {
	if m.Mode != userns.ModeSingle {
		return false
	}
	return sec.FakeRoot == nil || *sec.FakeRoot
}

// securityOpts says what applies to a container, in --security-opt's
// words, for inspect.
func securityOpts(sec config.Security, m userns.Mapping) []string {
	profile := sec.Seccomp
	if profile == "" {
		profile = "default"
	}
	// A container.json written before [security] existed has the zero
	// Security, which ran with no_new_privs (runtime.Spec.AllowNewPrivs).
	nnp := sec.Seccomp == "" || sec.NoNewPrivileges
	return []string{"seccomp=" + profile, fmt.Sprintf("no-new-privileges=%t", nnp), fmt.Sprintf("fakeroot=%t", FakeRoot(sec, m))}
}

// seccompProfile is the profile a container's settings name, expanded for
// its bounding set: Docker's default, a file, or nil for "unconfined".
func seccompProfile(sec config.Security, caps []int) (*specs.LinuxSeccomp, error) {
	names := capNames(caps)
	switch sec.Seccomp {
	case "unconfined":
		return nil, nil
	case "", "default":
		return seccomp.Default(names)
	}
	p, err := seccomp.LoadFile(sec.Seccomp, names)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// seccompFilter compiles what every process of the container starts
// under: the profile, with the fake-root rules first when they apply.
// Docker's default profile for the usual capabilities was compiled when
// sandbox was built.
func seccompFilter(sec config.Security, caps []int, m userns.Mapping) (*seccomp.Program, error) {
	if sec.Seccomp == "" || sec.Seccomp == "default" {
		return seccomp.DefaultProgram(capNames(caps), FakeRoot(sec, m))
	}
	p, err := seccompProfile(sec, caps)
	if err != nil {
		return nil, err
	}
	var first []specs.LinuxSyscall
	if FakeRoot(sec, m) {
		first = seccomp.FakeRoot()
	}
	prog, err := seccomp.Compile(p, first)
	if err != nil {
		return nil, fmt.Errorf("compiling the seccomp profile %q: %w", sec.Seccomp, err)
	}
	return prog, nil
}

// aptFakeRoot is the apt configuration of fake root mode: apt drops to
// its _apt user to download, then checks that it did, which under fake
// root it did not.
const aptFakeRoot = `// sandbox: fake root (single-id mode). apt's privilege drop is faked, and
// apt checks it: download as root instead. Not committed into images.
APT::Sandbox::User "root";
`

func capNames(caps []int) []string {
	names := make([]string, 0, len(caps))
	for _, c := range caps {
		if n := capability.Name(c); n != "" {
			names = append(names, n)
		}
	}
	return names
}
