package image

import (
	"golang.org/x/sys/unix"

	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-dev/sandbox/runtime"
	"github.com/sandbox-dev/sandbox/userns"
)

// tempFiles lists the leftovers WriteFileAtomic could leave in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestWriteFileAtomic(t *testing.T) {
	tests := []struct {
		name     string
		existing []byte // nil: no file before
		data     []byte
		perm     os.FileMode
	}{
		{"new file", nil, []byte("hello\n"), 0o644},
		{"new private file", nil, []byte("secret"), 0o600},
		{"perm beyond the umask", nil, []byte("x"), 0o666},
		{"empty content", nil, []byte{}, 0o640},
		{"replaces existing", []byte("old content that is longer"), []byte("new"), 0o600},
		{"replaces and changes perm", []byte("old"), []byte("new"), 0o755},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "file.json")
			if tt.existing != nil {
				if err := os.WriteFile(p, tt.existing, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFileAtomic(p, tt.data, tt.perm); err != nil {
				t.Fatalf("WriteFileAtomic: %v", err)
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(tt.data) {
				t.Errorf("content = %q, want %q", got, tt.data)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != tt.perm {
				t.Errorf("mode = %v, want %v", fi.Mode(), tt.perm)
			}
			if left := tempFiles(t, dir); len(left) != 0 {
				t.Errorf("temporary files left behind: %q", left)
			}
		})
	}
}

func TestWriteFileAtomicErrors(t *testing.T) {
	t.Run("missing directory", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "missing", "file")
		err := WriteFileAtomic(p, []byte("x"), 0o644)
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Fatalf("WriteFileAtomic into a missing directory = %v, want an error naming %q", err, p)
		}
	})
	t.Run("a directory in the way", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "target")
		if err := os.MkdirAll(filepath.Join(p, "child"), 0o755); err != nil {
			t.Fatal(err)
		}
		err := WriteFileAtomic(p, []byte("x"), 0o644)
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Fatalf("WriteFileAtomic over a directory = %v, want an error naming %q", err, p)
		}
		if left := tempFiles(t, dir); len(left) != 0 {
			t.Errorf("temporary files left behind after a failed rename: %q", left)
		}
		if fi, err := os.Stat(filepath.Join(p, "child")); err != nil || !fi.IsDir() {
			t.Errorf("the directory in the way was changed: %v", err)
		}
	})
}

var (
	mapA = userns.Mapping{Mode: userns.ModeSingle,
		UIDs: []userns.IDMap{{ContainerID: 0, HostID: 1000, Size: 1}},
		GIDs: []userns.IDMap{{ContainerID: 0, HostID: 1000, Size: 1}}}
	mapB = userns.Mapping{Mode: userns.ModeSubID,
		UIDs: []userns.IDMap{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}},
		GIDs: []userns.IDMap{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}}
)

func TestOpenCreatesLayout(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	var warnings []string
	s, err := Open(root, mapA, func(w string) { warnings = append(warnings, w) })
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !s.New {
		t.Error("New = false for a store Open created")
	}
	if s.Root != root || s.Mapping.String() != mapA.String() {
		t.Errorf("Store = %+v, want root %q and the given mapping", s, root)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings for a new store: %q", warnings)
	}
	for _, d := range []string{"blobs/sha256", "layers", "containers", "tmp"} {
		fi, err := os.Stat(filepath.Join(root, d))
		if err != nil {
			t.Errorf("%s: %v", d, err)
			continue
		}
		if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want a 0700 directory", d, fi.Mode())
		}
	}
	if s.ContainersDir() != filepath.Join(root, "containers") {
		t.Errorf("ContainersDir = %q", s.ContainersDir())
	}
	b, err := os.ReadFile(filepath.Join(root, "store.json"))
	if err != nil {
		t.Fatalf("store.json: %v", err)
	}
	var meta storeMeta
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatalf("store.json is not JSON: %v\n%s", err, b)
	}
	if meta != (storeMeta{Version: 1, IDMap: mapA.String()}) {
		t.Errorf("store.json = %+v, want version 1 and id map %q", meta, mapA.String())
	}
	if fi, err := os.Stat(filepath.Join(root, "store.json")); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("store.json mode = %v, want 0600", fi.Mode())
	}
}

