package plan

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestFdPath(t *testing.T) {
	for _, fd := range []uintptr{0, 7, 10, 12345, 2147483647} {
		var b fdPath
		b.of(fd)
		got := unix.ByteSliceToString(b[:])
		if want := fmt.Sprintf("/proc/self/fd/%d", fd); got != want {
			t.Errorf("of(%d) = %q, want %q", fd, got, want)
		}
	}
}

func TestPathOutsideRoot(t *testing.T) {
	for _, rel := range []string{"..", "../etc", "/", "a/../../b"} {
		p := New(t.TempDir())
		p.Mount(rel, "tmpfs", "tmpfs", 0, "")
		if p.Err() == nil || p.Run() == nil {
			t.Errorf("Mount(%q): no error", rel)
		}
	}
	p := New(t.TempDir())
	p.BindIn("../x", "y", false, false)
	if p.Err() == nil {
		t.Errorf("BindIn(../x): no error")
	}
}

// TestSymlinkAndIfExists needs no privilege: symlinks and lookups only.
func TestSymlinkAndIfExists(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "f"), nil, 0o644)
	// "out" leaves the root if followed naively: it must resolve inside.
	os.Symlink("/", filepath.Join(root, "out"))
	p := New(root)
	p.OpenRoot()
	p.IfExists("missing", false)
	p.Symlink("x", "d/never") // skipped
	p.IfExists("f", true)     // a file, not a directory
	p.Symlink("x", "d/never2")
	p.IfExists("d", true)
	p.Symlink("target", "d/made")
	p.Symlink("other", "d/made") // exists: left alone
	p.IfExists("out", true)      // a symlink: lstat says not a directory
	p.Symlink("x", "d/never3")
	p.Symlink("x", "out/d/inside") // through the link, inside the root
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"never", "never2", "never3"} {
		if _, err := os.Lstat(filepath.Join(root, "d", n)); err == nil {
			t.Errorf("d/%s was made although its IfExists was false", n)
		}
	}
	if got, err := os.Readlink(filepath.Join(root, "d/made")); err != nil || got != "target" {
		t.Errorf("d/made -> %q, %v; want target", got, err)
	}
	if got, err := os.Readlink(filepath.Join(root, "d/inside")); err != nil || got != "x" {
		t.Errorf("d/inside -> %q, %v; want the link made through out/ inside the root", got, err)
	}
	p = New(root)
	p.OpenRoot()
	p.Symlink("x", "nodir/y")
	if err := p.Run(); err == nil || !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), "creating /nodir/y") {
		t.Errorf("Symlink in a missing directory: %v, want creating /nodir/y: ENOENT", err)
	}
}

// TestMounts runs the mounting ops in a user and mount namespace of a
// child of the test binary (TestMain's helper).
func TestMounts(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PLAN_TEST_HELPER=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Skipf("no user namespace here: %v", err)
	}
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "helper ok") {
		t.Fatalf("helper said nothing:\n%s", out)
	}
}

