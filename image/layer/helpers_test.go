package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testTime has nanoseconds so that tests see them kept.
var testTime = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

// entry is one tar entry to build: a header and, for a regular file, its
// contents.
type entry struct {
	hdr  tar.Header
	body string
}

func fileE(name, body string, mode int64) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode}, body: body}
}

func dirE(name string, mode int64) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode}}
}

func symlinkE(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

func hardlinkE(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target}}
}

func fifoE(name string, mode int64) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: name, Mode: mode}}
}

func deviceE(name string, typ byte, major, minor int64) entry {
	return entry{hdr: tar.Header{Typeflag: typ, Name: name, Mode: 0o666, Devmajor: major, Devminor: minor}}
}

// with returns e changed by f.
func with(e entry, f func(*tar.Header)) entry {
	f(&e.hdr)
	return e
}

// buildTar writes entries as a PAX tar (so nanosecond times survive). A
// zero ModTime becomes testTime.
func buildTar(entries ...entry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == tar.TypeXGlobalHeader {
			// The writer takes nothing else for these.
			if err := tw.WriteHeader(&h); err != nil {
				return nil, err
			}
			continue
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.ModTime.IsZero() {
			h.ModTime = testTime
		}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("writing header %q: %w", h.Name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			return nil, fmt.Errorf("writing %q: %w", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func mustTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	b, err := buildTar(entries...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// scriptEntries turns a small script into entries, one per line:
//
//	d NAME [MODE]   directory (octal mode)
//	f NAME [BODY]   regular file
//	l NAME TARGET   symlink
//	h NAME TARGET   hard link
//	p NAME          fifo
//	c NAME          character device 1:3
//
// "$OUT" anywhere stands for the outside directory. Other lines are ignored,
// so that fuzzed scripts always mean something.
func scriptEntries(script, outside string) []entry {
	var entries []entry
	for line := range strings.Lines(script) {
		f := strings.Fields(strings.ReplaceAll(line, "$OUT", outside))
		if len(f) < 2 {
			continue
		}
		arg := ""
		if len(f) > 2 {
			arg = f[2]
		}
		switch f[0] {
		case "d":
			mode := int64(0o755)
			if m, err := strconv.ParseInt(arg, 8, 64); err == nil {
				mode = m & 0o7777
			}
			entries = append(entries, dirE(f[1], mode))
		case "f":
			entries = append(entries, fileE(f[1], arg, 0o644))
		case "l":
			entries = append(entries, symlinkE(f[1], arg))
		case "h":
			entries = append(entries, hardlinkE(f[1], arg))
		case "p":
			entries = append(entries, fifoE(f[1], 0o644))
		case "c":
			entries = append(entries, deviceE(f[1], tar.TypeChar, 1, 3))
		}
	}
	return entries
}

// layerDir makes an empty directory to unpack into, and makes sure it can
// be removed afterwards even when the layer has read-only directories.
func layerDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() { makeRemovable(dir) })
	return dir
}

// makeRemovable gives the owner full access to every directory under dir,
// which RemoveAll needs when not running as root.
func makeRemovable(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	// A second pass for directories unreadable during the first.
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
}

// requireUserXattrs skips the test when the file system of dir cannot hold
// user.* xattrs (tmpfs before Linux 6.6, for one).
func requireUserXattrs(t testing.TB, dir string) {
	t.Helper()
	if !userXattrsWork(dir) {
		t.Skip("the file system of the test's temporary directory does not support user.* xattrs")
	}
}

func userXattrsWork(dir string) bool {
	probe, err := os.MkdirTemp(dir, "xattr-probe")
	if err != nil {
		return false
	}
	defer os.Remove(probe)
	err = unix.Setxattr(probe, "user.probe", []byte("y"), 0)
	return err == nil
}

// requireWhiteouts skips the test when this kernel or file system will not
// let an unprivileged process make a 0/0 character device.
func requireWhiteouts(t testing.TB, dir string) {
	t.Helper()
	if !whiteoutsWork(dir) {
		t.Skip("cannot make a 0/0 character device here (unprivileged whiteouts need Linux 5.8)")
	}
}

func whiteoutsWork(dir string) bool {
	probe := filepath.Join(dir, "whiteout-probe")
	defer os.Remove(probe)
	return unix.Mknod(probe, unix.S_IFCHR, 0) == nil
}

// snapshot describes everything under base except the subtree skip: type,
// mode, size, link count, mtime, contents of small files, link targets and
// the opaque xattr. Any write outside skip changes it.
func snapshot(t testing.TB, base, skip string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			return filepath.SkipDir
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%s mode=%o size=%d nlink=%d mtime=%d.%09d", p, st.Mode, st.Size, st.Nlink, st.Mtim.Sec, st.Mtim.Nsec)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += " data=" + strconv.Quote(string(b))
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line += " link=" + target
		case unix.S_IFDIR:
			buf := make([]byte, 8)
			if n, err := unix.Lgetxattr(p, opaqueXattr, buf); err == nil {
				line += " opaque=" + string(buf[:n])
			}
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatalf("snapshotting %q: %v", base, err)
	}
	return strings.Join(lines, "\n")
}

// lstat returns the raw stat of a path, failing the test if it is missing.
func lstat(t testing.TB, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat: %v", err)
	}
	return st
}

// exists reports whether p exists, not following a symlink.
func exists(t testing.TB, p string) bool {
	t.Helper()
	_, err := os.Lstat(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("lstat: %v", err)
	}
	return err == nil
}

// mtimeOf returns the modification time of p, not following a symlink.
func mtimeOf(t testing.TB, p string) time.Time {
	st := lstat(t, p)
	return time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
}

// readString reads a whole small file.
func readString(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// getXattrPath reads one xattr of p, reporting whether it is there.
func getXattrPath(t testing.TB, p, name string) (string, bool) {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, name, buf)
	if errors.Is(err, unix.ENODATA) {
		return "", false
	}
	if err != nil {
		t.Fatalf("getting xattr %s of %q: %v", name, p, err)
	}
	return string(buf[:n]), true
}

// readHeaders lists the headers of a tar stream, in order.
func readHeaders(t testing.TB, b []byte) []*tar.Header {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var hdrs []*tar.Header
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		hdrs = append(hdrs, h)
	}
	return hdrs
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
