package seccomp

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// dockerCaps is Docker's default bounding set.
var dockerCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

const (
	allow       = unix.SECCOMP_RET_ALLOW
	eperm       = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	enosys      = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	faked       = unix.SECCOMP_RET_ERRNO // errno 0: success, nothing done
	killProcess = unix.SECCOMP_RET_KILL_PROCESS
)

// The three architectures of Docker's profile on x86_64.
var x86Family = []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}

// tc is one syscall and what the filter must return for it. nr is used
// when name is empty; on x32 it gets __X32_SYSCALL_BIT.
type tc struct {
	name string
	nr   uint32
	args [6]uint64
	want uint32
}

func (c tc) String() string {
	if c.name != "" {
		return fmt.Sprintf("%s%x", c.name, c.args)
	}
	return fmt.Sprintf("nr %#x%x", c.nr, c.args)
}

func sysnr(t *testing.T, arch specs.Arch, name string) uint32 {
	t.Helper()
	nr, ok := archByName(arch).lookup(name)
	if !ok {
		t.Fatalf("%s has no syscall %q", arch, name)
	}
	return nr
}

// expect runs cases on arch and reports every wrong result.
func expect(t *testing.T, p *Program, arch specs.Arch, cases []tc) {
	t.Helper()
	a := archByName(arch)
	for _, c := range cases {
		nr := c.nr
		if c.name != "" {
			nr = sysnr(t, arch, c.name)
		} else if a.isX32() {
			nr |= x32SyscallBit
		}
		got, _ := run(t, p, call{audit: a.audit, nr: nr, args: c.args})
		if got != c.want {
			t.Errorf("%s: %v returns %#x, want %#x", arch, c, got, c.want)
		}
	}
}

// onAmd64 skips tests of Docker's profile as expanded on amd64, where
// it names x86_64, x86 and x32 (elsewhere it names other architectures,
// and an empty list means the native one).
func onAmd64(t *testing.T) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("expects the architectures of amd64")
	}
}

