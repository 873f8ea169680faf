package userns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Refusal is a host setting that keeps unprivileged users out of user
// namespaces. Without one named, such a host only shows up as a bare errno
// from clone or from a step inside the namespace ("no space left on
// device", "operation not permitted"), which says nothing about the cause.
type Refusal struct {
	Setting string // the setting and its value, e.g. "user.max_user_namespaces = 0"
	Why     string // what it does to us, as a clause
	Fix     string // the commands that lift it
}

// Error says what is refused, because of which setting, and the fix.
func (r *Refusal) Error() string {
	return fmt.Sprintf("user namespaces are refused by the host setting %s (%s). To fix it: %s",
		r.Setting, r.Why, r.Fix)
}

// The settings, relative to procRoot. Only max_user_namespaces exists on
// every kernel; the other two belong to Debian's patch (before 6.x) and to
// AppArmor (Ubuntu 23.10 and later).
const (
	maxUserNamespacesFile  = "sys/user/max_user_namespaces"
	unprivilegedCloneFile  = "sys/kernel/unprivileged_userns_clone"
	apparmorRestrictFile   = "sys/kernel/apparmor_restrict_unprivileged_userns"
	apparmorLabelFile      = "self/attr/apparmor/current" // AppArmor's own, since Linux 5.8
	legacyLabelFile        = "self/attr/current"          // whichever LSM is first
	statusFile             = "self/status"
	uidMapFile             = "self/uid_map"
	capSysAdmin            = 21
	sysctlDropIn           = "/etc/sysctl.d/90-sandbox-userns.conf"
	profileDefaultBinary   = "/usr/local/bin/sandbox" // the path on the profile line of contrib/apparmor/sandbox
	profileSource          = "contrib/apparmor/sandbox"
	profileInstalled       = "/etc/apparmor.d/sandbox"
	suggestedMaxNamespaces = "15000"
)

// CheckRefusal reads the host settings that can refuse user namespaces and
// returns the first that does, or nil. procRoot is where /proc is ("" means
// /proc); tests point it at a directory of fake files. It costs a few small
// file reads, and a file that is missing or unreadable counts as "this
// setting does not refuse": the check must never be the thing that fails.
func CheckRefusal(procRoot string) *Refusal {
	if procRoot == "" {
		procRoot = "/proc"
	}
	if r := maxNamespacesRefusal(procRoot); r != nil {
		return r
	}
	if r := unprivilegedCloneRefusal(procRoot); r != nil {
		return r
	}
	return apparmorRefusal(procRoot)
}

// ExplainStart adds the cause to err, the failed start of a process in a new
// user namespace or a failure inside one, when a host setting explains it:
// ENOSPC or EUSERS with user.max_user_namespaces = 0, EPERM with Debian's
// kernel.unprivileged_userns_clone = 0, EPERM or EACCES with AppArmor's
// restriction while this process is unconfined. Otherwise err comes back
// unchanged. The result wraps both err and the *Refusal, so errors.Is and
// errors.As see either.
func ExplainStart(err error, procRoot string) error {
	if err == nil {
		return nil
	}
	var already *Refusal
	if errors.As(err, &already) {
		return err
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	if procRoot == "" {
		procRoot = "/proc"
	}
	var r *Refusal
	switch errno {
	case syscall.ENOSPC, syscall.EUSERS:
		r = maxNamespacesRefusal(procRoot)
	case syscall.EPERM:
		r = unprivilegedCloneRefusal(procRoot)
		if r == nil {
			r = apparmorRefusal(procRoot)
		}
	case syscall.EACCES:
		r = apparmorRefusal(procRoot)
	}
	if r == nil {
		return err
	}
	return fmt.Errorf("%w: %w", err, r)
}

// maxNamespacesRefusal: with user.max_user_namespaces = 0 no user may make
// a user namespace in the current one, root included; clone says ENOSPC.
func maxNamespacesRefusal(procRoot string) *Refusal {
	if v, ok := readSetting(procRoot, maxUserNamespacesFile); !ok || v != "0" {
		return nil
	}
	return &Refusal{
		Setting: "user.max_user_namespaces = 0",
		Why:     "no user may create a user namespace",
		Fix:     sysctlFix("user.max_user_namespaces", suggestedMaxNamespaces),
	}
}

// unprivilegedCloneRefusal: Debian's kernels before 6.x had
// kernel.unprivileged_userns_clone; at 0, clone(CLONE_NEWUSER) fails with
// EPERM unless the caller has CAP_SYS_ADMIN in the initial user namespace.
func unprivilegedCloneRefusal(procRoot string) *Refusal {
	if v, ok := readSetting(procRoot, unprivilegedCloneFile); !ok || v != "0" || privileged(procRoot) {
		return nil
	}
	return &Refusal{
		Setting: "kernel.unprivileged_userns_clone = 0",
		Why:     "Debian's kernel lets only root create user namespaces",
		Fix:     sysctlFix("kernel.unprivileged_userns_clone", "1"),
	}
}

// apparmorRefusal: with kernel.apparmor_restrict_unprivileged_userns = 1 an
// unconfined process still gets its user namespace, but AppArmor moves it
// into a profile without capabilities (or refuses with EACCES when that
// profile is missing), so writing the id maps or mounting fails later. A
// process under a profile of its own, such as contrib/apparmor/sandbox,
// is governed by that profile's userns rule instead, so it is not refused
// here. The label file says which: exactly "unconfined" means no profile.
func apparmorRefusal(procRoot string) *Refusal {
	if v, ok := readSetting(procRoot, apparmorRestrictFile); !ok || v == "0" {
		return nil
	}
	label, ok := readSetting(procRoot, apparmorLabelFile)
	if !ok {
		label, ok = readSetting(procRoot, legacyLabelFile)
	}
	if !ok || label != "unconfined" {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		exe = profileDefaultBinary
	} else if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real // AppArmor attaches profiles by the real path
	}
	return &Refusal{
		Setting: "kernel.apparmor_restrict_unprivileged_userns = 1",
		Why:     "AppArmor gives programs without a profile of their own no capabilities in the user namespaces they create",
		Fix:     apparmorFix(exe),
	}
}

