package layer

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// features says what buildTree could put in the tree on this file system.
type features struct{ xattrs, whiteouts bool }

// buildTree fills dir with one of everything PackDir handles, each file
// with its own nanosecond mtime.
func buildTree(t *testing.T, dir string) features {
	t.Helper()
	feat := features{xattrs: userXattrsWork(dir), whiteouts: whiteoutsWork(dir)}
	at := func(rel string) string { return filepath.Join(dir, rel) }
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mkdir := func(rel string) { check(os.MkdirAll(at(rel), 0o755)) }
	write := func(rel, body string, mode os.FileMode) {
		check(os.WriteFile(at(rel), []byte(body), 0o600))
		check(os.Chmod(at(rel), mode))
	}

	mkdir("etc")
	write("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644)
	check(os.Link(at("etc/passwd"), at("etc/passwd-hardlink")))
	write("etc/shadow", "root:*::0:::::\n", 0o600)
	mkdir("usr/bin")
	mkdir("usr/lib")
	write("usr/bin/tool", "tool", 0o755)
	check(unix.Chmod(at("usr/bin/tool"), 0o4755)) // os.Chmod spells set-uid differently
	check(os.Link(at("usr/bin/tool"), at("usr/bin/tool2")))
	check(os.Symlink("usr/lib", at("lib")))
	check(os.Symlink("/usr/bin", at("bin")))
	check(os.Symlink("usr/bin/tool", at("usr/tool-link")))
	check(os.Link(at("usr/tool-link"), at("usr/tool-link2"))) // a hard link to a symlink
	// "a-b" sorts before "a/..." as a string; lexical order is by name.
	write("a-b", "dash", 0o644)
	mkdir("a")
	write("a/x", "in a", 0o644)
	mkdir("tmp")
	check(unix.Chmod(at("tmp"), 0o1777))
	mkdir("run")
	check(unix.Mkfifo(at("run/pipe"), 0o600))
	check(unix.Chmod(at("run/pipe"), 0o640))
	mkdir("empty")
	mkdir("deep/" + strings.Repeat("d", 100))
	write("deep/"+strings.Repeat("d", 100)+"/"+strings.Repeat("f", 100), "long name", 0o644)
	mkdir("ro")
	write("ro/f", "read only", 0o444)
	if feat.whiteouts {
		check(unix.Mknod(at("gone"), unix.S_IFCHR, 0))
		check(unix.Mknod(at("etc/gone-too"), unix.S_IFCHR, 0))
	}
	if feat.xattrs {
		mkdir("opq/sub")
		check(unix.Setxattr(at("opq"), opaqueXattr, []byte("y"), 0))
		check(unix.Setxattr(at("etc/passwd"), "user.note", []byte("hi"), 0))
		check(unix.Setxattr(at("etc"), "user.dir", []byte("d"), 0))
		// overlayfs' own attributes other than opaque stay out.
		check(unix.Setxattr(at("etc"), "user.overlay.origin", []byte("x"), 0))
	}
	// Read-only last, once filled.
	check(unix.Chmod(at("ro"), 0o555))

	// Distinct times, deepest first so that setting a child's does not
	// touch its parent's afterwards.
	var paths []string
	check(filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if p != dir {
			paths = append(paths, p)
		}
		return err
	}))
	slices.SortFunc(paths, func(a, b string) int {
		if d := strings.Count(b, "/") - strings.Count(a, "/"); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for i, p := range paths {
		ts := unix.NsecToTimespec(time.Unix(1_600_000_000+int64(i)*1000, int64(i)*7919+1).UnixNano())
		check(unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW))
	}
	return feat
}