func compileDefault(t *testing.T, caps []string, first []specs.LinuxSyscall) *Program {
	t.Helper()
	p, err := Default(caps)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := Compile(p, first)
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

func TestDefaultProfile(t *testing.T) {
	onAmd64(t)
	prog := compileDefault(t, dockerCaps, nil)
	common := []tc{
		{name: "read", want: allow},
		{name: "write", want: allow},
		{name: "openat", want: allow},
		{name: "execve", want: allow},
		{name: "keyctl", want: eperm},
		{name: "add_key", want: eperm},
		{name: "request_key", want: eperm},
		{name: "io_uring_setup", want: eperm},
		{name: "bpf", want: eperm},
		{name: "perf_event_open", want: eperm},
		{name: "userfaultfd", want: eperm},
		{name: "kexec_load", want: eperm},
		{name: "open_by_handle_at", want: eperm},
		{name: "unshare", want: eperm},
		{name: "mount", want: eperm},
		{name: "clone", args: [6]uint64{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}, want: eperm},
		{name: "clone", args: [6]uint64{unix.CLONE_NEWNS}, want: eperm},
		{name: "clone", args: [6]uint64{uint64(unix.SIGCHLD) | unix.CLONE_VM | unix.CLONE_VFORK}, want: allow},
		{name: "clone", args: [6]uint64{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID}, want: allow},
		{name: "clone3", want: enosys},
		{name: "personality", args: [6]uint64{0}, want: allow},
		{name: "personality", args: [6]uint64{8}, want: allow},
		{name: "personality", args: [6]uint64{0xffffffff}, want: allow},
		{name: "personality", args: [6]uint64{0x0400000}, want: eperm}, // READ_IMPLIES_EXEC
		{name: "mknod", want: allow},
		{nr: 1000, want: enosys},   // above every call the profile names
		{nr: 0x3fff, want: enosys}, // likewise
	}
	for _, arch := range x86Family {
		expect(t, prog, arch, common)
	}
	// Sockets by family: AF_UNIX and AF_INET6 yes, AF_ALG and AF_VSOCK no.
	for _, arch := range []specs.Arch{specs.ArchX86_64, specs.ArchX86} {
		expect(t, prog, arch, []tc{
			{name: "socket", args: [6]uint64{unix.AF_UNIX}, want: allow},
			{name: "socket", args: [6]uint64{unix.AF_INET6}, want: allow},
			{name: "socket", args: [6]uint64{unix.AF_NETLINK}, want: allow},
			{name: "socket", args: [6]uint64{unix.AF_ALG}, want: eperm},
			{name: "socket", args: [6]uint64{unix.AF_VSOCK}, want: eperm},
		})
	}
	// Arguments are 64 bits on x86_64: high bits break an EQ on the low
	// word. x86 and x32 compare the low word only, as libseccomp does.
	expect(t, prog, specs.ArchX86_64, []tc{
		{name: "personality", args: [6]uint64{1 << 32}, want: eperm},
		{name: "personality", args: [6]uint64{0xffffffff_ffffffff}, want: eperm},
		{name: "socket", args: [6]uint64{1<<32 | unix.AF_UNIX}, want: eperm},
		{name: "arch_prctl", want: allow},
		{nr: 0xffffffff, want: enosys}, // -1 is x86_64's, not x32's
	})
	for _, arch := range []specs.Arch{specs.ArchX86, specs.ArchX32} {
		expect(t, prog, arch, []tc{
			{name: "personality", args: [6]uint64{1 << 32}, want: allow},
		})
	}
	expect(t, prog, specs.ArchX86, []tc{
		{name: "socketcall", want: allow},
		{name: "chown32", want: allow},
		{nr: 0xffffffff, want: enosys},
	})
	// Unknown architectures are killed.
	for _, audit := range []uint32{unix.AUDIT_ARCH_AARCH64, unix.AUDIT_ARCH_ARM, 0x12345678, 0} {
		if got, _ := run(t, prog, call{audit: audit, nr: 0}); got != killProcess {
			t.Errorf("arch %#x: read returns %#x, want KILL_PROCESS", audit, got)
		}
	}
}

func TestDefaultProfileSysAdmin(t *testing.T) {
	onAmd64(t)
	prog := compileDefault(t, append([]string{"CAP_SYS_ADMIN"}, dockerCaps...), nil)
	for _, arch := range x86Family {
		expect(t, prog, arch, []tc{
			{name: "unshare", args: [6]uint64{unix.CLONE_NEWUSER}, want: allow},
			{name: "mount", want: allow},
			{name: "clone", args: [6]uint64{unix.CLONE_NEWUSER}, want: allow},
			{name: "clone3", want: allow},
			{name: "keyctl", want: eperm},
		})
	}
}

// TestNoX32 checks that x32 calls are a bad architecture where the
// profile names only x86_64.
func TestNoX32(t *testing.T) {
	onAmd64(t)
	prog, err := Compile(&specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: []specs.Arch{specs.ArchX86_64},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"read", "exit_group"}, Action: specs.ActAllow}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, prog, specs.ArchX86_64, []tc{
		{name: "read", want: allow},
		{name: "write", want: eperm},
		{nr: x32SyscallBit, want: killProcess},
		{nr: x32SyscallBit | 1, want: killProcess},
		{nr: 0xfffffffe, want: killProcess},
		{nr: 0xffffffff, want: enosys},
	})
	if got, _ := run(t, prog, call{audit: unix.AUDIT_ARCH_I386, nr: 3}); got != killProcess {
		t.Errorf("i386 read returns %#x, want KILL_PROCESS", got)
	}
}