// TestOpenSpreadsSubdirs: on ext4, tmp/ and containers/ carry the
// top-directory flag (chattr +T), so that what is made in them is spread
// over the block groups (spreadSubdirs); a store made before gets it when
// opened.
func TestOpenSpreadsSubdirs(t *testing.T) {
	// The test's temporary directory, else one beside the package (the
	// checkout's file system): CI's /tmp may be a tmpfs.
	isExt4 := func(dir string) bool {
		var st unix.Statfs_t
		return unix.Statfs(dir, &st) == nil && st.Type == unix.EXT4_SUPER_MAGIC
	}
	base := t.TempDir()
	if !isExt4(base) {
		dir, err := os.MkdirTemp(".", "ext4-test-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if !isExt4(dir) {
			t.Skipf("the flag is ext4's; neither %s nor the checkout is on ext4", base)
		}
		base = dir
	}
	flags := func(dir string) uint32 {
		t.Helper()
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		fl, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
		if err != nil {
			t.Fatal(err)
		}
		return fl
	}
	root := filepath.Join(base, "store")
	if _, err := Open(root, mapA, nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"tmp", "containers"} {
		if flags(filepath.Join(root, d))&fsTopDir == 0 {
			t.Errorf("%s/ lacks the top-directory flag", d)
		}
	}
	if flags(filepath.Join(root, "layers"))&fsTopDir != 0 {
		t.Errorf("layers/ has the top-directory flag: its layers are renamed in, never made there")
	}
	// An older store: the flag cleared, then the store opened again.
	tmp := filepath.Join(root, "tmp")
	fd, err := unix.Open(tmp, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags(tmp)&^fsTopDir))
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(root, mapA, nil); err != nil {
		t.Fatal(err)
	}
	if flags(tmp)&fsTopDir == 0 {
		t.Error("opening a store whose tmp/ lacks the flag did not set it")
	}
}

func TestOpenExisting(t *testing.T) {
	tests := []struct {
		name      string
		reopen    userns.Mapping
		wantWarns int
	}{
		{"same map", mapA, 0},
		{"different map", mapB, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if _, err := Open(root, mapA, nil); err != nil {
				t.Fatal(err)
			}
			var warnings []string
			s, err := Open(root, tt.reopen, func(w string) { warnings = append(warnings, w) })
			if err != nil {
				t.Fatalf("reopening: %v", err)
			}
			if s.New {
				t.Error("New = true for an existing store")
			}
			if len(warnings) != tt.wantWarns {
				t.Fatalf("warnings = %q, want %d", warnings, tt.wantWarns)
			}
			if tt.wantWarns > 0 {
				w := warnings[0]
				for _, part := range []string{root, mapA.String(), tt.reopen.String()} {
					if !strings.Contains(w, part) {
						t.Errorf("warning %q does not mention %q", w, part)
					}
				}
			}
			// The store keeps the map it was made with.
			b, _ := os.ReadFile(filepath.Join(root, "store.json"))
			if !strings.Contains(string(b), mapA.String()) {
				t.Errorf("store.json was rewritten: %s", b)
			}
			// No warning function: a changed map must not panic.
			if _, err := Open(root, tt.reopen, nil); err != nil {
				t.Errorf("reopening without warn: %v", err)
			}
		})
	}
}

