package fuseoverlay

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// node is one entry to build in a layer directory. Kinds: "f" file (data
// is the content), "d" directory, "l" symlink (data is the target), "h"
// hard link (data is the path of the file it links to), "p" fifo,
// "w" whiteout, "o" opaque directory.
type node struct {
	path, kind, data string
	mode             uint32
}

// buildLayer makes the entries of a layer under dir, parents first.
func buildLayer(t *testing.T, dir string, nodes []node) {
	t.Helper()
	for _, n := range nodes {
		p := filepath.Join(dir, n.path)
		var err error
		switch n.kind {
		case "f":
			err = os.WriteFile(p, []byte(n.data), 0o600)
		case "d", "o":
			err = os.Mkdir(p, 0o700)
		case "l":
			err = os.Symlink(n.data, p)
		case "h":
			err = os.Link(filepath.Join(dir, n.data), p)
		case "p":
			err = unix.Mkfifo(p, 0o600)
		case "w":
			err = unix.Mknod(p, unix.S_IFCHR|0, 0)
			if errors.Is(err, unix.EPERM) {
				t.Skipf("cannot make a 0/0 character device (whiteout) at %s: %v (unprivileged whiteouts need Linux 5.8)", p, err)
			}
		default:
			t.Fatalf("unknown node kind %q", n.kind)
		}
		if err != nil {
			t.Fatalf("building %s: %v", p, err)
		}
		if n.kind == "o" {
			err := unix.Setxattr(p, "user.overlay.opaque", []byte("y"), 0)
			if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
				t.Skipf("the file system of %s does not support user.* xattrs (%v): cannot make an opaque directory", p, err)
			}
			if err != nil {
				t.Fatalf("marking %s opaque: %v", p, err)
			}
		}
		if n.kind != "l" && n.kind != "h" && n.kind != "w" {
			// Chmod, not the create mode: the umask must not interfere.
			if err := unix.Chmod(p, n.mode); err != nil {
				t.Fatalf("chmod %s: %v", p, err)
			}
		}
	}
}

// describe lists a tree as "path kind mode data" lines, sorted: the mode
// holds the permission and the setuid, setgid and sticky bits.
func describe(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		mode := st.Mode & 0o7777
		var line string
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line = fmt.Sprintf("%s f %04o %s", rel, mode, b)
		case unix.S_IFDIR:
			line = fmt.Sprintf("%s d %04o", rel, mode)
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line = fmt.Sprintf("%s l -> %s", rel, target)
		case unix.S_IFIFO:
			line = fmt.Sprintf("%s p %04o", rel, mode)
		case unix.S_IFCHR:
			line = fmt.Sprintf("%s c %d", rel, st.Rdev)
		default:
			line = fmt.Sprintf("%s ? %o", rel, st.Mode)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	sort.Strings(out)
	return out
}

func inode(t *testing.T, p string) (uint64, uint64) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino, uint64(st.Nlink)
}

func diffLines(got, want []string) string {
	var b strings.Builder
	g, w := map[string]bool{}, map[string]bool{}
	for _, l := range got {
		g[l] = true
	}
	for _, l := range want {
		w[l] = true
	}
	for _, l := range want {
		if !g[l] {
			fmt.Fprintf(&b, "  missing: %s\n", l)
		}
	}
	for _, l := range got {
		if !w[l] {
			fmt.Fprintf(&b, "  extra:   %s\n", l)
		}
	}
	return b.String()
}

func checkTree(t *testing.T, root string, want []string) {
	t.Helper()
	got := describe(t, root)
	want = append([]string(nil), want...)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tree %s differs:\n%s", root, diffLines(got, want))
	}
}

var lowerLayer = []node{
	{"file.txt", "f", "lower file", 0o644},
	{"exec.sh", "f", "#!/bin/sh\n", 0o755},
	{"suid", "f", "s", 0o4755},
	{"sgid", "f", "g", 0o2750},
	{"sticky", "d", "", 0o1777},
	{"dir", "d", "", 0o750},
	{"dir/a", "f", "a", 0o600},
	{"dir/sub", "d", "", 0o755},
	{"dir/sub/b", "f", "b", 0o644},
	{"link", "l", "file.txt", 0},
	{"abs-link", "l", "/etc/passwd", 0},
	{"dangling", "l", "no/such/file", 0},
	{"hard1", "f", "shared", 0o640},
	{"hard2", "h", "hard1", 0},
	{"fifo", "p", "", 0o640},
	{"gone.txt", "f", "to be deleted", 0o644},
	{"gone-dir", "d", "", 0o755},
	{"gone-dir/child", "f", "c", 0o644},
	{"opq", "d", "", 0o755},
	{"opq/old1", "f", "1", 0o644},
	{"opq/olddir", "d", "", 0o755},
	{"opq/olddir/old2", "f", "2", 0o644},
	{"was-dir", "d", "", 0o755},
	{"was-dir/child", "f", "c", 0o644},
	{"was-link", "l", "dir", 0},
	{"was-file", "f", "f", 0o644},
}

