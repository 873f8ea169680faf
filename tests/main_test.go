// Package tests is sandbox's black-box acceptance suite. It builds the
// binary once and drives it from the outside, as an unprivileged user, the
// way a user would: real images (a busybox rootfs made here), real
// containers, real signals and terminals.
//
// When the suite runs as root (CI, the test VM) it creates two users and
// runs every command as them:
//
//   - sbx-sub has subordinate uid/gid ranges: the "subid" mode;
//   - sbx-nosub has none: sandbox must fall back to the "single" mode.
//
// When it runs as an ordinary user it uses that user for both modes; the
// single mode is then forced with `userns = "single"` in config.toml, and
// the subid mode runs only if the user really has ranges and a setuid
// newuidmap.
//
// Each run gets fresh homes (so fresh stores) under one scratch directory,
// removed at the end.
package tests

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	osuser "os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	// baseDir is the scratch directory of this run (mode 0755, so that the
	// test users can traverse it). Everything the suite makes lives here.
	baseDir string
	// sandboxBin is the binary under test: root-owned (when the suite runs
	// as root), mode 0755, in a root-owned directory, so the test users can
	// run it but not replace it.
	sandboxBin string
	// users holds the "subid" and the "single" variant, in that order.
	users []*user
	// parallelUsers is true when the two variants are different host
	// users, whose stores and processes cannot interfere.
	parallelUsers bool
)

const (
	subUser   = "sbx-sub"
	noSubUser = "sbx-nosub"
	// subIDCount is the size of the range sbx-sub gets, as useradd gives.
	subIDCount = 65536
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	parent := os.TempDir()
	if os.Geteuid() == 0 && !traversable(parent) {
		// $TMPDIR may be under /root: the test users could not reach it.
		parent = "/tmp"
	}
	var err error
	baseDir, err = os.MkdirTemp(parent, "sandbox-tests-")
	if err == nil {
		err = os.Chmod(baseDir, 0o755)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "making the scratch directory: %v\n", err)
		return 1
	}
	defer cleanup()
	if err := buildSandbox(); err != nil {
		fmt.Fprintf(os.Stderr, "building sandbox: %v\n", err)
		return 1
	}
	if err := setupUsers(); err != nil {
		fmt.Fprintf(os.Stderr, "setting up the test users: %v\n", err)
		return 1
	}
	return m.Run()
}

// traversable reports whether every directory from / to dir lets others
// through.
func traversable(dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

// cleanup removes the scratch directory. As root that removes files owned
// by subordinate ids too. An ordinary user cannot remove those: a
// container of the subid variant, whose root can, removes them first.
func cleanup() {
	if os.Geteuid() != 0 {
		removeSubIDFiles()
	}
	if err := os.RemoveAll(baseDir); err != nil {
		fmt.Fprintf(os.Stderr, "warning: cleaning up %s: %v\n", baseDir, err)
	}
}

// removeSubIDFiles removes, from inside a container, every tree under
// baseDir not owned by the user (container root).
func removeSubIDFiles() {
	for _, u := range users {
		if err, imported := u.images["bb"]; u.mode != "subid" || u.skip != "" || !imported || err != nil {
			continue
		}
		c := u.command(runOpts{}, "run", "--rm", "-v", baseDir+":/scratch", "bb",
			"find", "/scratch", "-mindepth", "1", "!", "-user", "0", "-prune", "-exec", "rm", "-rf", "{}", ";")
		var out strings.Builder
		c.Stdout, c.Stderr = &out, &out
		if err := c.Start(); err != nil {
			return
		}
		timer := time.AfterFunc(defaultTimeout, func() { c.Process.Kill() })
		if err := c.Wait(); err != nil {
			fmt.Fprintf(os.Stderr, "warning: removing files of subordinate ids from a container: %v: %s\n", err, out.String())
		}
		timer.Stop()
	}
}

// buildSandbox builds the static binary into baseDir/bin/sandbox.
func buildSandbox() error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return errors.New("not inside the sandbox module (go env GOMOD is empty)")
	}
	binDir := filepath.Join(baseDir, "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(binDir, 0o755); err != nil {
		return err
	}
	sandboxBin = filepath.Join(binDir, "sandbox")
	cmd := exec.Command("go", "build", "-o", sandboxBin, "github.com/sandbox-dev/sandbox")
	cmd.Dir = filepath.Dir(gomod)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return os.Chmod(sandboxBin, 0o755)
}

// setupUsers fills users: two dedicated users when running as root, the
// current user twice otherwise.
func setupUsers() error {
	if os.Geteuid() == 0 {
		parallelUsers = true
		if err := ensureTestUsers(); err != nil {
			return err
		}
		sub, err := newUser("subid", subUser, true)
		if err != nil {
			return err
		}
		single, err := newUser("single", noSubUser, true)
		if err != nil {
			return err
		}
		users = []*user{sub, single}
		return nil
	}
	me, err := osuser.Current()
	if err != nil {
		return err
	}
	sub, err := newUser("subid", me.Username, false)
	if err != nil {
		return err
	}
	if len(sub.subUIDs) == 0 || len(sub.subGIDs) == 0 {
		sub.skip = fmt.Sprintf("user %s has no ranges in /etc/subuid and /etc/subgid (run the suite as root, or add ranges with usermod --add-subuids/--add-subgids)", me.Username)
	} else if why := newuidmapUnusable(); why != "" {
		sub.skip = why
	}
	single, err := newUser("single", me.Username, false)
	if err != nil {
		return err
	}
	// The same user in both variants: force the single mode in its config.
	cfg := filepath.Join(single.home, ".config", "sandbox", "config.toml")
	if err := single.mkdirAll(filepath.Dir(cfg)); err != nil {
		return err
	}
	if err := single.writeFile(cfg, "userns = \"single\"\n", 0o644); err != nil {
		return err
	}
	users = []*user{sub, single}
	return nil
}