func TestMain(m *testing.M) {
	if os.Getenv("PLAN_TEST_HELPER") == "1" {
		if err := mountHelper(); err != nil {
			fmt.Println("helper:", err)
			os.Exit(1)
		}
		fmt.Println("helper ok")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func mountHelper() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "plan-root")
	if err != nil {
		return err
	}
	host, err := os.MkdirTemp("", "plan-host")
	if err != nil {
		os.Remove(root)
		return err
	}
	// The root is a tmpfs of its own: the mounts the plan makes in it,
	// and the file it binds over host's, go with it at the end, which
	// then leaves both directories empty to remove (they stayed in /tmp,
	// busy, when removed with the mounts in place).
	if err := unix.Mount("tmpfs", root, "tmpfs", 0, "size=1m"); err != nil {
		os.Remove(root)
		os.RemoveAll(host)
		return err
	}
	defer func() {
		unix.Unmount(root, unix.MNT_DETACH)
		os.RemoveAll(root)
		os.RemoveAll(host)
	}()
	os.WriteFile(filepath.Join(host, "file"), []byte("host"), 0o644)
	os.Symlink("/", filepath.Join(root, "out"))
	os.Symlink("../../..", filepath.Join(root, "up"))
	// Names that, should the plan escape, land in the host's / (this
	// mount namespace's): unusual ones, removed again.
	escaped, up2 := fmt.Sprintf("plan-test-escaped-%d", os.Getpid()), fmt.Sprintf("plan-test-up-%d", os.Getpid())
	defer os.Remove("/" + escaped)
	defer os.Remove("/" + up2)
	if err := os.WriteFile(filepath.Join(root, "null"), []byte("null"), 0o644); err != nil {
		return err
	}
	fallbackRan := false
	p := New(root)
	p.OpenRoot()
	p.Mount("a/b/c", "tmpfs", "tmpfs", unix.MS_NOSUID, "size=1m")
	p.Mount("out/"+escaped, "tmpfs", "tmpfs", 0, "size=1m") // lands in root/escaped
	p.Mount("up/"+up2, "tmpfs", "tmpfs", 0, "size=1m")      // root/up2
	p.Bind(filepath.Join(host, "file"), "etc/f", false, false, true)
	p.Bind(host, "hostdir", true, true, false)
	p.IfExists("hostdir/file", false)
	p.BindIn("null", "hostdir/file", false, false)
	p.IfExists("nothing", false)
	p.BindIn("null", "nothing", false, false) // skipped, or it would fail
	p.ReadOnlyTree("missing", func() error { fallbackRan = true; return nil })
	p.Mount("after", "tmpfs", "tmpfs", 0, "size=1m")
	// In an empty tmpfs the plan makes targets without a look first
	// (TestSkipsWhatEarlierOpsMade): a file, a directory, a file in it.
	p.Mount("t", "tmpfs", "tmpfs", 0, "size=1m")
	p.Bind(filepath.Join(host, "file"), "t/f", false, false, false)
	p.Mount("t/sub", "tmpfs", "tmpfs", 0, "size=1m")
	p.Bind(filepath.Join(host, "file"), "t/sub/g", false, false, true)
	// A detached tmpfs made at a fixed descriptor, then attached; a
	// namespace's file opened at another. Both kept across an execve.
	const treeFD, nsFD = 100, 101
	p.FSMount("making a tmpfs", "tmpfs", "plan-tree", unix.MOUNT_ATTR_NOSUID, treeFD)
	p.AttachTree("mounting the tmpfs", treeFD, "tree", true)
	p.OpenFixed("opening the mount namespace", "/proc/self/ns/mnt", unix.O_RDONLY, nsFD)
	// A host file cloned at a descriptor, then attached as a bind.
	const fileFD = 102
	p.OpenTreeFixed("cloning the host file", filepath.Join(host, "file"), fileFD)
	p.AttachTree("binding the host file", fileFD, "etc/tree-f", false)
	if err := p.Run(); err != nil {
		return err
	}
	defer unix.Close(treeFD)
	defer unix.Close(nsFD)
	defer unix.Close(fileFD)
	if b, err := os.ReadFile(filepath.Join(root, "etc/tree-f")); err != nil || string(b) != "host" {
		return fmt.Errorf("etc/tree-f reads %q, %v; want the host file attached", b, err)
	}
	for _, fd := range []int{treeFD, nsFD} {
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC != 0 {
			return fmt.Errorf("descriptor %d: flags %#x, %v; want it open, not close-on-exec", fd, flags, err)
		}
	}
	if l, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", nsFD)); err != nil || !strings.HasPrefix(l, "mnt:[") {
		return fmt.Errorf("descriptor %d is %q, %v; want the mount namespace", nsFD, l, err)
	}
	for _, rel := range []string{"t/f", "t/sub/g"} {
		if b, err := os.ReadFile(filepath.Join(root, rel)); err != nil || string(b) != "host" {
			return fmt.Errorf("%s reads %q, %v; want the host file bound", rel, b, err)
		}
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	if !strings.Contains(string(mounts), " "+filepath.Join(root, "tree")+" rw,nosuid,relatime - tmpfs plan-tree ") {
		return fmt.Errorf("no tmpfs plan-tree attached on tree:\n%s", mounts)
	}
	for _, rel := range []string{"a/b/c", escaped, up2, "etc/f", "hostdir", "hostdir/file", "after", "t", "t/f", "t/sub", "t/sub/g"} {
		if !strings.Contains(string(mounts), " "+filepath.Join(root, rel)+" ") {
			return fmt.Errorf("nothing mounted on %s:\n%s", rel, mounts)
		}
	}
	for _, leak := range []string{"/" + escaped, "/" + up2} {
		if _, err := os.Lstat(leak); err == nil {
			unix.Unmount(leak, unix.MNT_DETACH)
			return fmt.Errorf("%s made outside the root", leak)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc/f")); err != nil || string(b) != "host" {
		return fmt.Errorf("etc/f reads %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/f"), []byte("x"), 0); !errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("writing the read-only bind: %v, want EROFS", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "hostdir/file")); string(b) != "null" {
		return fmt.Errorf("hostdir/file reads %q, want the masking file", b)
	}
	if !fallbackRan {
		return fmt.Errorf("ReadOnlyTree's fallback did not run after its failure")
	}
	p = New(root)
	p.OpenRoot()
	p.Mount("x", "nosuchfs", "nosuchfs", 0, "")
	if err := p.Run(); err == nil || !strings.HasPrefix(err.Error(), "mounting nosuchfs on /x: ") {
		return fmt.Errorf("a mount that fails: %v", err)
	}
	return nil
}

// TestDescribe: each op's description, made only for its error, says
// what the op does as the built ones did.
func TestDescribe(t *testing.T) {
	p := New("/r")
	p.OpenRoot()
	p.OpenRootAt("/")
	p.Mount("/dev/pts/", "devpts", "devpts", 0, "")
	p.Bind("/etc/hosts", "etc/hosts", false, false, false)
	p.BindIn("dev/null", "proc/kcore", false, false)
	p.Symlink("pts/ptmx", "dev/ptmx")
	p.IfExists("proc/acpi", true)
	p.ReadOnlyTree("sys", nil)
	p.Attach(3, "vol", "data", true)
	p.MkdirAll("making /w", "w")
	p.CloseRoot()
	p.Syscall("entering %d", unix.SYS_CHDIR, 0)
	p.Syscallf("dropping capability %d from the bounding set", 7, unix.SYS_PRCTL, 0, 0)
	p.ReadOnlyAt("making the root read-only", "/")
	want := []string{
		`opening the container root "/r"`,
		`opening "/"`,
		"mounting devpts on /dev/pts",
		`binding "/etc/hosts" on /etc/hosts`,
		"binding /dev/null on /proc/kcore",
		"creating /dev/ptmx",
		"looking up /proc/acpi",
		"making /sys read-only",
		`mounting volume "vol" on /data`,
		"making /w",
		"closing the container root",
		"entering %d",
		"dropping capability 7 from the bounding set",
		"making the root read-only",
	}
	if len(p.ops) != len(want) {
		t.Fatalf("%d ops, want %d", len(p.ops), len(want))
	}
	for i, w := range want {
		if got := p.describe(&p.ops[i]); got != w {
			t.Errorf("op %d: %q, want %q", i, got, w)
		}
	}
	q := New("/r")
	q.Mount("/", "tmpfs", "tmpfs", 0, "")
	if err := q.Err(); err == nil || !strings.HasPrefix(err.Error(), "mounting tmpfs on /: ") {
		t.Errorf("a mount on the root itself: %v, want it named as on /", err)
	}
}

// TestSkipsWhatEarlierOpsMade: an op does not make again the directories
// an earlier op made or mounted on, and in a directory that was empty (a
// tmpfs the plan mounted, or a directory made in one) it makes its
// target without looking for it first; elsewhere, as before.
func TestSkipsWhatEarlierOpsMade(t *testing.T) {
	p := New("/r")
	p.OpenRoot()
	p.Mount("dev", "tmpfs", "tmpfs", 0, "")
	p.Bind("/dev/null", "dev/null", false, false, false)
	p.Mount("dev/pts", "devpts", "devpts", 0, "")
	p.Bind("/dev/ptmx", "dev/pts/x", false, false, false)
	p.Bind("/etc/hosts", "etc/hosts", false, false, false)
	p.Bind("/dev/null", "dev/null", false, false, false)
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	type want struct {
		rel    string
		mkdirs []string
		fresh  bool
	}
	wants := []want{
		{"dev", []string{"./dev"}, false},
		{"dev/null", nil, true},
		{"dev/pts", []string{"dev/pts"}, true},
		{"dev/pts/x", nil, false}, // devpts is not empty
		{"etc/hosts", []string{"./etc"}, false},
		{"dev/null", nil, false}, // made before: looked for
	}
	ops := p.ops[1:] // after OpenRoot
	if len(ops) != len(wants) {
		t.Fatalf("%d ops, want %d", len(ops), len(wants))
	}
	for i, w := range wants {
		o := ops[i]
		var mk []string
		for _, m := range o.mkdirs {
			mk = append(mk, gostr(m.parent)+"/"+gostr(m.name))
		}
		if gostr(o.rel) != w.rel || !slices.Equal(mk, w.mkdirs) || o.fresh != w.fresh {
			t.Errorf("op %d: %s makes %q, fresh %v; want %s making %q, fresh %v", i, gostr(o.rel), mk, o.fresh, w.rel, w.mkdirs, w.fresh)
		}
	}
}

// TestMake: Make makes a missing file empty, or a directory, and the
// directories on the way, and leaves what is there as it is.
func TestMake(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "kept"), []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := New(root)
	p.OpenRoot()
	p.Make("making /a/b/file", "a/b/file", false)
	p.Make("making /a/c", "a/c", true)
	p.Make("making /kept", "kept", false)
	if err := p.Run(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(root, "a/b/file")); err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
		t.Errorf("a/b/file: %v, %v; want an empty file", fi, err)
	}
	if fi, err := os.Lstat(filepath.Join(root, "a/c")); err != nil || !fi.IsDir() {
		t.Errorf("a/c: %v, %v; want a directory", fi, err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "kept")); err != nil || string(b) != "kept" {
		t.Errorf("kept reads %q, %v; want it as it was", b, err)
	}
}