var lowerTree = []string{
	"file.txt f 0644 lower file",
	"exec.sh f 0755 #!/bin/sh\n",
	"suid f 4755 s",
	"sgid f 2750 g",
	"sticky d 1777",
	"dir d 0750",
	"dir/a f 0600 a",
	"dir/sub d 0755",
	"dir/sub/b f 0644 b",
	"link l -> file.txt",
	"abs-link l -> /etc/passwd",
	"dangling l -> no/such/file",
	"hard1 f 0640 shared",
	"hard2 f 0640 shared",
	"fifo p 0640",
	"gone.txt f 0644 to be deleted",
	"gone-dir d 0755",
	"gone-dir/child f 0644 c",
	"opq d 0755",
	"opq/old1 f 0644 1",
	"opq/olddir d 0755",
	"opq/olddir/old2 f 0644 2",
	"was-dir d 0755",
	"was-dir/child f 0644 c",
	"was-link l -> dir",
	"was-file f 0644 f",
}

var upperLayer = []node{
	{"file.txt", "f", "upper file", 0o600}, // modified file, new mode
	{"dir", "d", "", 0o711},                // merged dir, new mode
	{"dir/c", "f", "c", 0o644},             // added beside lower's a and sub
	{"gone.txt", "w", "", 0},               // whiteout of a file
	{"gone-dir", "w", "", 0},               // whiteout of a whole tree
	{"never-there", "w", "", 0},            // whiteout of nothing
	{"opq", "o", "", 0o700},                // hides lower's opq/*
	{"opq/new", "f", "new", 0o644},
	{"was-dir", "f", "now a file", 0o644}, // file replaces a directory
	{"was-link", "d", "", 0o755},          // directory replaces a symlink
	{"was-link/inside", "f", "in", 0o644},
	{"was-file", "l", "file.txt", 0},  // symlink replaces a file
	{"link", "l", "exec.sh", 0},       // symlink retargeted
	{"new-hard1", "f", "pair", 0o444}, // a hard-linked pair in the upper
	{"new-hard2", "h", "new-hard1", 0},
}

var mergedTree = []string{
	"file.txt f 0600 upper file",
	"exec.sh f 0755 #!/bin/sh\n",
	"suid f 4755 s",
	"sgid f 2750 g",
	"sticky d 1777",
	"dir d 0711",
	"dir/a f 0600 a",
	"dir/c f 0644 c",
	"dir/sub d 0755",
	"dir/sub/b f 0644 b",
	"link l -> exec.sh",
	"abs-link l -> /etc/passwd",
	"dangling l -> no/such/file",
	"hard1 f 0640 shared",
	"hard2 f 0640 shared",
	"fifo p 0640",
	"opq d 0700",
	"opq/new f 0644 new",
	"was-dir f 0644 now a file",
	"was-link d 0755",
	"was-link/inside f 0644 in",
	"was-file l -> file.txt",
	"new-hard1 f 0444 pair",
	"new-hard2 f 0444 pair",
}

func TestCopyLayer(t *testing.T) {
	lower, upper, dst := t.TempDir(), t.TempDir(), t.TempDir()
	buildLayer(t, lower, lowerLayer)
	buildLayer(t, upper, upperLayer)

	if err := CopyLayer(lower, dst); err != nil {
		t.Fatalf("CopyLayer(lower): %v", err)
	}
	checkTree(t, dst, lowerTree)

	if err := CopyLayer(upper, dst); err != nil {
		t.Fatalf("CopyLayer(upper): %v", err)
	}
	checkTree(t, dst, mergedTree)

	for _, pair := range [][2]string{{"hard1", "hard2"}, {"new-hard1", "new-hard2"}} {
		i1, n1 := inode(t, filepath.Join(dst, pair[0]))
		i2, _ := inode(t, filepath.Join(dst, pair[1]))
		if i1 != i2 || n1 != 2 {
			t.Errorf("%s and %s: inodes %d and %d, %d links; want one inode with 2 links", pair[0], pair[1], i1, i2, n1)
		}
		li, _ := inode(t, filepath.Join(lower, "hard1"))
		ui, _ := inode(t, filepath.Join(upper, "new-hard1"))
		if i1 == li || i1 == ui {
			t.Errorf("%s in dst is linked to the layer's own file (inode %d), want a copy", pair[0], i1)
		}
	}

	// The layers are only read.
	checkTree(t, lower, lowerTree)
}

