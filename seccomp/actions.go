package seccomp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Return values of a seccomp filter. The low 16 bits are data: the errno
// for ERRNO, the message for TRACE.
const (
	retKillThread  = unix.SECCOMP_RET_KILL_THREAD
	retKillProcess = unix.SECCOMP_RET_KILL_PROCESS
	retTrap        = unix.SECCOMP_RET_TRAP
	retErrno       = unix.SECCOMP_RET_ERRNO
	retTrace       = unix.SECCOMP_RET_TRACE
	retLog         = unix.SECCOMP_RET_LOG
	retAllow       = unix.SECCOMP_RET_ALLOW
)

// maxErrno is the largest errno the kernel returns (MAX_ERRNO); it turns
// larger SECCOMP_RET_ERRNO data into 4095.
const maxErrno = 4095

// errNotify refuses SCMP_ACT_NOTIFY: it hands the call to a user-space
// supervisor over a listener descriptor.
var errNotify = errors.New("SCMP_ACT_NOTIFY needs a listener, which sandbox does not provide")

// actionValue is the filter's return value for an action. errnoRet is the
// errno of SCMP_ACT_ERRNO and the message of SCMP_ACT_TRACE; nil means
// EPERM, as runc has it.
func actionValue(act specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	data := uint32(unix.EPERM)
	if errnoRet != nil {
		if act != specs.ActErrno && act != specs.ActTrace {
			return 0, fmt.Errorf("errnoRet is set but %s returns no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take one)", act)
		}
		if *errnoRet > maxErrno {
			return 0, fmt.Errorf("errnoRet %d is not an errno (the kernel returns at most %d)", *errnoRet, maxErrno)
		}
		data = uint32(*errnoRet)
	}
	switch act {
	case specs.ActKill, specs.ActKillThread:
		return retKillThread, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActTrap:
		return retTrap, nil
	case specs.ActErrno:
		return retErrno | data, nil
	case specs.ActTrace:
		return retTrace | data, nil
	case specs.ActLog:
		return retLog, nil
	case specs.ActAllow:
		return retAllow, nil
	case specs.ActNotify:
		return 0, errNotify
	case "":
		return 0, errors.New("no action")
	}
	return 0, fmt.Errorf("unknown action %q (want one of SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_THREAD, SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_TRACE, SCMP_ACT_LOG)", act)
}

// allowsAll reports whether a default action lets calls through, so that
// calls newer than the profile need no ENOSYS. TRACE counts, as in runc:
// a tracer is expected to handle calls it does not know.
func allowsAll(v uint32) bool {
	switch v & unix.SECCOMP_RET_ACTION_FULL {
	case retAllow, retLog, retTrace:
		return true
	}
	return false
}

// filterFlags turns a profile's flags into what seccomp(2) takes.
func filterFlags(flags []specs.LinuxSeccompFlag) (uint, error) {
	var v uint
	for _, f := range flags {
		switch f {
		case specs.LinuxSeccompFlagLog:
			v |= unix.SECCOMP_FILTER_FLAG_LOG
		case specs.LinuxSeccompFlagSpecAllow:
			v |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		case "SECCOMP_FILTER_FLAG_TSYNC":
			return 0, errors.New("flag SECCOMP_FILTER_FLAG_TSYNC is refused: sandbox installs the filter on one thread on purpose")
		default:
			return 0, fmt.Errorf("flag %q is not supported (only SECCOMP_FILTER_FLAG_LOG and SECCOMP_FILTER_FLAG_SPEC_ALLOW are)", f)
		}
	}
	return v, nil
}

var ops = map[specs.LinuxSeccompOperator]bool{
	specs.OpNotEqual: true, specs.OpLessThan: true, specs.OpLessEqual: true,
	specs.OpEqualTo: true, specs.OpGreaterEqual: true, specs.OpGreaterThan: true,
	specs.OpMaskedEqual: true,
}

// checkRule checks one rule as the compiler will take it.
func checkRule(r *specs.LinuxSyscall) error {
	if len(r.Names) == 0 {
		return errors.New("names no syscall")
	}
	for _, n := range r.Names {
		if n == "" {
			return errors.New("has an empty syscall name")
		}
	}
	if _, err := actionValue(r.Action, r.ErrnoRet); err != nil {
		return err
	}
	for _, a := range r.Args {
		if a.Index > 5 {
			return fmt.Errorf("compares argument %d, but syscalls have 6 (0 to 5)", a.Index)
		}
		if !ops[a.Op] {
			return fmt.Errorf("unknown op %q (want one of SCMP_CMP_EQ, SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ)", a.Op)
		}
	}
	return nil
}

// checkProfile checks what a profile says besides its rules.
func checkProfile(p *specs.LinuxSeccomp) error {
	if _, err := actionValue(p.DefaultAction, p.DefaultErrnoRet); err != nil {
		return fmt.Errorf("defaultAction: %w", err)
	}
	if _, err := filterFlags(p.Flags); err != nil {
		return err
	}
	if p.ListenerPath != "" {
		return fmt.Errorf("listenerPath %q: sandbox provides no seccomp notify listener", p.ListenerPath)
	}
	return nil
}

// ruleName names a rule in errors: its place and its first syscalls.
func ruleName(what string, i int, r *specs.LinuxSyscall) string {
	names := r.Names
	more := ""
	if len(names) > 3 {
		names, more = names[:3], ", ..."
	}
	s := fmt.Sprintf("%s[%d]", what, i)
	if len(names) > 0 {
		s += fmt.Sprintf(" (%s%s)", strings.Join(names, ", "), more)
	}
	return s
}