func TestFakeRoot(t *testing.T) {
	devs := []tc{
		{name: "mknod", args: [6]uint64{0, unix.S_IFCHR | 0o644, 0x0103}, want: faked},
		{name: "mknod", args: [6]uint64{0, unix.S_IFBLK | 0o600, 0x0801}, want: faked},
		{name: "mknod", args: [6]uint64{0, unix.S_IFIFO | 0o644}, want: allow},
		{name: "mknod", args: [6]uint64{0, unix.S_IFREG | 0o644}, want: allow},
		{name: "mknod", args: [6]uint64{0, unix.S_IFSOCK | 0o644}, want: allow},
		{name: "mknodat", args: [6]uint64{unix.AT_FDCWD & 0xffffffff, 0, unix.S_IFCHR | 0o644}, want: faked},
		{name: "mknodat", args: [6]uint64{unix.AT_FDCWD & 0xffffffff, 0, unix.S_IFBLK}, want: faked},
		{name: "mknodat", args: [6]uint64{unix.AT_FDCWD & 0xffffffff, 0, unix.S_IFIFO | 0o600}, want: allow},
		// The mode is argument 2 of mknodat, not 1.
		{name: "mknodat", args: [6]uint64{0, unix.S_IFCHR, unix.S_IFREG}, want: allow},
	}
	ids := []tc{
		{name: "chown", want: faked},
		{name: "fchown", want: faked},
		{name: "lchown", want: faked},
		{name: "fchownat", want: faked},
		{name: "setuid", want: faked},
		{name: "setgid", want: faked},
		{name: "setreuid", want: faked},
		{name: "setresuid", want: faked},
		{name: "setresgid", want: faked},
		{name: "setfsuid", want: faked},
		{name: "setgroups", want: faked},
	}
	ids32 := []tc{
		{name: "chown32", want: faked},
		{name: "fchown32", want: faked},
		{name: "setuid32", want: faked},
		{name: "setgroups32", want: faked},
		{name: "setresgid32", want: faked},
	}

	t.Run("default profile", func(t *testing.T) {
		onAmd64(t)
		prog := compileDefault(t, dockerCaps, FakeRoot())
		for _, arch := range x86Family {
			expect(t, prog, arch, ids)
			expect(t, prog, arch, devs)
			expect(t, prog, arch, []tc{
				{name: "read", want: allow},
				{name: "keyctl", want: eperm},
				{name: "clone3", want: enosys},
				{nr: 1000, want: enosys},
			})
		}
		expect(t, prog, specs.ArchX86, ids32)
	})
	t.Run("no profile", func(t *testing.T) {
		prog, err := Compile(nil, FakeRoot())
		if err != nil {
			t.Fatal(err)
		}
		for _, arch := range compatArches() {
			expect(t, prog, arch, ids)
			expect(t, prog, arch, devs)
			expect(t, prog, arch, []tc{
				{name: "read", want: allow},
				{name: "keyctl", want: allow},
				{name: "unshare", args: [6]uint64{unix.CLONE_NEWUSER}, want: allow},
				{name: "clone3", want: allow},
				{nr: 1000, want: allow},
				{nr: 0xffffffff, want: allow},
			})
		}
		if slices.Contains(compatArches(), specs.ArchX86) {
			expect(t, prog, specs.ArchX86, ids32)
		}
	})
}

func TestNoFilter(t *testing.T) {
	prog, err := Compile(nil, nil)
	if prog != nil || err != nil {
		t.Errorf("Compile(nil, nil) = %v, %v; want nil, nil", prog, err)
	}
}

// TestOrder checks that the first matching rule decides, rules given to
// Compile before the profile's.
func TestOrder(t *testing.T) {
	one, two := uint(1), uint(2)
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: x86Family,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: &one, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: specs.OpEqualTo}}},
			{Names: []string{"personality", "getpid"}, Action: specs.ActErrno, ErrnoRet: &two},
			{Names: []string{"personality"}, Action: specs.ActKillProcess},
			{Names: []string{"keyctl"}, Action: specs.ActErrno},
		},
	}
	first := []specs.LinuxSyscall{{Names: []string{"keyctl"}, Action: specs.ActLog}}
	prog, err := Compile(p, first)
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range x86Family {
		expect(t, prog, arch, []tc{
			{name: "personality", args: [6]uint64{8}, want: unix.SECCOMP_RET_ERRNO | 1},
			{name: "personality", args: [6]uint64{0}, want: unix.SECCOMP_RET_ERRNO | 2},
			{name: "getpid", want: unix.SECCOMP_RET_ERRNO | 2},
			{name: "keyctl", want: unix.SECCOMP_RET_LOG},
			{name: "read", want: allow},
			{nr: 1000, want: allow}, // no ENOSYS: the default allows
		})
	}
}

