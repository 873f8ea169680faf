package cgroups

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/config"
)

// Cgroup is a container's cgroup.
type Cgroup struct {
	// Path is the group path under Mount, like
	// /user.slice/user-1000.slice/user@1000.service/app.slice/sandbox-0123456789ab.
	Path string
	// Limits are those it enforces.
	Limits config.Resources
	fd     int // an O_PATH descriptor of its directory, for clone3; -1 when closed
}

// Create makes the cgroup of container id with limits r, by s's route:
// beside this process's own cgroup (RouteDelegated), or in a scope the
// systemd user manager delegates (RouteSystemd), which this process moves
// into first. The init is then started into it with FD (clone3).
func Create(s System, id string, r config.Resources) (*Cgroup, error) {
	name := "sandbox-" + shortID(id)
	var group string
	switch s.Route {
	case RouteDelegated:
		group = s.Base + "/" + name
	case RouteSystemd:
		scope, err := systemdScope(name)
		if err != nil {
			return nil, err
		}
		group = scope + "/container"
	default:
		return nil, fmt.Errorf("no cgroup to make: %s", s.Reason)
	}
	sets, err := settings(r, hasSwapAccounting())
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(Mount, group)
	if _, err := os.Stat(dir); err == nil {
		// Left by a recorder that was killed: its processes died with it.
		removeDir(dir)
	}
	if err := makeGroup(dir, sets); err != nil {
		return nil, fmt.Errorf("making cgroup %s: %w", dir, err)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		removeDir(dir)
		return nil, fmt.Errorf("opening cgroup %s: %w", dir, err)
	}
	return &Cgroup{Path: group, Limits: r, fd: fd}, nil
}

// makeGroup makes dir, enables the controllers sets need in its
// ancestors' cgroup.subtree_control (from the mount down; as a user the
// upper ones refuse, which is fine once the nearest one has them), and
// writes sets. On error dir is removed again.
func makeGroup(dir string, sets []setting) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if ctrls := controllersOf(sets); len(ctrls) > 0 {
		var lastErr error
		line := "+" + strings.Join(ctrls, " +")
		for p := Mount; p != dir; {
			f := filepath.Join(p, "cgroup.subtree_control")
			if err := os.WriteFile(f, []byte(line), 0); err != nil {
				lastErr = fmt.Errorf("enabling %s in %s: %w", line, f, err)
			} else {
				lastErr = nil
			}
			rest, _ := filepath.Rel(p, dir)
			p = filepath.Join(p, strings.Split(rest, "/")[0])
		}
		if lastErr != nil {
			os.Remove(dir)
			return lastErr
		}
	}
	for _, st := range sets {
		if err := writeSetting(dir, st); err != nil {
			os.Remove(dir)
			return err
		}
	}
	return nil
}

// writeSetting writes one interface file (never creating it: a missing
// one means its controller is not enabled there).
func writeSetting(dir string, st setting) error {
	f, err := os.OpenFile(filepath.Join(dir, st.file), os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		c, _, _ := strings.Cut(st.file, ".")
		return fmt.Errorf("writing %s=%q: %s does not exist (the %s controller is not enabled there): %w", st.file, st.value, st.file, c, err)
	}
	if err != nil {
		return fmt.Errorf("writing %s=%q: %w", st.file, st.value, err)
	}
	defer f.Close()
	if _, err := f.Write([]byte(st.value)); err != nil {
		return fmt.Errorf("writing %s=%q: %w", st.file, st.value, err)
	}
	return nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Open returns the cgroup at path (recorded in a container's state), for
// stats and removal from another process.
func Open(path string) *Cgroup { return &Cgroup{Path: path, fd: -1} }

// Dir is the cgroup's directory.
func (c *Cgroup) Dir() string { return filepath.Join(Mount, c.Path) }

// FD is the descriptor to start a process in it (SysProcAttr.CgroupFD).
func (c *Cgroup) FD() int { return c.fd }

// Events are the counts a container's end is explained by.
type Events struct {
	OOMKills uint64 // memory.events oom_kill: processes the OOM killer ended
	PidsMax  uint64 // pids.events max: forks refused at pids.max
}

// Events reads memory.events and pids.events.
func (c *Cgroup) Events() Events {
	var e Events
	e.OOMKills = keyed(filepath.Join(c.Dir(), "memory.events"), "oom_kill")
	e.PidsMax = keyed(filepath.Join(c.Dir(), "pids.events"), "max")
	return e
}

// keyed reads the value of key in a "key value" per line file (0 when
// missing).
func keyed(path, key string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// Remove waits for the cgroup to empty (the container's processes die
// with its init, a moment after it) and removes it.
func (c *Cgroup) Remove() error {
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
	return removeDir(c.Dir())
}

// Kill kills every process in the cgroup (cgroup.kill).
func (c *Cgroup) Kill() error {
	return os.WriteFile(filepath.Join(c.Dir(), "cgroup.kill"), []byte("1"), 0)
}

// removeDir waits (up to 10 s) for "populated 0" in cgroup.events, then
// removes the directory. A missing directory is not an error.
func removeDir(dir string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil || bytes.Contains(b, []byte("populated 0")) || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	// Children first (a scope's container and supervisor leaves).
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			removeDir(filepath.Join(dir, e.Name()))
		}
	}
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing cgroup %s: %w", dir, err)
	}
	return nil
}
