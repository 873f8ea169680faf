package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is where the cgroup v2 hierarchy is mounted.
const Mount = "/sys/fs/cgroup"

// Routes to a cgroup of the user's own.
const (
	// RouteDelegated: the process already lives in a subtree the user owns
	// (under user@UID.service, say); container cgroups are made beside
	// its own cgroup.
	RouteDelegated = "delegated"
	// RouteSystemd: the process sits in a cgroup it does not own (a login
	// session's scope); the systemd user manager is asked for a delegated
	// scope per container.
	RouteSystemd = "systemd"
)

// System is what Detect found: whether limits can work here, and how.
type System struct {
	// Version is 2 for a unified hierarchy, 1 for v1 or hybrid, 0 when no
	// cgroup file system is mounted.
	Version int
	// Own is this process's cgroup, like /user.slice/user-1000.slice/...
	Own string
	// Route is RouteDelegated, RouteSystemd or "" (no way to limit).
	Route string
	// Base is, for RouteDelegated, the cgroup that container cgroups are
	// made in (the parent of Own, which the user owns).
	Base string
	// Controllers are those a container cgroup can have: Base's, or for
	// RouteSystemd those of user@UID.service (what a scope inherits).
	Controllers []string
	// Reason says why Route is "", and Fix what would make one.
	Reason, Fix string
}

// Detect finds where this process may make cgroups. It only reads.
func Detect() System {
	var s System
	var st unix.Statfs_t
	if err := unix.Statfs(Mount, &st); err != nil {
		s.Reason = fmt.Sprintf("no cgroup file system at %s (%v)", Mount, err)
		s.Fix = "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1)"
		return s
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		s.Version = 1
		s.Reason = "the system uses cgroup v1 (or the hybrid layout) for memory, cpu and pids; sandbox limits need cgroup v2, the unified hierarchy"
		s.Fix = "boot with systemd.unified_cgroup_hierarchy=1 (the default on Debian 11 and later, Fedora 31 and later, Ubuntu 21.10 and later)"
		return s
	}
	s.Version = 2
	own, err := OwnCgroup()
	if err != nil {
		s.Reason = err.Error()
		return s
	}
	s.Own = own
	if base, ok := delegatedBase(own); ok {
		s.Route, s.Base = RouteDelegated, base
		s.Controllers = readControllers(filepath.Join(Mount, base, "cgroup.controllers"))
		return s
	}
	uid := os.Getuid()
	if sock := userManagerSocket(); sock != "" {
		s.Route = RouteSystemd
		s.Controllers = readControllers(filepath.Join(Mount, "user.slice", fmt.Sprintf("user-%d.slice", uid), fmt.Sprintf("user@%d.service", uid), "cgroup.controllers"))
		return s
	}
	s.Reason = fmt.Sprintf("this process's cgroup %s is not yours, and no systemd user manager runs for you to delegate one (no %s)", own, filepath.Join(runtimeDir(), "systemd", "private"))
	s.Fix = fmt.Sprintf("log in through a PAM session (ssh, a desktop login) or, as root, run `loginctl enable-linger %s` so that systemd starts user@%d.service", userName(), uid)
	return s
}

// OwnCgroup is this process's cgroup v2 path (the "0::" line of
// /proc/self/cgroup).
func OwnCgroup() (string, error) {
	return pidCgroup("self")
}

func pidCgroup(pid string) (string, error) {
	f, err := os.Open("/proc/" + pid + "/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return p, nil
		}
	}
	return "", errors.New("no cgroup v2 entry in /proc/" + pid + "/cgroup")
}

// delegatedBase is the parent of own when the user owns it and may write
// its cgroup.procs (the migration rule: the common ancestor of where a
// process is and where it goes must be writable), and when it holds no
// process itself (no internal processes: else it could not give its
// children controllers). Own itself is never used: the user's shell may
// share it, and moving the user's processes is not ours to do.
func delegatedBase(own string) (string, bool) {
	if own == "/" {
		return "", false
	}
	base := filepath.Dir(own)
	if base == "/" {
		return "", false
	}
	dir := filepath.Join(Mount, base)
	var st unix.Stat_t
	if unix.Stat(dir, &st) != nil || int(st.Uid) != os.Getuid() {
		return "", false
	}
	for _, f := range []string{"cgroup.procs", "cgroup.subtree_control"} {
		if unix.Access(filepath.Join(dir, f), unix.W_OK) != nil {
			return "", false
		}
	}
	if procs, err := os.ReadFile(filepath.Join(dir, "cgroup.procs")); err != nil || len(strings.TrimSpace(string(procs))) > 0 {
		return "", false
	}
	return base, true
}

func readControllers(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// Has reports whether controller c is available.
func (s System) Has(c string) bool { return slices.Contains(s.Controllers, c) }

func runtimeDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return d
	}
	return "/run/user/" + strconv.Itoa(os.Getuid())
}

// userManagerSocket is the systemd user manager's private socket, when it
// runs (it needs no D-Bus daemon).
func userManagerSocket() string {
	p := filepath.Join(runtimeDir(), "systemd", "private")
	var st unix.Stat_t
	if unix.Stat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK {
		return p
	}
	return ""
}

func userName() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return strconv.Itoa(os.Getuid())
}