// TestOps compares every operator on 64- and 32-bit architectures with
// what it means: all 64 bits on x86_64, the low word elsewhere.
func TestOps(t *testing.T) {
	values := []uint64{0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
		1 << 32, 1<<32 | 1, 1<<32 | 0xffffffff, 0xffffffff_00000000, 0xffffffff_fffffffe, 0xffffffff_ffffffff}
	masks := []uint64{0, 0xf000, 0xffffffff, 0xffffffff_00000000, 0xffffffff_ffffffff, 0x1_0000f000}
	ref := func(op specs.LinuxSeccompOperator, arg, v, v2 uint64) bool {
		switch op {
		case specs.OpEqualTo:
			return arg == v
		case specs.OpNotEqual:
			return arg != v
		case specs.OpLessThan:
			return arg < v
		case specs.OpLessEqual:
			return arg <= v
		case specs.OpGreaterThan:
			return arg > v
		case specs.OpGreaterEqual:
			return arg >= v
		case specs.OpMaskedEqual:
			return arg&v == v2
		}
		panic(op)
	}
	type cmp struct {
		op     specs.LinuxSeccompOperator
		v, v2  uint64
		argIdx uint
	}
	var cmps []cmp
	for i, op := range []specs.LinuxSeccompOperator{specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan,
		specs.OpLessEqual, specs.OpGreaterThan, specs.OpGreaterEqual} {
		for _, v := range values {
			cmps = append(cmps, cmp{op: op, v: v, argIdx: uint(i % 6)})
		}
	}
	for i, m := range masks {
		for _, v2 := range []uint64{0, m, m & 0x2000, m & 0xffffffff, 0x2000} {
			cmps = append(cmps, cmp{op: specs.OpMaskedEqual, v: m, v2: v2, argIdx: uint(5 - i%6)})
		}
	}
	var args []uint64
	for _, v := range values {
		args = append(args, v, v+1, v-1, v|0x2000, v&^0xf000|0x6000)
	}
	for _, c := range cmps {
		prog, err := Compile(&specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno,
			Architectures: x86Family,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"personality"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: c.argIdx, Op: c.op, Value: c.v, ValueTwo: c.v2}}}},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, arch := range x86Family {
			a := archByName(arch)
			for _, arg := range args {
				var in [6]uint64
				in[c.argIdx] = arg
				seen := arg
				if !a.wide {
					seen = uint64(uint32(arg))
				}
				want := eperm
				if ref(c.op, seen, c.v, c.v2) {
					want = allow
				}
				got, _ := run(t, prog, call{audit: a.audit, nr: sysnr(t, arch, "personality"), args: in})
				if got != want {
					t.Errorf("%s: arg%d %#x %s %#x (valueTwo %#x): got %#x, want %#x", arch, c.argIdx, arg, c.op, c.v, c.v2, got, want)
				}
			}
		}
	}
}

// TestAnd checks that a rule's conditions must all hold, also two on one
// argument (a range).
func TestAnd(t *testing.T) {
	prog, err := Compile(&specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Architectures: x86Family,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"ioctl"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
			{Index: 1, Op: specs.OpGreaterEqual, Value: 0x5400},
			{Index: 1, Op: specs.OpLessEqual, Value: 0x54ff},
			{Index: 0, Op: specs.OpNotEqual, Value: 3},
		}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, prog, specs.ArchX86_64, []tc{
		{name: "ioctl", args: [6]uint64{1, 0x5401}, want: allow},
		{name: "ioctl", args: [6]uint64{1, 0x5400}, want: allow},
		{name: "ioctl", args: [6]uint64{1, 0x54ff}, want: allow},
		{name: "ioctl", args: [6]uint64{1, 0x5500}, want: eperm},
		{name: "ioctl", args: [6]uint64{1, 0x53ff}, want: eperm},
		{name: "ioctl", args: [6]uint64{3, 0x5401}, want: eperm},
		{name: "ioctl", args: [6]uint64{1, 1<<32 | 0x5401}, want: eperm},
	})
}

func TestActions(t *testing.T) {
	e := uint(13)
	for _, c := range []struct {
		act  specs.LinuxSeccompAction
		ret  *uint
		want uint32
	}{
		{specs.ActAllow, nil, allow},
		{specs.ActLog, nil, unix.SECCOMP_RET_LOG},
		{specs.ActErrno, nil, eperm},
		{specs.ActErrno, &e, unix.SECCOMP_RET_ERRNO | 13},
		{specs.ActTrace, nil, unix.SECCOMP_RET_TRACE | uint32(unix.EPERM)},
		{specs.ActTrace, &e, unix.SECCOMP_RET_TRACE | 13},
		{specs.ActTrap, nil, unix.SECCOMP_RET_TRAP},
		{specs.ActKill, nil, unix.SECCOMP_RET_KILL_THREAD},
		{specs.ActKillThread, nil, unix.SECCOMP_RET_KILL_THREAD},
		{specs.ActKillProcess, nil, killProcess},
	} {
		prog, err := Compile(&specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Architectures: x86Family,
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: c.act, ErrnoRet: c.ret}},
		}, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.act, err)
		}
		expect(t, prog, specs.ArchX86_64, []tc{{name: "getpid", want: c.want}, {name: "read", want: allow}})
	}
}