func TestOpenBadStoreJSON(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "store.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(root, mapA, nil)
	if err == nil || !strings.Contains(err.Error(), "store.json") || !strings.Contains(err.Error(), "not JSON") {
		t.Fatalf("Open with a broken store.json = %v, want an error saying it is not JSON", err)
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func TestTempDirAndSweepTemp(t *testing.T) {
	s, err := Open(t.TempDir(), mapA, nil)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(s.Root, "tmp")

	// A live staging directory, its lock held by TempDir.
	live, release, err := s.TempDir()
	if err != nil {
		t.Fatalf("TempDir: %v", err)
	}
	if filepath.Dir(live) != tmp {
		t.Errorf("TempDir = %q, want it in %q", live, tmp)
	}
	if fi, err := os.Stat(live); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("TempDir %q: %v %v, want a 0700 directory", live, fi, err)
	}
	if err := os.WriteFile(filepath.Join(live, "work"), []byte("in progress"), 0o600); err != nil {
		t.Fatal(err)
	}

	// What a killed command leaves: a directory and its lock file, which
	// nobody holds any more.
	dead := filepath.Join(tmp, "dead")
	if err := os.MkdirAll(filepath.Join(dead, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dead, "sub", "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dead+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A directory without a lock file (killed between the two steps of an
	// older version) and a lock without its directory.
	orphanDir := filepath.Join(tmp, "orphan")
	if err := os.Mkdir(orphanDir, 0o700); err != nil {
		t.Fatal(err)
	}
	orphanLock := filepath.Join(tmp, "lonely.lock")
	if err := os.WriteFile(orphanLock, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	s.SweepTemp()

	checks := []struct {
		path string
		want bool
	}{
		{live, true},
		{filepath.Join(live, "work"), true},
		{live + ".lock", true},
		{dead, false},
		{dead + ".lock", false},
		{orphanDir, false},
		{orphanLock, false},
	}
	for _, c := range checks {
		if got := exists(c.path); got != c.want {
			t.Errorf("after SweepTemp, %s exists = %v, want %v", strings.TrimPrefix(c.path, tmp+"/"), got, c.want)
		}
	}

	// Once released, the staging directory and its lock are gone.
	release()
	if exists(live) || exists(live+".lock") {
		t.Errorf("release left %q or its lock behind", live)
	}
	entries, _ := os.ReadDir(tmp)
	if len(entries) != 0 {
		t.Errorf("tmp/ holds %d entries after release and sweep, want none", len(entries))
	}
}

func TestTempDirsAreDistinct(t *testing.T) {
	s, err := Open(t.TempDir(), mapA, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, releaseA, err := s.TempDir()
	if err != nil {
		t.Fatal(err)
	}
	defer releaseA()
	b, releaseB, err := s.TempDir()
	if err != nil {
		t.Fatal(err)
	}
	defer releaseB()
	if a == b {
		t.Fatalf("two TempDir calls returned the same directory %q", a)
	}
	// Both are live: a sweep keeps both.
	s.SweepTemp()
	if !exists(a) || !exists(b) {
		t.Errorf("SweepTemp removed a live staging directory")
	}
}

func TestList(t *testing.T) {
	s, err := Open(t.TempDir(), mapA, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.List()
	if err != nil || len(got) != 0 {
		t.Fatalf("List of an empty store = %v, %v; want no rows", got, err)
	}

	t1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	t3 := t2.Add(time.Hour)
	id1, id2, id3, id4 := testID("11"), testID("22"), testID("33"), testID("44")
	idx := &index{
		Refs: map[string]string{
			"debian:12":            id1,
			"debian:latest":        id1,
			"registry:5000/app:v1": id2,
			"ghost:latest":         testID("55"), // no such image: no row
		},
		Images: map[string]*Record{
			id1: {ID: id1, Created: t2, Size: 100},
			id2: {ID: id2, Created: t3, Size: 200},
			id3: {ID: id3, Created: t1, Size: 300},
			id4: {ID: id4, Created: t3, Size: 400},
		},
	}
	if err := s.writeIndex(idx); err != nil {
		t.Fatal(err)
	}
	got, err = s.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	// Newest first; equal times sort by name, where "<" comes before letters.
	want := []Summary{
		{Repository: "<none>", Tag: "<none>", ID: id4, Created: t3, Size: 400},
		{Repository: "registry:5000/app", Tag: "v1", ID: id2, Created: t3, Size: 200},
		{Repository: "debian", Tag: "12", ID: id1, Created: t2, Size: 100},
		{Repository: "debian", Tag: "latest", ID: id1, Created: t2, Size: 100},
		{Repository: "<none>", Tag: "<none>", ID: id3, Created: t1, Size: 300},
	}
	if len(got) != len(want) {
		t.Fatalf("List = %d rows, want %d:\n%+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Repository != w.Repository || g.Tag != w.Tag || g.ID != w.ID || !g.Created.Equal(w.Created) || g.Size != w.Size {
			t.Errorf("row %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestListBrokenIndex(t *testing.T) {
	s, err := Open(t.TempDir(), mapA, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.Root, "images.json")
	if err := os.WriteFile(p, []byte("[]"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("List with a broken images.json = %v, want an error naming it", err)
	}
}

func TestResolve(t *testing.T) {
	s, err := Open(t.TempDir(), mapA, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfgJSON := []byte(`{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/bash"],"Env":["A=1"],"WorkingDir":"/w"},"rootfs":{"type":"layers","diff_ids":[]}}`)
	id, err := s.putBlob(cfgJSON)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.blobPath(id); !exists(got) {
		t.Fatalf("putBlob did not store %s at %s", id, got)
	}
	created := time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)
	layers := []string{testID("1a"), testID("2b")}
	idx := &index{
		Refs:   map[string]string{"debian:latest": id, "debian:12": id, "other:latest": testID("77")},
		Images: map[string]*Record{id: {ID: id, Layers: layers, Created: created, Size: 42}},
	}
	if err := s.writeIndex(idx); err != nil {
		t.Fatal(err)
	}

	for _, ref := range []string{"debian", "debian:12", id, ShortID(id)} {
		img, err := s.Resolve(ref)
		if err != nil {
			t.Fatalf("Resolve(%q): %v", ref, err)
		}
		if img.ID != id || img.Host || img.Size != 42 || !img.Created.Equal(created) {
			t.Errorf("Resolve(%q) = ID %s Host %v Size %d Created %v", ref, img.ID, img.Host, img.Size, img.Created)
		}
		if want := []string{"debian:12", "debian:latest"}; !slices.Equal(img.Names, want) {
			t.Errorf("Resolve(%q).Names = %q, want %q", ref, img.Names, want)
		}
		wantLayers := []string{
			filepath.Join(s.Root, "layers", strings.TrimPrefix(layers[0], "sha256:"), "diff"),
			filepath.Join(s.Root, "layers", strings.TrimPrefix(layers[1], "sha256:"), "diff"),
		}
		if !slices.Equal(img.Layers, wantLayers) {
			t.Errorf("Resolve(%q).Layers = %q, want %q", ref, img.Layers, wantLayers)
		}
		c := img.Config.Config
		if !slices.Equal(c.Cmd, []string{"/bin/bash"}) || !slices.Equal(c.Env, []string{"A=1"}) || c.WorkingDir != "/w" {
			t.Errorf("Resolve(%q).Config = %+v", ref, c)
		}
	}

	if _, err := s.Resolve("nothing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Resolve(nothing) = %v, want ErrNotFound", err)
	}
	for _, ref := range []string{"host", "host:latest"} {
		img, err := s.Resolve(ref)
		if err != nil || !img.Host || img.ID != HostName {
			t.Errorf("Resolve(%q) = %+v, %v; want the built-in host image", ref, img, err)
		}
	}

	// A stored image called host shadows the built-in one.
	idx.Refs["host:latest"] = id
	if err := s.writeIndex(idx); err != nil {
		t.Fatal(err)
	}
	if img, err := s.Resolve("host"); err != nil || img.Host || img.ID != id {
		t.Errorf("Resolve(host) with a stored host image = %+v, %v; want the stored one", img, err)
	}

	// A record whose config blob is missing is an error, not a panic.
	missing := testID("99")
	idx.Images[missing] = &Record{ID: missing}
	idx.Refs["broken:latest"] = missing
	if err := s.writeIndex(idx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve("broken"); err == nil || !strings.Contains(err.Error(), ShortID(missing)) {
		t.Errorf("Resolve(broken) = %v, want an error naming the image", err)
	}
}

func TestHostImage(t *testing.T) {
	shell := filepath.Join(t.TempDir(), "myshell")
	if err := os.WriteFile(shell, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, shell, wantCmd string
	}{
		{"SHELL exists", shell, shell},
		{"SHELL missing", filepath.Join(t.TempDir(), "nosuch"), "/bin/sh"},
		{"SHELL empty", "", "/bin/sh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SHELL", tt.shell)
			t.Setenv("PATH", "/p")
			t.Setenv("HOME", "/h")
			t.Setenv("LANG", "C.UTF-8")
			t.Setenv("LC_ALL", "")
			os.Unsetenv("LC_ALL")
			img := HostImage()
			if !img.Host || img.ID != HostName || !slices.Equal(img.Names, []string{"host:latest"}) || len(img.Layers) != 0 {
				t.Errorf("HostImage = %+v", img)
			}
			if !slices.Equal(img.Config.Config.Cmd, []string{tt.wantCmd}) {
				t.Errorf("Cmd = %q, want [%q]", img.Config.Config.Cmd, tt.wantCmd)
			}
			if want := []string{"PATH=/p", "LANG=C.UTF-8", "HOME=/h"}; !slices.Equal(img.Config.Config.Env, want) {
				t.Errorf("Env = %q, want %q", img.Config.Config.Env, want)
			}
		})
	}
}

// TestSweepLeavesRemovalInProgress: a container's directory in tmp/ whose
// lock someone holds (the init of a --rm run, removing it as it ends) is
// left alone; once the lock is free it is dead staging like any other.
func TestSweepLeavesRemovalInProgress(t *testing.T) {
	s, err := Open(t.TempDir(), mapA, nil)
	if err != nil {
		t.Fatal(err)
	}
	trash := filepath.Join(s.Root, "tmp", TrashContainerPrefix+strings.Repeat("cd", 32))
	if err := os.MkdirAll(filepath.Join(trash, "upper"), 0o700); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(trash, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	s.SweepTemp()
	if !exists(filepath.Join(trash, "upper")) {
		t.Fatal("a sweep removed a container directory whose remover holds its lock")
	}
	var c Check
	s.checkStaging(&c)
	if len(c.Problems) > 0 {
		t.Errorf("check reports a removal in progress: %+v", c.Problems)
	}
	unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	s.SweepTemp()
	if exists(trash) {
		t.Error("a sweep left a container directory nobody holds")
	}
}

// TestSweepRemovesUnderLock: a sweep removes a dead staging directory
// and its lock file while it holds that lock, so that no one who takes
// the lock once it is free (a spare root's maker, recycling a free root
// for its next one) finds the directory half removed.
func TestSweepRemovesUnderLock(t *testing.T) {
	s, err := Open(t.TempDir(), mapA, nil)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(s.Root, "tmp")
	for _, name := range []string{runtime.SpareRootPrefix + "7", "staging-1"} {
		if err := os.MkdirAll(filepath.Join(tmp, name, "upper"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, name+".lock"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var swept []string
	defer func() { sweepHook = nil }()
	sweepHook = func(name string) {
		swept = append(swept, name)
		lock, err := os.OpenFile(filepath.Join(tmp, strings.TrimSuffix(name, ".lock")+".lock"), os.O_RDWR, 0)
		if err != nil {
			t.Errorf("removing %s: its lock file is gone already: %v", name, err)
			return
		}
		defer lock.Close()
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != unix.EWOULDBLOCK {
			t.Errorf("removing %s without holding its lock (a flock beside it: %v)", name, err)
		}
	}
	s.SweepTemp()
	slices.Sort(swept)
	want := []string{runtime.SpareRootPrefix + "7", runtime.SpareRootPrefix + "7.lock", "staging-1", "staging-1.lock"}
	if !slices.Equal(swept, want) {
		t.Errorf("swept %q, want %q", swept, want)
	}
	for _, name := range want {
		if exists(filepath.Join(tmp, name)) {
			t.Errorf("%s is still there after a sweep", name)
		}
	}
}

// TestStillHas: an image resolved earlier is still there while the image
// list is unchanged, and after a write that kept it (a tag), and no longer
// once rmi took it out; a prune deciding which images containers use asks
// under the same lock a container is made under.
func TestStillHas(t *testing.T) {
	s, err := Open(t.TempDir(), mapA, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfgJSON := []byte(`{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}`)
	id, err := s.putBlob(cfgJSON)
	if err != nil {
		t.Fatal(err)
	}
	idx := &index{Refs: map[string]string{"app:latest": id}, Images: map[string]*Record{id: {ID: id}}}
	if err := s.writeIndex(idx); err != nil {
		t.Fatal(err)
	}
	img, err := s.Resolve("app")
	if err != nil {
		t.Fatal(err)
	}
	if !s.StillHas(img) {
		t.Error("an image is gone with its list unchanged")
	}
	idx.Refs["app:v2"] = id
	if err := s.writeIndex(idx); err != nil {
		t.Fatal(err)
	}
	if !s.StillHas(img) {
		t.Error("an image is gone after a tag")
	}
	asked := 0
	if _, err := s.Remove("app:latest", false, func() (map[string][]string, error) { asked++; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Remove("app:v2", false, func() (map[string][]string, error) { asked++; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if s.StillHas(img) {
		t.Error("an image removed by rmi is still there")
	}
	if asked != 1 {
		t.Errorf("Remove asked for the image's users %d times, want once (the untag of one name of two needs none)", asked)
	}
	if !s.StillHas(HostImage()) {
		t.Error("the host image is gone")
	}
}