// treeSummary describes every file under dir (not dir itself): type and
// mode, owner, mtime, contents, link target, device number, user xattrs, and
// which hard link group it belongs to.
func treeSummary(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	groups := make(map[uint64]string) // inode → first name, in walk order
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		s := fmt.Sprintf("mode=%o owner=%d:%d mtime=%d.%09d", st.Mode, st.Uid, st.Gid, st.Mtim.Sec, st.Mtim.Nsec)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s += fmt.Sprintf(" data=%q", b)
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			s += " link=" + target
		case unix.S_IFCHR:
			s += fmt.Sprintf(" rdev=%d", st.Rdev)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR && st.Nlink > 1 {
			if _, ok := groups[st.Ino]; !ok {
				groups[st.Ino] = rel
			}
			s += " hardlink-group=" + groups[st.Ino]
		}
		if st.Mode&unix.S_IFMT == unix.S_IFREG || st.Mode&unix.S_IFMT == unix.S_IFDIR {
			s += " xattrs=" + userXattrs(t, p)
		}
		out[rel] = s
		return nil
	})
	if err != nil {
		t.Fatalf("summarizing %q: %v", dir, err)
	}
	return out
}

// userXattrs lists a file's user.* xattrs, values included, in order.
func userXattrs(t *testing.T, p string) string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return "unsupported"
	}
	var names []string
	for name := range strings.SplitSeq(string(buf[:n]), "\x00") {
		if strings.HasPrefix(name, "user.") && name != "user.overlay.origin" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var parts []string
	for _, name := range names {
		v, _ := getXattrPath(t, p, name)
		parts = append(parts, name+"="+v)
	}
	return strings.Join(parts, ",")
}

func pack(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := PackDir(dir, &buf); err != nil {
		t.Fatalf("PackDir: %v", err)
	}
	return buf.Bytes()
}

func TestPackDirFormat(t *testing.T) {
	src := layerDir(t)
	feat := buildTree(t, src)

	first := pack(t, src)
	if second := pack(t, src); !bytes.Equal(first, second) {
		t.Fatal("packing the same tree twice gave different bytes")
	}

	hdrs := readHeaders(t, first)
	byName := make(map[string]*tar.Header)
	var names []string
	for _, h := range hdrs {
		names = append(names, h.Name)
		byName[h.Name] = h
		if h.Name == "." || h.Name == "./" || strings.HasPrefix(h.Name, "/") || strings.HasPrefix(h.Name, "./") {
			t.Errorf("entry %q is not a plain relative name", h.Name)
		}
		if (h.Typeflag == tar.TypeDir) != strings.HasSuffix(h.Name, "/") {
			t.Errorf("entry %q: type %q, but directories and only directories end in /", h.Name, h.Typeflag)
		}
		if !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("entry %q has atime or ctime", h.Name)
		}
		if h.Uname != "" || h.Gname != "" {
			t.Errorf("entry %q has user or group names", h.Name)
		}
		if h.Uid != os.Getuid() || h.Gid != os.Getgid() {
			t.Errorf("entry %q owned by %d:%d, want %d:%d", h.Name, h.Uid, h.Gid, os.Getuid(), os.Getgid())
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("entries are not in lexical order: %q", names)
	}
	if i, j := slices.Index(names, "a-b"), slices.Index(names, "a/"); i < 0 || j < 0 || i > j {
		t.Errorf(`"a-b" should come before "a/": %q`, names)
	}

	for name, target := range map[string]string{
		"etc/passwd-hardlink": "etc/passwd",
		"usr/bin/tool2":       "usr/bin/tool",
		"usr/tool-link2":      "usr/tool-link",
	} {
		if h := byName[name]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != target {
			t.Errorf("%s: want a hard link to %s, got %+v", name, target, h)
		}
	}
	if h := byName["usr/bin/tool"]; h == nil || h.Mode != 0o4755 || h.Size != 4 {
		t.Errorf("usr/bin/tool: got %+v", h)
	}
	if h := byName["tmp/"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("tmp/: got %+v", h)
	}
	if h := byName["bin"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/usr/bin" {
		t.Errorf("bin: got %+v", h)
	}
	if h := byName["run/pipe"]; h == nil || h.Typeflag != tar.TypeFifo || h.Mode != 0o640 {
		t.Errorf("run/pipe: got %+v", h)
	}
	if h := byName["etc/shadow"]; h == nil || !h.ModTime.Equal(mtimeOf(t, filepath.Join(src, "etc/shadow"))) || h.ModTime.Nanosecond() == 0 {
		t.Errorf("etc/shadow: mtime not kept to the nanosecond: %+v", h)
	}

	if feat.whiteouts {
		for _, name := range []string{".wh.gone", "etc/.wh.gone-too"} {
			if h := byName[name]; h == nil || h.Typeflag != tar.TypeReg || h.Size != 0 {
				t.Errorf("%s: want an empty whiteout file, got %+v", name, h)
			}
		}
		if byName["gone"] != nil {
			t.Error("the whiteout device was packed as itself")
		}
	}
	if feat.xattrs {
		if byName["opq/.wh..wh..opq"] == nil {
			t.Error("no opaque marker for opq/")
		}
		if h := byName["opq/"]; h == nil || slices.ContainsFunc(sortedKeys(h.PAXRecords), func(k string) bool { return strings.HasPrefix(k, "SCHILY.xattr.") }) {
			t.Errorf("opq/ should carry no xattrs, got %+v", h)
		}
		if h := byName["etc/passwd"]; h == nil || h.PAXRecords["SCHILY.xattr.user.note"] != "hi" {
			t.Errorf("etc/passwd: user.note not packed: %+v", h)
		}
		if h := byName["etc/"]; h == nil || h.PAXRecords["SCHILY.xattr.user.dir"] != "d" || h.PAXRecords["SCHILY.xattr.user.overlay.origin"] != "" {
			t.Errorf("etc/: want user.dir and not user.overlay.origin: %+v", h)
		}
	}
}