func TestCompileErrors(t *testing.T) {
	e := uint(1)
	big := uint(70000)
	ok := specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActAllow}
	for _, c := range []struct {
		name string
		p    specs.LinuxSeccomp
		want string
	}{
		{"notify", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActNotify}}}, "listener"},
		{"notify default", specs.LinuxSeccomp{DefaultAction: specs.ActNotify}, "listener"},
		{"unknown action", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: "SCMP_ACT_MAYBE"}}}, `unknown action "SCMP_ACT_MAYBE"`},
		{"no default", specs.LinuxSeccomp{Syscalls: []specs.LinuxSyscall{ok}}, "defaultAction"},
		{"index", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}, "argument 6"},
		{"op", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_LIKE"}}}}}, `unknown op "SCMP_CMP_LIKE"`},
		{"errno with allow", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, ErrnoRet: &e}}}, "errnoRet"},
		{"errno too big", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: &big}, "70000"},
		{"no names", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Action: specs.ActAllow}}}, "names no syscall"},
		{"none known", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"frobnicate", "s390_runtime_instr"}, Action: specs.ActAllow}}}, "none of the 2 syscalls"},
		{"tsync", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC"}, Syscalls: []specs.LinuxSyscall{ok}}, "TSYNC"},
		{"unknown flag", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}, Syscalls: []specs.LinuxSyscall{ok}}, "WAIT_KILLABLE_RECV"},
		{"listener", specs.LinuxSeccomp{DefaultAction: specs.ActErrno, ListenerPath: "/run/x.sock", Syscalls: []specs.LinuxSyscall{ok}}, "listener"},
	} {
		_, err := Compile(&c.p, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	// The rules passed first do not make up for the profile's.
	if _, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"frobnicate"}, Action: specs.ActAllow}}}, FakeRoot()); err == nil {
		t.Errorf("a profile of unknown names with FakeRoot: no error")
	}
	// Unknown names next to known ones are skipped.
	if _, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"frobnicate", "read"}, Action: specs.ActAllow}}}, nil); err != nil {
		t.Errorf("a profile with one unknown name: %v", err)
	}
}

