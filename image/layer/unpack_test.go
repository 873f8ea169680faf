package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestUnpack(t *testing.T) {
	t1 := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
	t2 := time.Date(2002, 3, 4, 5, 6, 7, 8, time.UTC)
	t3 := time.Date(2003, 4, 5, 6, 7, 8, 9, time.UTC)

	tests := []struct {
		name    string
		entries []entry
		opts    Options
		// needs names what the test's file system must support.
		needsXattrs, needsWhiteouts bool
		want                        Stats
		check                       func(t *testing.T, dir string)
	}{
		{
			name: "simple tree",
			entries: []entry{
				dirE("etc/", 0o755),
				fileE("etc/hosts", "127.0.0.1 localhost\n", 0o640),
				fileE("usr/bin/tool", "#!/bin/sh\n", 0o755), // parents implied
				fileE("empty", "", 0o600),
			},
			want: Stats{Files: 3, Dirs: 1, Bytes: 30},
			check: func(t *testing.T, dir string) {
				if got := readString(t, filepath.Join(dir, "etc/hosts")); got != "127.0.0.1 localhost\n" {
					t.Errorf("etc/hosts = %q", got)
				}
				wantMode(t, dir, "etc", unix.S_IFDIR|0o755)
				wantMode(t, dir, "etc/hosts", unix.S_IFREG|0o640)
				wantMode(t, dir, "usr/bin/tool", unix.S_IFREG|0o755)
				wantMode(t, dir, "empty", unix.S_IFREG|0o600)
			},
		},
		{
			name: "read-only directories are still filled",
			entries: []entry{
				dirE("ro/", 0o555),
				fileE("ro/file", "x", 0o444),
				dirE("ro/sub/", 0o500),
				fileE("ro/sub/deep", "y", 0o400),
				dirE("locked/", 0o000),
				fileE("locked/inside", "z", 0o644),
			},
			want: Stats{Files: 3, Dirs: 3, Bytes: 3},
			check: func(t *testing.T, dir string) {
				wantMode(t, dir, "ro", unix.S_IFDIR|0o555)
				wantMode(t, dir, "ro/file", unix.S_IFREG|0o444)
				wantMode(t, dir, "ro/sub", unix.S_IFDIR|0o500)
				wantMode(t, dir, "ro/sub/deep", unix.S_IFREG|0o400)
				wantMode(t, dir, "locked", unix.S_IFDIR|0o000)
				if got := readString(t, filepath.Join(dir, "ro/sub/deep")); got != "y" {
					t.Errorf("ro/sub/deep = %q", got)
				}
			},
		},
		{
			name: "set-id and sticky bits",
			entries: []entry{
				dirE("tmp/", 0o1777),
				fileE("suid", "", 0o4755),
				fileE("sgid", "", 0o2755),
				dirE("shared/", 0o2775),
			},
			want: Stats{Files: 2, Dirs: 2},
			check: func(t *testing.T, dir string) {
				wantMode(t, dir, "tmp", unix.S_IFDIR|0o1777)
				wantMode(t, dir, "suid", unix.S_IFREG|0o4755)
				wantMode(t, dir, "sgid", unix.S_IFREG|0o2755)
				wantMode(t, dir, "shared", unix.S_IFDIR|0o2775)
			},
		},
		{
			name: "symlinks and hard links",
			entries: []entry{
				fileE("usr/lib/libc.so", "elf", 0o755),
				symlinkE("lib", "usr/lib"),
				symlinkE("bin", "/usr/bin"), // absolute targets are normal
				symlinkE("dangling", "../../nowhere"),
				hardlinkE("usr/lib/libc.so.6", "usr/lib/libc.so"),
				hardlinkE("again", "/usr/lib/libc.so"), // linkname taken from the layer root
			},
			want: Stats{Files: 1, Symlinks: 3, Hardlinks: 2, Bytes: 3},
			check: func(t *testing.T, dir string) {
				for name, target := range map[string]string{"lib": "usr/lib", "bin": "/usr/bin", "dangling": "../../nowhere"} {
					got, err := os.Readlink(filepath.Join(dir, name))
					if err != nil || got != target {
						t.Errorf("readlink %s = %q, %v; want %q", name, got, err, target)
					}
				}
				orig := lstat(t, filepath.Join(dir, "usr/lib/libc.so"))
				for _, name := range []string{"usr/lib/libc.so.6", "again"} {
					if st := lstat(t, filepath.Join(dir, name)); st.Ino != orig.Ino {
						t.Errorf("%s is not a hard link to usr/lib/libc.so", name)
					}
				}
				if orig.Nlink != 3 {
					t.Errorf("nlink = %d, want 3", orig.Nlink)
				}
			},
		},
		{
			name: "absolute and dotted names stay inside",
			entries: []entry{
				fileE("/abs/file", "a", 0o644),
				fileE("./dot/file", "b", 0o644),
				fileE("x/../y/file", "c", 0o644),
				fileE("//double//slash", "d", 0o644),
			},
			want: Stats{Files: 4, Bytes: 4},
			check: func(t *testing.T, dir string) {
				for name, body := range map[string]string{"abs/file": "a", "dot/file": "b", "y/file": "c", "double/slash": "d"} {
					if got := readString(t, filepath.Join(dir, name)); got != body {
						t.Errorf("%s = %q, want %q", name, got, body)
					}
				}
				if exists(t, filepath.Join(dir, "x")) {
					t.Error("x was made for a name that only passes through it")
				}
			},
		},
		{
			name: "later entries replace earlier ones, directories merge",
			entries: []entry{
				fileE("a", "one", 0o644),
				fileE("a", "two", 0o600),
				dirE("b/", 0o755),
				fileE("b/inside", "gone", 0o644),
				fileE("b", "file now", 0o644),
				dirE("c/", 0o700),
				fileE("c/keep", "kept", 0o644),
				dirE("c/", 0o750),
				symlinkE("s", "a"),
				fileE("s", "not a link", 0o644),
				fileE("d", "will be a dir", 0o644),
				dirE("d/", 0o711),
			},
			want: Stats{Files: 7, Dirs: 4, Symlinks: 1, Bytes: 3 + 3 + 4 + 8 + 4 + 10 + 13},
			check: func(t *testing.T, dir string) {
				if got := readString(t, filepath.Join(dir, "a")); got != "two" {
					t.Errorf("a = %q", got)
				}
				wantMode(t, dir, "a", unix.S_IFREG|0o600)
				if got := readString(t, filepath.Join(dir, "b")); got != "file now" {
					t.Errorf("b = %q", got)
				}
				if got := readString(t, filepath.Join(dir, "c/keep")); got != "kept" {
					t.Errorf("c/keep = %q", got)
				}
				wantMode(t, dir, "c", unix.S_IFDIR|0o750)
				wantMode(t, dir, "s", unix.S_IFREG|0o644)
				wantMode(t, dir, "d", unix.S_IFDIR|0o711)
			},
		},
		{
			name: "times kept to the nanosecond, symlinks and directories too",
			entries: []entry{
				with(dirE("d/", 0o755), func(h *tar.Header) { h.ModTime = t1 }),
				with(fileE("d/f", "x", 0o644), func(h *tar.Header) { h.ModTime = t2 }),
				with(symlinkE("d/l", "f"), func(h *tar.Header) { h.ModTime = t3 }),
				with(fileE("d/atime", "", 0o644), func(h *tar.Header) { h.ModTime = t2; h.AccessTime = t3 }),
			},
			want: Stats{Files: 2, Dirs: 1, Symlinks: 1, Bytes: 1},
			check: func(t *testing.T, dir string) {
				for name, want := range map[string]time.Time{"d": t1, "d/f": t2, "d/l": t3, "d/atime": t2} {
					if got := mtimeOf(t, filepath.Join(dir, name)); !got.Equal(want) {
						t.Errorf("mtime of %s = %v, want %v", name, got, want)
					}
				}
				st := lstat(t, filepath.Join(dir, "d/atime"))
				if got := time.Unix(st.Atim.Sec, st.Atim.Nsec); !got.Equal(t3) {
					t.Errorf("atime of d/atime = %v, want %v", got, t3)
				}
			},
		},
		{
			name:    "fifo",
			entries: []entry{fifoE("run/pipe", 0o620)},
			want:    Stats{Files: 1},
			check: func(t *testing.T, dir string) {
				wantMode(t, dir, "run/pipe", unix.S_IFIFO|0o620)
			},
		},
		{
			name: "devices are skipped",
			entries: []entry{
				dirE("dev/", 0o755),
				deviceE("dev/null", tar.TypeChar, 1, 3),
				deviceE("dev/sda", tar.TypeBlock, 8, 0),
				deviceE("dev/zerozero", tar.TypeChar, 0, 0),
			},
			want: Stats{Dirs: 1, DevicesSkipped: 3},
			check: func(t *testing.T, dir string) {
				for _, name := range []string{"dev/null", "dev/sda", "dev/zerozero"} {
					if exists(t, filepath.Join(dir, name)) {
						t.Errorf("%s was made", name)
					}
				}
			},
		},
		{
			name: "whiteouts become 0/0 character devices",
			entries: []entry{
				dirE("a/", 0o755),
				fileE("a/.wh.gone", "", 0o644),
				fileE(".wh.top", "", 0o000),
				fileE("implied/.wh.x", "", 0o644),
			},
			needsWhiteouts: true,
			want:           Stats{Dirs: 1, Whiteouts: 3},
			check: func(t *testing.T, dir string) {
				for _, name := range []string{"a/gone", "top", "implied/x"} {
					st := lstat(t, filepath.Join(dir, name))
					if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
						t.Errorf("%s: mode %o rdev %d, want a 0/0 character device", name, st.Mode, st.Rdev)
					}
				}
				for _, name := range []string{"a/.wh.gone", ".wh.top", "implied/.wh.x"} {
					if exists(t, filepath.Join(dir, name)) {
						t.Errorf("%s was made", name)
					}
				}
			},
		},
		{
			name: "aufs metadata is ignored",
			entries: []entry{
				dirE(".wh..wh.plnk/", 0o700),
				fileE(".wh..wh.plnk/123.456", "x", 0o644),
				fileE("a/.wh..wh.aufs", "", 0o644),
			},
			want: Stats{},
			check: func(t *testing.T, dir string) {
				if exists(t, filepath.Join(dir, ".wh..wh.plnk")) || exists(t, filepath.Join(dir, "a")) {
					t.Error("aufs metadata was unpacked")
				}
			},
		},
		{
			name: "opaque directories",
			entries: []entry{
				dirE("a/", 0o755),
				fileE("a/.wh..wh..opq", "", 0o644),
				fileE("a/kept", "k", 0o644),
				fileE("b/c/.wh..wh..opq", "", 0o644), // the directory is implied
			},
			needsXattrs: true,
			want:        Stats{Files: 1, Dirs: 1, Opaques: 2, Bytes: 1},
			check: func(t *testing.T, dir string) {
				for _, name := range []string{"a", "b/c"} {
					if v, ok := getXattrPath(t, filepath.Join(dir, name), opaqueXattr); v != "y" {
						t.Errorf("%s: %s = %q, %v; want y", name, opaqueXattr, v, ok)
					}
				}
				if exists(t, filepath.Join(dir, "a/.wh..wh..opq")) {
					t.Error("the opaque marker was made as a file")
				}
			},
		},
		{
			name: "xattrs: user set, security and trusted skipped",
			entries: []entry{
				with(fileE("f", "x", 0o444), func(h *tar.Header) {
					h.PAXRecords = map[string]string{
						"SCHILY.xattr.user.color":          "blue",
						"SCHILY.xattr.user.bin":            "a\x00b",
						"SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
						"SCHILY.xattr.trusted.overlay.x":   "y",
					}
				}),
				with(dirE("d/", 0o555), func(h *tar.Header) {
					h.PAXRecords = map[string]string{"SCHILY.xattr.user.dir": "yes"}
				}),
			},
			needsXattrs: true,
			want:        Stats{Files: 1, Dirs: 1, Bytes: 1},
			check: func(t *testing.T, dir string) {
				for name, want := range map[string]string{"f:user.color": "blue", "f:user.bin": "a\x00b", "d:user.dir": "yes"} {
					file, attr, _ := strings.Cut(name, ":")
					if v, _ := getXattrPath(t, filepath.Join(dir, file), attr); v != want {
						t.Errorf("%s %s = %q, want %q", file, attr, v, want)
					}
				}
				if _, ok := getXattrPath(t, filepath.Join(dir, "f"), "security.capability"); ok {
					t.Error("security.capability was set")
				}
				wantMode(t, dir, "f", unix.S_IFREG|0o444)
				wantMode(t, dir, "d", unix.S_IFDIR|0o555)
			},
		},
		{
			name: "the root entry sets the layer root's mode and time",
			entries: []entry{
				with(dirE("./", 0o750), func(h *tar.Header) { h.ModTime = t1 }),
				fileE("./f", "x", 0o644),
			},
			want: Stats{Files: 1, Dirs: 1, Bytes: 1},
			check: func(t *testing.T, dir string) {
				wantMode(t, dir, ".", unix.S_IFDIR|0o750)
				if got := mtimeOf(t, dir); !got.Equal(t1) {
					t.Errorf("root mtime = %v, want %v", got, t1)
				}
			},
		},
		{
			name: "a global header is not a file",
			entries: []entry{
				{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "git"}}},
				fileE("f", "x", 0o644),
			},
			want: Stats{Files: 1, Bytes: 1},
			check: func(t *testing.T, dir string) {
				if exists(t, filepath.Join(dir, "pax_global_header")) {
					t.Error("the global header was unpacked as a file")
				}
			},
		},
		{
			name: "without Chown every file is ours",
			entries: []entry{
				with(fileE("f", "x", 0o644), func(h *tar.Header) { h.Uid, h.Gid = 4242, 4343 }),
				with(dirE("d/", 0o755), func(h *tar.Header) { h.Uid, h.Gid = 4242, 4343 }),
				with(symlinkE("l", "f"), func(h *tar.Header) { h.Uid, h.Gid = 4242, 4343 }),
			},
			want: Stats{Files: 1, Dirs: 1, Symlinks: 1, Bytes: 1},
			check: func(t *testing.T, dir string) {
				for _, name := range []string{"f", "d", "l"} {
					st := lstat(t, filepath.Join(dir, name))
					if int(st.Uid) != os.Getuid() || int(st.Gid) != os.Getgid() {
						t.Errorf("%s owned by %d:%d, want %d:%d", name, st.Uid, st.Gid, os.Getuid(), os.Getgid())
					}
				}
			},
		},
		{
			name: "with Chown the tar's ids are applied",
			entries: []entry{
				with(fileE("f", "x", 0o4755), func(h *tar.Header) { h.Uid, h.Gid = os.Getuid(), os.Getgid() }),
				with(dirE("d/", 0o755), func(h *tar.Header) { h.Uid, h.Gid = os.Getuid(), os.Getgid() }),
				with(symlinkE("l", "f"), func(h *tar.Header) { h.Uid, h.Gid = os.Getuid(), os.Getgid() }),
				with(fifoE("p", 0o600), func(h *tar.Header) { h.Uid, h.Gid = os.Getuid(), os.Getgid() }),
			},
			opts: Options{Chown: true},
			want: Stats{Files: 2, Dirs: 1, Symlinks: 1, Bytes: 1},
			check: func(t *testing.T, dir string) {
				// The set-uid bit survives the chown.
				wantMode(t, dir, "f", unix.S_IFREG|0o4755)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := layerDir(t)
			if tt.needsXattrs {
				requireUserXattrs(t, dir)
			}
			if tt.needsWhiteouts {
				requireWhiteouts(t, dir)
			}
			got, err := Unpack(bytes.NewReader(mustTar(t, tt.entries...)), dir, tt.opts)
			if err != nil {
				t.Fatalf("Unpack: %v", err)
			}
			if got != tt.want {
				t.Errorf("stats = %+v, want %+v", got, tt.want)
			}
			tt.check(t, dir)
		})
	}
}

