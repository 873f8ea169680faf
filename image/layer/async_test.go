package layer

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// randomTar makes a small tar whose names collide often: files, dirs,
// symlinks, hard links and whiteouts over a handful of names, so that the
// parallel writer meets every ordering hazard (a name written twice, a file
// where a directory was, a link to a file just queued, a whiteout of it).
func randomTar(rnd *rand.Rand) []byte {
	names := []string{"a", "b", "a/x", "a/y", "b/x", "c", "a/x/z"}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1_600_000_000, 0)
	for i := 0; i < 4+rnd.Intn(20); i++ {
		name := names[rnd.Intn(len(names))]
		hdr := &tar.Header{Name: name, Mode: 0o644, ModTime: mt, Uid: 0, Gid: 0}
		switch k := rnd.Intn(10); {
		case k < 5:
			body := strings.Repeat(fmt.Sprint(i), 1+rnd.Intn(200))
			if rnd.Intn(8) == 0 {
				body = strings.Repeat("L", asyncMax+1) // too big for a worker
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(body))
			tw.WriteHeader(hdr)
			tw.Write([]byte(body))
			continue
		case k < 7:
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		case k < 8:
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, names[rnd.Intn(len(names))]
		case k < 9:
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, names[rnd.Intn(len(names))]
		default:
			dir, base := splitName(name)
			hdr.Typeflag, hdr.Name = tar.TypeReg, strings.TrimPrefix(dir+"/"+whiteoutPrefix+base, "./")
		}
		tw.WriteHeader(hdr)
	}
	tw.Close()
	return buf.Bytes()
}

// TestParallelUnpackMatchesSerial: writing small files in parallel must
// give exactly the tree (or the failure) that writing in order gives.
func TestParallelUnpackMatchesSerial(t *testing.T) {
	if !whiteoutsWork(t.TempDir()) {
		t.Skip("this kernel refuses unprivileged whiteout devices (Linux < 5.8)")
	}
	rnd := rand.New(rand.NewSource(1))
	for i := 0; i < 400; i++ {
		tarball := randomTar(rnd)
		serialDir, parallelDir := t.TempDir(), t.TempDir()
		_, serr := Unpack(bytes.NewReader(tarball), serialDir, Options{Workers: 1})
		_, perr := Unpack(bytes.NewReader(tarball), parallelDir, Options{Workers: 4})
		if (serr == nil) != (perr == nil) {
			t.Fatalf("tar %d: serial error %v, parallel error %v", i, serr, perr)
		}
		if serr != nil {
			continue
		}
		s, p := shape(t, serialDir), shape(t, parallelDir)
		if s != p {
			t.Fatalf("tar %d: trees differ\nserial:\n%s\nparallel:\n%s", i, s, p)
		}
	}
}

// shape describes a tree for comparison: types, modes, link counts,
// contents (hashed), link targets, and file times; directory times are left
// out, since a directory the tar does not list gets the time of the run.
func shape(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := fmt.Sprintf("%s mode=%o nlink=%d", rel, st.Mode, st.Nlink)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" sha=%x mtime=%d", sha256.Sum256(b), st.Mtim.Sec)
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			line += " link=" + target
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestUnpackReusesContentBuffers: small files' contents go through a few
// reused buffers, not one allocation each, and every file still gets its
// own contents (a buffer handed back too early would show as another
// file's bytes).
func TestUnpackReusesContentBuffers(t *testing.T) {
	const files, size = 200, 100_000
	var entries []entry
	for i := 0; i < files; i++ {
		body := bytes.Repeat([]byte{byte(i)}, size)
		copy(body, fmt.Sprintf("file %d", i))
		entries = append(entries, fileE(fmt.Sprintf("f%03d", i), string(body), 0o644))
	}
	tarball := mustTar(t, entries...)
	dir := t.TempDir()
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	if _, err := Unpack(bytes.NewReader(tarball), dir, Options{Workers: 2}); err != nil {
		t.Fatal(err)
	}
	goruntime.ReadMemStats(&after)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.hdr.Name))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != e.body {
			t.Fatalf("%s: wrong contents (starts %q)", e.hdr.Name, b[:12])
		}
	}
	// One buffer a file would be 20 MB; the pool and the budget keep
	// it near 2 × asyncBytes, whatever else Unpack allocates.
	if got := after.TotalAlloc - before.TotalAlloc; got > files*size/4 {
		t.Errorf("unpacking %d files of %d bytes allocated %d bytes: the contents' buffers are not reused", files, size, got)
	}
}

func TestBufClass(t *testing.T) {
	for _, c := range []struct{ n, class int }{{1, 0}, {bufMin, 0}, {bufMin + 1, 1}, {asyncMax, bufClasses - 1}} {
		if got := bufClass(c.n); got != c.class {
			t.Errorf("bufClass(%d) = %d, want %d", c.n, got, c.class)
		}
	}
	if bufMin<<(bufClasses-1) != asyncMax {
		t.Errorf("the largest class (%d) is not asyncMax (%d)", bufMin<<(bufClasses-1), asyncMax)
	}
}