func TestFlags(t *testing.T) {
	prog, err := Compile(&specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Flags:         []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint(unix.SECCOMP_FILTER_FLAG_LOG | unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW); prog.Flags != want {
		t.Errorf("flags %#x, want %#x", prog.Flags, want)
	}
}

// TestSize reports the size of Docker's default profile compiled for
// x86_64, x86 and x32, and checks that finding a syscall is a search,
// not a walk through a list.
func TestSize(t *testing.T) {
	onAmd64(t)
	for _, c := range []struct {
		name  string
		first []specs.LinuxSyscall
	}{{"default", nil}, {"default+fakeroot", FakeRoot()}} {
		p, err := Default(dockerCaps)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := Compile(p, c.first)
		if err != nil {
			t.Fatal(err)
		}
		n := len(prog.Instructions)
		if n > 1500 {
			t.Errorf("%s: %d instructions", c.name, n)
		}
		// The search's leaves jump to a few shared returns (emit.go,
		// pooled) instead of each having its own: 281 ranges on the
		// three architectures, once 287 returns (353 with fake root).
		rets := 0
		for _, ins := range prog.Instructions {
			if ins.Code == unix.BPF_RET|unix.BPF_K {
				rets++
			}
		}
		if rets > 60 {
			t.Errorf("%s: %d return instructions: the search's leaves do not share their returns", c.name, rets)
		}
		checked := map[string]bool{} // calls with argument checks
		for _, r := range append(c.first, p.Syscalls...) {
			if len(r.Args) > 0 {
				for _, name := range r.Names {
					checked[name] = true
				}
			}
		}
		plain := map[specs.Arch]int{}
		all := map[specs.Arch]int{}
		for _, arch := range x86Family {
			a := archByName(arch)
			skip := map[uint32]bool{}
			for name := range checked {
				if nr, ok := a.lookup(name); ok {
					skip[nr] = true
				}
			}
			base := uint32(0)
			if a.isX32() {
				base = x32SyscallBit
			}
			for nr := base; nr < base+1100; nr++ {
				_, steps := run(t, prog, call{audit: a.audit, nr: nr})
				all[arch] = max(all[arch], steps)
				if !skip[nr] {
					plain[arch] = max(plain[arch], steps)
				}
			}
			// A load of the arch, at most three jumps to its section, a
			// load of nr, two x32 checks, a binary search over at most
			// 128 ranges (7 jumps) and the return.
			if plain[arch] > 1+3+1+2+7+1 {
				t.Errorf("%s on %s: up to %d instructions for a call without argument checks", c.name, arch, plain[arch])
			}
		}
		worst := longestPath(prog.Instructions)
		if worst > 80 {
			t.Errorf("%s: a path of %d instructions", c.name, worst)
		}
		t.Logf("%s: %d instructions (%d returns); longest path %d; calls without argument checks run at most %d (x86_64), %d (x86), %d (x32); with zero arguments at most %d, %d, %d",
			c.name, n, rets, worst, plain[specs.ArchX86_64], plain[specs.ArchX86], plain[specs.ArchX32],
			all[specs.ArchX86_64], all[specs.ArchX86], all[specs.ArchX32])
	}
}

func TestBytes(t *testing.T) {
	prog := compileDefault(t, dockerCaps, FakeRoot())
	b := prog.Bytes()
	if len(b) != 8*len(prog.Instructions) {
		t.Fatalf("%d bytes for %d instructions", len(b), len(prog.Instructions))
	}
	back, err := FromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range back {
		if back[i] != prog.Instructions[i] {
			t.Fatalf("instruction %d: %+v, want %+v", i, back[i], prog.Instructions[i])
		}
	}
	for _, n := range []int{0, 7, 9, 8*4096 + 8} {
		if _, err := FromBytes(make([]byte, n)); err == nil {
			t.Errorf("FromBytes of %d bytes: no error", n)
		}
	}
}

// TestTables checks a few numbers against x/sys/unix (native) and the
// kernel's tables.
func TestTables(t *testing.T) {
	native := nativeArch()
	if native == nil {
		t.Skip("no table for this architecture")
	}
	for name, want := range map[string]uint32{
		"read": unix.SYS_READ, "openat": unix.SYS_OPENAT, "keyctl": unix.SYS_KEYCTL,
		"clone3": unix.SYS_CLONE3, "mknodat": unix.SYS_MKNODAT, "personality": unix.SYS_PERSONALITY,
		"unshare": unix.SYS_UNSHARE, "getpid": unix.SYS_GETPID, "setgroups": unix.SYS_SETGROUPS,
	} {
		if got, ok := native.lookup(name); !ok || got != want {
			t.Errorf("%s %s = %d, %v; want %d", native.name, name, got, ok, want)
		}
	}
	for _, c := range []struct {
		arch specs.Arch
		name string
		want uint32
	}{
		{specs.ArchX86_64, "keyctl", 250},
		{specs.ArchX86, "chown32", 212},
		{specs.ArchX86, "socketcall", 102},
		{specs.ArchX32, "read", x32SyscallBit},
		{specs.ArchX32, "rt_sigaction", x32SyscallBit | 512}, // not 13, which x32 cannot call
		{specs.ArchX32, "execve", x32SyscallBit | 520},
		{specs.ArchAARCH64, "openat", 56},
		{specs.ArchARM, "set_tls", 0x0f0005},
	} {
		if got := sysnr(t, c.arch, c.name); got != c.want {
			t.Errorf("%s %s = %#x, want %#x", c.arch, c.name, got, c.want)
		}
	}
	for _, a := range arches {
		for i := 1; i < len(a.table); i++ {
			if a.table[i-1].name >= a.table[i].name {
				t.Fatalf("%s table not sorted at %q", a.name, a.table[i].name)
			}
		}
	}
}

func TestArgOffsets(t *testing.T) {
	if !littleEndian() {
		t.Skip("big-endian host")
	}
	for i, want := range [][2]uint32{{16, 20}, {24, 28}, {56, 60}} {
		idx := []uint{0, 1, 5}[i]
		if lo, hi := argOffsets(idx); lo != want[0] || hi != want[1] {
			t.Errorf("argOffsets(%d) = %d, %d; want %d, %d", idx, lo, hi, want[0], want[1])
		}
	}
}