// newuidmapUnusable says why newuidmap/newgidmap cannot map subordinate
// ids, or "" when they can.
func newuidmapUnusable() string {
	for _, name := range []string{"newuidmap", "newgidmap"} {
		p, err := exec.LookPath(name)
		if err != nil {
			return name + " is not installed (apt-get install uidmap)"
		}
		fi, err := os.Stat(p)
		if err != nil {
			return err.Error()
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode()&os.ModeSetuid == 0 || st.Uid != 0 {
			return p + " is not setuid root"
		}
	}
	return ""
}

// ensureTestUsers creates sbx-sub (with a 65536-id subordinate range) and
// sbx-nosub (without any), idempotently. A file lock keeps two suites run
// at the same time from racing on useradd and /etc/sub[ug]id.
func ensureTestUsers() error {
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "sandbox-tests-users.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}

	if err := ensureUser(subUser); err != nil {
		return err
	}
	if err := ensureUser(noSubUser, "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0"); err != nil {
		return err
	}
	for _, f := range []struct{ file, add, del string }{
		{"/etc/subuid", "--add-subuids", "--del-subuids"},
		{"/etc/subgid", "--add-subgids", "--del-subgids"},
	} {
		// sbx-sub: one range of at least 65536 ids.
		u, err := osuser.Lookup(subUser)
		if err != nil {
			return err
		}
		ranges, err := readSubIDs(f.file, subUser, u.Uid)
		if err != nil {
			return err
		}
		if !hasFullRange(ranges) {
			start, err := freeSubIDStart()
			if err != nil {
				return err
			}
			spec := fmt.Sprintf("%d-%d", start, start+subIDCount-1)
			if out, err := exec.Command("usermod", f.add, spec, subUser).CombinedOutput(); err != nil {
				return fmt.Errorf("usermod %s %s %s: %v: %s", f.add, spec, subUser, err, out)
			}
		}
		// sbx-nosub: no line at all.
		n, err := osuser.Lookup(noSubUser)
		if err != nil {
			return err
		}
		ranges, err = readSubIDs(f.file, noSubUser, n.Uid)
		if err != nil {
			return err
		}
		for _, r := range ranges {
			spec := fmt.Sprintf("%d-%d", r.start, r.start+r.count-1)
			if out, err := exec.Command("usermod", f.del, spec, noSubUser).CombinedOutput(); err != nil {
				return fmt.Errorf("usermod %s %s %s: %v: %s", f.del, spec, noSubUser, err, out)
			}
		}
		if ranges, err = readSubIDs(f.file, noSubUser, n.Uid); err != nil || len(ranges) > 0 {
			return fmt.Errorf("%s still lists %s after usermod %s (%v)", f.file, noSubUser, f.del, err)
		}
	}
	return nil
}

func ensureUser(name string, extra ...string) error {
	if _, err := osuser.Lookup(name); err == nil {
		return nil
	}
	args := append([]string{"--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh", "--user-group"}, extra...)
	args = append(args, name)
	out, err := exec.Command("useradd", args...).CombinedOutput()
	if err != nil {
		if _, lerr := osuser.Lookup(name); lerr == nil {
			return nil // made by someone else meanwhile
		}
		return fmt.Errorf("useradd %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func hasFullRange(ranges []idRange) bool {
	for _, r := range ranges {
		if r.count >= subIDCount {
			return true
		}
	}
	return false
}

// freeSubIDStart returns the first id past every range of /etc/subuid and
// /etc/subgid (and at least 100000, as login.defs' SUB_UID_MIN), so a new
// range overlaps no one's.
func freeSubIDStart() (uint32, error) {
	start := uint64(100000)
	for _, file := range []string{"/etc/subuid", "/etc/subgid"} {
		all, err := readSubIDs(file, "", "")
		if err != nil {
			return 0, err
		}
		for _, r := range all {
			start = max(start, uint64(r.start)+uint64(r.count))
		}
	}
	if start+subIDCount > 1<<32-1 {
		return 0, errors.New("no free subordinate id range left")
	}
	return uint32(start), nil
}

// readSubIDs returns the ranges of /etc/subuid-format file for the user
// named name or with numeric id uid, in file order; with both empty, every
// range. A missing file has none.
func readSubIDs(file, name, uid string) ([]idRange, error) {
	f, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []idRange
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ":")
		if len(fields) != 3 {
			continue
		}
		if (name != "" || uid != "") && fields[0] != name && fields[0] != uid {
			continue
		}
		start, err1 := strconv.ParseUint(fields[1], 10, 32)
		count, err2 := strconv.ParseUint(fields[2], 10, 32)
		if err1 != nil || err2 != nil || count == 0 {
			continue
		}
		out = append(out, idRange{uint32(start), uint32(count)})
	}
	return out, sc.Err()
}
