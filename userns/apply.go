package userns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// helperTimeout bounds one newuidmap/newgidmap run; they only write a file,
// so anything longer means something is stuck.
const helperTimeout = 30 * time.Second

// Apply writes the uid and gid maps of process pid (which must be in a fresh
// user namespace, blocked, its maps unwritten) by running newuidmap and
// newgidmap. Only valid in ModeSubID; in single mode use SysProcIDMaps.
func (m Mapping) Apply(pid int) error {
	if err := m.validateApply(pid); err != nil {
		return err
	}
	// The two maps are independent files: write them at once, since each
	// helper costs a process start on every container start.
	gidErr := make(chan error, 1)
	go func() {
		gidErr <- runMapHelper(m.NewGIDMap, "newgidmap", pid, m.GIDs,
			"check that the ranges in /etc/subgid belong to this user and that newgidmap is setuid root")
	}()
	uerr := runMapHelper(m.NewUIDMap, "newuidmap", pid, m.UIDs,
		"check that the ranges in /etc/subuid belong to this user and that newuidmap is setuid root")
	gerr := <-gidErr
	if uerr != nil {
		return uerr
	}
	return gerr
}

// validateApply checks that m can be applied to pid, before anything runs.
func (m Mapping) validateApply(pid int) error {
	if m.Mode != ModeSubID {
		return fmt.Errorf("applying id maps with newuidmap needs subid mode, not %q", m.Mode)
	}
	if pid <= 0 {
		return fmt.Errorf("applying id maps: invalid pid %d", pid)
	}
	if m.NewUIDMap == "" || m.NewGIDMap == "" {
		return errors.New("applying id maps: newuidmap or newgidmap path not set")
	}
	for _, maps := range [][]IDMap{m.UIDs, m.GIDs} {
		if len(maps) == 0 || len(maps) > maxMapLines {
			return fmt.Errorf("applying id maps: %d map lines, want 1 to %d", len(maps), maxMapLines)
		}
		for _, e := range maps {
			if e.Size == 0 {
				return fmt.Errorf("applying id maps: empty map line %d:%d:0", e.ContainerID, e.HostID)
			}
		}
	}
	return nil
}

// runMapHelper runs `helper PID C1 H1 S1 C2 H2 S2 …`.
func runMapHelper(path, name string, pid int, maps []IDMap, hint string) error {
	args := make([]string, 0, 1+3*len(maps))
	args = append(args, strconv.Itoa(pid))
	for _, e := range maps {
		args = append(args,
			strconv.FormatUint(uint64(e.ContainerID), 10),
			strconv.FormatUint(uint64(e.HostID), 10),
			strconv.FormatUint(uint64(e.Size), 10))
	}
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	// Killed at the timeout, it is not waited for past a second more:
	// without this, the wait lasts until whatever inherited its output
	// closes it.
	cmd.WaitDelay = time.Second
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("running %s for pid %d: %w: %s (%s)", name, pid, err, strings.TrimSpace(stderr.String()), hint)
	}
	return nil
}
