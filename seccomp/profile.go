package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	moby "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Profile is a profile expanded for one container, as the runtime spec
// has it; Rule is one of its rules.
type (
	Profile = specs.LinuxSeccomp
	Rule    = specs.LinuxSyscall
)

// Default returns Docker's default profile expanded for a container whose
// bounding set is caps ("CAP_CHOWN", ...): the calls Docker allows for a
// capability are allowed when the set has it. The architectures are the
// native one and those it runs (x86 and x32 on x86_64, arm on aarch64).
func Default(caps []string) (*specs.LinuxSeccomp, error) {
	p, err := moby.GetDefaultProfile(forCaps(caps))
	if err != nil {
		return nil, fmt.Errorf("expanding Docker's default seccomp profile: %w", err)
	}
	return p, nil
}

// LoadFile reads a profile in Docker's (and Podman's) JSON format and
// expands it for a container whose bounding set is caps. Whatever Compile
// would refuse is refused here, naming the file, so that a bad profile is
// reported when it is named rather than when a container starts.
func LoadFile(path string, caps []string) (*specs.LinuxSeccomp, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading seccomp profile %q: %w", path, err)
	}
	p, err := load(body, caps)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %q: %w", path, err)
	}
	return p, nil
}

func load(body []byte, caps []string) (*specs.LinuxSeccomp, error) {
	var raw moby.Seccomp
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, jsonError(body, err)
	}
	// moby treats a profile without defaultAction or rules as no
	// profile at all: a file named on purpose must not mean unconfined.
	if raw.DefaultAction == "" {
		return nil, errors.New("no defaultAction")
	}
	if err := checkProfile(&raw.LinuxSeccomp); err != nil {
		return nil, err
	}
	// Every rule is checked, also those the container's capabilities
	// leave out: the same file may serve another container.
	for i, r := range raw.Syscalls {
		if r == nil {
			return nil, fmt.Errorf("syscalls[%d] is null", i)
		}
		rr := r.LinuxSyscall
		if r.Name != "" {
			if len(r.Names) != 0 {
				return nil, fmt.Errorf("%s: both \"name\" and \"names\" are set; use \"names\"", ruleName("syscalls", i, &rr))
			}
			rr.Names = []string{r.Name}
		}
		if err := checkRule(&rr); err != nil {
			return nil, fmt.Errorf("%s: %w", ruleName("syscalls", i, &rr), err)
		}
	}
	p, err := moby.LoadProfile(string(body), forCaps(caps))
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errors.New("the profile is empty")
	}
	return p, nil
}

// forCaps is the part of a runtime spec moby's expansion reads.
func forCaps(caps []string) *specs.Spec {
	return &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
}

// jsonError says where in the file the JSON is wrong.
func jsonError(body []byte, err error) error {
	var off int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		off = typ.Offset
	}
	if off < 0 || off > int64(len(body)) {
		return fmt.Errorf("bad JSON: %w", err)
	}
	before := body[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return fmt.Errorf("bad JSON at line %d, column %d: %w", line, col, err)
}

// FakeRoot is root emulation for a user namespace that maps one id:
// calls that change ownership or identity succeed without doing
// anything (SCMP_ACT_ERRNO with errno 0), so that package managers and
// useradd, which chown and drop privileges, keep working. mknod and
// mknodat succeed likewise for device nodes only, which an unprivileged
// user namespace cannot make; FIFOs, sockets and files are made for
// real. Pass these rules first to Compile.
func FakeRoot() []specs.LinuxSyscall {
	zero := uint(0)
	ids := specs.LinuxSyscall{
		Names: []string{
			"chown", "fchown", "lchown", "fchownat",
			"chown32", "fchown32", "lchown32",
			"setuid", "setgid", "setreuid", "setregid",
			"setresuid", "setresgid", "setfsuid", "setfsgid", "setgroups",
			"setuid32", "setgid32", "setreuid32", "setregid32",
			"setresuid32", "setresgid32", "setfsuid32", "setfsgid32", "setgroups32",
		},
		Action:   specs.ActErrno,
		ErrnoRet: &zero,
	}
	rules := []specs.LinuxSyscall{ids}
	// The mode is argument 1 of mknod(path, mode, dev) and argument 2 of
	// mknodat(dirfd, path, mode, dev); its S_IFMT bits are the type.
	for _, m := range []struct {
		name  string
		index uint
	}{{"mknod", 1}, {"mknodat", 2}} {
		for _, typ := range []uint64{unix.S_IFCHR, unix.S_IFBLK} {
			rules = append(rules, specs.LinuxSyscall{
				Names:    []string{m.name},
				Action:   specs.ActErrno,
				ErrnoRet: &zero,
				Args:     []specs.LinuxSeccompArg{{Index: m.index, Value: unix.S_IFMT, ValueTwo: typ, Op: specs.OpMaskedEqual}},
			})
		}
	}
	return rules
}