func TestCopyLayerAgainIsIdempotent(t *testing.T) {
	lower, dst := t.TempDir(), t.TempDir()
	buildLayer(t, lower, lowerLayer)
	for i := 0; i < 2; i++ {
		if err := CopyLayer(lower, dst); err != nil {
			t.Fatalf("CopyLayer pass %d: %v", i+1, err)
		}
	}
	checkTree(t, dst, lowerTree)
	i1, n1 := inode(t, filepath.Join(dst, "hard1"))
	i2, _ := inode(t, filepath.Join(dst, "hard2"))
	if i1 != i2 || n1 != 2 {
		t.Errorf("hard1/hard2 after two passes: inodes %d, %d with %d links; want one inode, 2 links", i1, i2, n1)
	}
}

func TestCopyLayerOpaqueDirInBottomLayer(t *testing.T) {
	layer, dst := t.TempDir(), t.TempDir()
	buildLayer(t, layer, []node{
		{"opq", "o", "", 0o755},
		{"opq/kept", "f", "k", 0o644},
	})
	if err := CopyLayer(layer, dst); err != nil {
		t.Fatalf("CopyLayer: %v", err)
	}
	checkTree(t, dst, []string{"opq d 0755", "opq/kept f 0644 k"})
}

func TestCopyLayerMissing(t *testing.T) {
	dir := t.TempDir()
	if err := CopyLayer(filepath.Join(dir, "no-layer"), dir); err == nil {
		t.Error("CopyLayer of a missing layer succeeded")
	}
	if err := CopyLayer(dir, filepath.Join(dir, "no-dst")); err == nil {
		t.Error("CopyLayer into a missing destination succeeded")
	}
}

// TestCopyLayerStaysInside checks that a symlink planted in the
// destination, by the container or by a lower layer, never sends a later
// layer's writes outside the destination.
func TestCopyLayerStaysInside(t *testing.T) {
	tests := []struct {
		name string
		// link makes the trap in dst, given the outside directory.
		link  func(outside string) string
		upper []node
	}{
		{
			name:  "absolute link to a directory, layer writes under it",
			link:  func(outside string) string { return outside },
			upper: []node{{"evil", "d", "", 0o755}, {"evil/x", "f", "pwned", 0o644}},
		},
		{
			name:  "relative link to a directory, layer writes under it",
			link:  func(outside string) string { return "../" + filepath.Base(outside) },
			upper: []node{{"evil", "d", "", 0o755}, {"evil/x", "f", "pwned", 0o644}, {"evil/sub", "d", "", 0o755}},
		},
		{
			name:  "link to a file, layer writes the file",
			link:  func(outside string) string { return filepath.Join(outside, "victim") },
			upper: []node{{"evil", "f", "pwned", 0o644}},
		},
		{
			name:  "link to a directory, layer makes it opaque",
			link:  func(outside string) string { return outside },
			upper: []node{{"evil", "o", "", 0o755}, {"evil/x", "f", "pwned", 0o644}},
		},
		{
			name:  "link to a directory, layer whites out under it",
			link:  func(outside string) string { return outside },
			upper: []node{{"evil", "d", "", 0o755}, {"evil/victim", "w", "", 0}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "dst")
			outside := filepath.Join(parent, "outside")
			upper := filepath.Join(parent, "upper")
			for _, d := range []string{dst, outside, upper} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("original"), 0o644); err != nil {
				t.Fatal(err)
			}
			before := describe(t, outside)
			// The trap comes from a lower layer, as in a hostile image.
			lower := filepath.Join(parent, "lower")
			if err := os.Mkdir(lower, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(tt.link(outside), filepath.Join(lower, "evil")); err != nil {
				t.Fatal(err)
			}
			if err := CopyLayer(lower, dst); err != nil {
				t.Fatalf("CopyLayer(lower): %v", err)
			}
			if target, err := os.Readlink(filepath.Join(dst, "evil")); err != nil || target != tt.link(outside) {
				t.Fatalf("the trap was not planted: dst/evil -> %q, %v", target, err)
			}
			buildLayer(t, upper, tt.upper)
			err := CopyLayer(upper, dst)
			t.Logf("CopyLayer(upper) = %v", err)
			if after := describe(t, outside); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("the directory outside dst changed:\n%s", diffLines(after, before))
			}
			// Whatever CopyLayer did, evil is no longer a way out.
			if err == nil {
				fi, lerr := os.Lstat(filepath.Join(dst, "evil"))
				if lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
					t.Errorf("CopyLayer succeeded but dst/evil is still a symlink")
				}
			}
		})
	}
}