func TestPackDirRoundTrip(t *testing.T) {
	src := layerDir(t)
	buildTree(t, src)
	packed := pack(t, src)

	dst := layerDir(t)
	if _, err := Unpack(bytes.NewReader(packed), dst, Options{Chown: true}); err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	want, got := treeSummary(t, src), treeSummary(t, dst)
	for _, name := range sortedKeys(want) {
		if got[name] != want[name] {
			t.Errorf("%s:\n got  %s\n want %s", name, got[name], want[name])
		}
	}
	for _, name := range sortedKeys(got) {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: unpacked but not in the source", name)
		}
	}
	if again := pack(t, dst); !bytes.Equal(again, packed) {
		t.Error("packing the unpacked tree gave different bytes")
	}
}

func TestPackDirRefuses(t *testing.T) {
	dir := layerDir(t)
	if err := os.WriteFile(filepath.Join(dir, ".wh.name"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err := PackDir(dir, &buf)
	if err == nil || !strings.Contains(err.Error(), ".wh.name") {
		t.Errorf("PackDir of a tree with a .wh. file: %v, want an error naming it", err)
	}
	if err := PackDir(filepath.Join(dir, "missing"), &buf); err == nil {
		t.Error("PackDir of a missing directory succeeded")
	}
}

func TestPackDirLeavesOutSockets(t *testing.T) {
	dir := layerDir(t)
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Skipf("cannot make a unix socket here: %v", err)
	}
	defer l.Close()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	hdrs := readHeaders(t, pack(t, dir))
	if len(hdrs) != 1 || hdrs[0].Name != "file" {
		t.Errorf("want only file packed, got %d entries", len(hdrs))
	}
}

func TestPackDirEmpty(t *testing.T) {
	// An empty tree is a valid, empty layer: just the end-of-archive blocks.
	if got := pack(t, t.TempDir()); len(got) != 1024 || bytes.ContainsFunc(got, func(r rune) bool { return r != 0 }) {
		t.Errorf("empty tree packed as %d bytes", len(got))
	}
}