// sysctlFix is the command that lifts a setting now and the one that keeps
// it lifted after a reboot. No punctuation touches a command, so that a
// copied command carries none.
func sysctlFix(name, value string) string {
	return fmt.Sprintf("sudo sysctl -w %s=%s and, to keep it after a reboot, echo %s=%s | sudo tee %s",
		name, value, name, value, sysctlDropIn)
}

// apparmorFix says how to install contrib/apparmor/sandbox for the binary
// at exe (the profile names profileDefaultBinary, so any other path is
// substituted on the way), and the less safe way out.
func apparmorFix(exe string) string {
	install := "sudo cp " + profileSource + " " + profileInstalled
	if exe != profileDefaultBinary {
		target := exe
		if strings.ContainsAny(target, " \t") {
			target = `"` + target + `"` // AppArmor reads an unquoted path up to a space
		}
		script := "s|" + profileDefaultBinary + "|" + sedEscape(target) + "|"
		install = "sed " + shellQuote(script) + " " + profileSource + " | sudo tee " + profileInstalled + " >/dev/null"
	}
	return fmt.Sprintf("install the AppArmor profile %s from sandbox's source for %s: %s && sudo apparmor_parser -r %s "+
		"or, less safe as it lifts the restriction for every program, sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
		profileSource, exe, install, profileInstalled)
}

// sedEscape escapes what is special in the replacement of an s|…|…| command.
func sedEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `&`, `\&`, `|`, `\|`).Replace(s)
}

// shellQuote quotes s for sh in single quotes.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// privileged reports whether this process has CAP_SYS_ADMIN in the initial
// user namespace, which Debian's setting does not restrict: CAP_SYS_ADMIN
// in the effective set, and a uid map that is the initial namespace's
// identity map (inside any other user namespace, capabilities count only
// there). Unreadable files mean not privileged.
func privileged(procRoot string) bool {
	m, ok := readSetting(procRoot, uidMapFile)
	if !ok || strings.Join(strings.Fields(m), " ") != "0 0 4294967295" {
		return false
	}
	status, ok := readSetting(procRoot, statusFile)
	if !ok {
		return false
	}
	for _, line := range strings.Split(status, "\n") {
		if rest, found := strings.CutPrefix(line, "CapEff:"); found {
			caps, err := strconv.ParseUint(strings.TrimSpace(rest), 16, 64)
			return err == nil && caps&(1<<capSysAdmin) != 0
		}
	}
	return false
}

// readSetting reads a small file under procRoot, trimmed of surrounding
// white space and NULs; false when it cannot be read.
func readSetting(procRoot, rel string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(procRoot, rel))
	if err != nil {
		return "", false
	}
	return strings.Trim(string(b), " \t\n\x00"), true
}