// wantMode checks the full st_mode of a file under dir.
func wantMode(t *testing.T, dir, name string, want uint32) {
	t.Helper()
	if st := lstat(t, filepath.Join(dir, name)); st.Mode != want {
		t.Errorf("mode of %s = %o, want %o", name, st.Mode, want)
	}
}

func TestUnpackChownUnmappedID(t *testing.T) {
	dir := layerDir(t)
	tarball := mustTar(t, with(fileE("f", "x", 0o644), func(h *tar.Header) { h.Uid, h.Gid = 4242, 4343 }))
	_, err := Unpack(bytes.NewReader(tarball), dir, Options{Chown: true})
	if os.Getuid() == 0 {
		// Real root (or a user namespace mapping these ids) may chown.
		if err != nil {
			t.Fatalf("Unpack as root: %v", err)
		}
		if st := lstat(t, filepath.Join(dir, "f")); st.Uid != 4242 || st.Gid != 4343 {
			t.Errorf("f owned by %d:%d, want 4242:4343", st.Uid, st.Gid)
		}
		return
	}
	if err == nil {
		t.Fatal("Unpack chowned to an id this user does not have")
	}
	for _, want := range []string{`"f"`, "4242:4343", "outside this user namespace's map"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestUnpackErrors(t *testing.T) {
	// Whole-second times keep the tar plain ustar, one header block per
	// entry: d/ at 0, d/big at 512, its contents from 1024.
	sec := func(h *tar.Header) { h.ModTime = time.Unix(1700000000, 0) }
	valid := mustTar(t,
		with(dirE("d/", 0o755), sec),
		with(fileE("d/big", strings.Repeat("x", 4000), 0o644), sec),
		with(fileE("d/after", "y", 0o644), sec))
	corrupt := bytes.Clone(valid)
	corrupt[600] ^= 0xff // in the second header, so its checksum fails

	tests := []struct {
		name    string
		tarball []byte
		want    error  // wrapped in the result, if not nil
		mention string // in the message
	}{
		{name: "truncated in a file's contents", tarball: valid[:1024+700], want: io.ErrUnexpectedEOF, mention: "d/big"},
		{name: "truncated in a header", tarball: valid[:512+100], want: io.ErrUnexpectedEOF},
		{name: "corrupt header", tarball: corrupt, want: tar.ErrHeader},
		{name: "root as a file", tarball: mustTar(t, fileE(".", "x", 0o644)), mention: "root must be a directory"},
		{name: "hard link to a missing file", tarball: mustTar(t, hardlinkE("h", "missing")), mention: `"h"`},
		{name: "hard link to a directory", tarball: mustTar(t, dirE("d/", 0o755), hardlinkE("h", "d")), mention: `"h"`},
		{name: "file under a file", tarball: mustTar(t, fileE("f", "x", 0o644), fileE("f/g", "y", 0o644)), mention: "not a directory"},
		{name: "whiteout of dot", tarball: mustTar(t, fileE("a/.wh..", "", 0o644)), mention: "a/.wh.."},
		{name: "whiteout of dot-dot", tarball: mustTar(t, fileE("a/.wh...", "", 0o644)), mention: "a/.wh..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := layerDir(t)
			_, err := Unpack(bytes.NewReader(tt.tarball), dir, Options{})
			if err == nil {
				t.Fatal("Unpack succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %q does not wrap %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}

	t.Run("missing directory", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "missing")
		if _, err := Unpack(bytes.NewReader(valid), missing, Options{}); err == nil {
			t.Fatal("Unpack into a missing directory succeeded")
		}
		if exists(t, missing) {
			t.Error("Unpack made the missing directory")
		}
	})
}

// TestUnpackConfinement feeds tars that try to write outside the layer and
// checks that nothing outside changed.
func TestUnpackConfinement(t *testing.T) {
	tests := []struct {
		name    string
		script  string // see scriptEntries; $OUT is a directory beside the layer
		wantErr bool
		check   func(t *testing.T, layer string)
	}{
		{name: "dot-dot", script: "f ../escape x", wantErr: true},
		{name: "dot-dot deeper", script: "f a/../../escape x", wantErr: true},
		{name: "dot-dot after a slash", script: "f /../escape x", wantErr: true},
		{name: "dot-dot directory", script: "d ../outside/sub", wantErr: true},
		{
			name:   "absolute name",
			script: "f $OUT/abs x",
			check: func(t *testing.T, layer string) {
				// $OUT is absolute, so it lands at the same path under the layer.
				if !exists(t, filepath.Join(layer, filepath.Dir(layer), "outside/abs")) {
					t.Error("the absolute name was not unpacked inside the layer")
				}
			},
		},
		{name: "through an absolute symlink", script: "l link $OUT\nf link/x x", wantErr: true},
		{name: "through a relative escaping symlink", script: "l up ../..\nf up/x x", wantErr: true},
		{name: "through a sibling symlink", script: "l rel ../outside\nf rel/x x", wantErr: true},
		{name: "directory through a symlink", script: "l link $OUT\nd link/sub", wantErr: true},
		{name: "symlink through a symlink", script: "l link $OUT\nl link/y /etc", wantErr: true},
		{name: "fifo through a symlink", script: "l link $OUT\np link/fifo", wantErr: true},
		{name: "device through a symlink", script: "l link $OUT\nc link/null"}, // skipped, not made
		{name: "hard link through a symlink", script: "f f x\nl link $OUT\nh link/x f", wantErr: true},
		{name: "whiteout through a symlink", script: "l link $OUT\nf link/.wh.keep", wantErr: true},
		{name: "opaque through a symlink", script: "l link $OUT\nf link/.wh..wh..opq", wantErr: true},
		{name: "hard link to outside", script: "h h ../outside/keep", wantErr: true},
		{name: "hard link to an absolute outside path", script: "h h /../../outside/keep", wantErr: true},
		{name: "hard link via a symlink", script: "l link $OUT\nh h link/keep", wantErr: true},
		{name: "symlink loop", script: "l loop loop\nf loop/x x", wantErr: true},
		{name: "symlink inside the layer is not followed either", script: "d d\nl s d\nf s/f x", wantErr: true},
		{
			name:   "directory replaces a symlink",
			script: "l link $OUT\nd link",
			check: func(t *testing.T, layer string) {
				wantMode(t, layer, "link", unix.S_IFDIR|0o755)
			},
		},
		{
			name:   "file replaces a symlink to an outside file",
			script: "l link $OUT/keep\nf link replaced",
			check: func(t *testing.T, layer string) {
				if got := readString(t, filepath.Join(layer, "link")); got != "replaced" {
					t.Errorf("link = %q", got)
				}
			},
		},
		{
			name:   "whiteout replaces a symlink",
			script: "l keep $OUT/keep\nf .wh.keep",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, layer, outside := confinementDirs(t)
			tarball := mustTar(t, scriptEntries(tt.script, outside)...)
			before := snapshot(t, base, layer)
			_, err := Unpack(bytes.NewReader(tarball), layer, Options{})
			t.Logf("Unpack: %v", err)
			if tt.wantErr && err == nil {
				t.Error("Unpack succeeded")
			}
			if !tt.wantErr && err != nil && !strings.Contains(err.Error(), "whiteout") {
				t.Errorf("Unpack: %v", err)
			}
			if after := snapshot(t, base, layer); after != before {
				t.Errorf("something outside the layer changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if tt.check != nil && err == nil {
				tt.check(t, layer)
			}
		})
	}
}

// confinementDirs makes base/layer, to unpack into, and base/outside, with
// a file and a directory a bad tar might aim at.
func confinementDirs(t testing.TB) (base, layer, outside string) {
	base = t.TempDir()
	t.Cleanup(func() { makeRemovable(base) })
	layer = filepath.Join(base, "layer")
	outside = filepath.Join(base, "outside")
	for _, d := range []string{layer, outside, filepath.Join(outside, "sub")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "keep"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	return base, layer, outside
}

// TestUnpackStreams checks that a big file goes through a fixed buffer
// instead of memory that grows with its size.
func TestUnpackStreams(t *testing.T) {
	const size = 64 << 20
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "big", Size: size, Mode: 0o644})
		if err == nil {
			_, err = io.CopyN(tw, zeros{}, size)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()

	dir := layerDir(t)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	stats, err := Unpack(pr, dir, Options{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Bytes != size {
		t.Errorf("wrote %d bytes, want %d", stats.Bytes, size)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 8<<20 {
		t.Errorf("unpacking a %d MiB file allocated %d MiB", size>>20, allocated>>20)
	}
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// FuzzUnpack checks the one property that matters most: whatever the tar
// says, nothing appears or changes outside the layer directory. Inputs are
// scripts (see scriptEntries) so that the fuzzer explores names and link
// targets rather than tar checksums.
func FuzzUnpack(f *testing.F) {
	for _, seed := range []string{
		"f ../escape x",
		"f a/../../escape x",
		"f /abs/file x",
		"f $OUT/abs x",
		"l link $OUT\nf link/x x",
		"l up ../..\nf up/x x",
		"l rel ../outside\nf rel/x x",
		"l link $OUT\nd link/sub",
		"l link $OUT\nh link/x f",
		"f f x\nh h ../outside/keep",
		"l link $OUT\nh h link/keep",
		"l link $OUT\nf link/.wh.keep",
		"l link $OUT\nf link/.wh..wh..opq",
		"l link $OUT\np link/p",
		"l keep $OUT/keep\nf keep x",
		"d a 0555\nf a/f x\nl a/up ../../outside\nf a/up/x x",
		"f a/.wh...",
		"l d .\nf d/d/d/x x",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, script string) {
		base, layer, outside := confinementDirs(t)
		tarball, err := buildTar(scriptEntries(script, outside)...)
		if err != nil {
			return // archive/tar would not write it either
		}
		before := snapshot(t, base, layer)
		Unpack(bytes.NewReader(tarball), layer, Options{})
		if after := snapshot(t, base, layer); after != before {
			t.Fatalf("script %q changed something outside the layer:\nbefore:\n%s\nafter:\n%s", script, before, after)
		}
	})
}
