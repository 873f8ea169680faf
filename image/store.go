package image

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/codec"
	"github.com/sandbox-dev/sandbox/image/imagetypes"
	"github.com/sandbox-dev/sandbox/runtime"
	"github.com/sandbox-dev/sandbox/userns"
)

// Sentinel errors for states callers act on (package imagetypes).
var (
	ErrNotFound  = imagetypes.ErrNotFound
	ErrAmbiguous = imagetypes.ErrAmbiguous
)

// Store is the on-disk image store rooted at Root.
type Store struct {
	Root    string
	Mapping userns.Mapping
	// New is true when Open created the store.
	New bool
	// Search is where names without a registry are looked for, locally
	// and in Pull. Default: docker.io.
	Search []string
	// RunDir holds live data of running containers (exec sockets), under
	// $XDG_RUNTIME_DIR: it does not survive a reboot, as they do not.
	RunDir string
}

// storeMeta (store.json) records what the store's layers were unpacked
// with: their files' owners are only right under the same id map.
//
//easyjson:json
type storeMeta struct {
	Version int    `json:"version"`
	IDMap   string `json:"idmap"`
}

// Record is one image in images.json.
type Record struct {
	ID       string    `json:"id"`       // sha256:<hex> of the config blob
	Manifest string    `json:"manifest"` // sha256:<hex> of the manifest blob
	Layers   []string  `json:"layers"`   // diff IDs, bottom first
	Created  time.Time `json:"created"`
	Size     int64     `json:"size"` // unpacked bytes of all layers
	// Parent is the image a build step made this one from; an unnamed
	// image that is another's parent is a build's intermediate step.
	Parent string `json:"parent,omitempty"`
}

// index is images.json: references and image records.
//
//easyjson:json
type index struct {
	Refs   map[string]string  `json:"refs"`   // "name:tag" → image ID
	Images map[string]*Record `json:"images"` // image ID → record
	// stamp is the file this was read from, as it was (StillHas).
	stamp indexStamp
}

// indexStamp tells one images.json from another: each write renames a
// new file into place.
type indexStamp struct {
	ino, size uint64
	mtime     int64
}

// stampOf is the stamp of the file f, or the zero stamp.
func stampOf(fi os.FileInfo) indexStamp {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return indexStamp{}
	}
	return indexStamp{ino: st.Ino, size: uint64(st.Size), mtime: fi.ModTime().UnixNano()}
}

// Open opens (creating if needed) the store at root. warn receives one
// line when the store was made with a different id map than m.
func Open(root string, m userns.Mapping, warn func(string)) (*Store, error) {
	s := &Store{Root: root, Mapping: m}
	for _, d := range []string{"blobs/sha256", "layers", "containers", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fmt.Errorf("creating the store at %q: %w", root, err)
		}
	}
	for _, d := range []string{"containers", "tmp"} {
		spreadSubdirs(filepath.Join(root, d))
	}
	metaPath := filepath.Join(root, "store.json")
	var meta storeMeta
	b, err := os.ReadFile(metaPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		s.New = true
		meta = storeMeta{Version: 1, IDMap: m.String()}
		if err := WriteFileAtomic(metaPath, mustJSON(meta), 0o600); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("reading %q: %w", metaPath, err)
	default:
		if err := codec.Unmarshal(b, &meta); err != nil {
			return nil, fmt.Errorf("reading %q: %w (the file is not JSON; it is only ever replaced atomically, so it was edited by hand)", metaPath, err)
		}
		if meta.IDMap != m.String() && warn != nil {
			warn(fmt.Sprintf("the store at %s was made with id map %s, but the map is now %s: files in existing layers may show wrong owners (nobody); re-import or re-pull images to fix", root, meta.IDMap, m.String()))
		}
	}
	return s, nil
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// Lock takes the store's writer lock (flock on Root/lock), waiting for it.
// Readers need no lock: every file they read is replaced atomically.
func (s *Store) Lock() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.Root, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the store lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking the store: %w", err)
	}
	return func() { f.Close() }, nil
}

// fsTopDir is FS_TOPDIR_FL (chattr +T), which x/sys does not name.
const fsTopDir = 0x00020000

// spreadSubdirs marks dir as the top of directory hierarchies (chattr +T),
// where the file system takes the mark (ext4; elsewhere the call fails and
// nothing changes). ext4 then places each directory made in dir as it
// places home directories (the Orlov allocator): in a flex group with
// above-average free inodes and blocks and few directories, starting from
// a hash of the name, rather than in dir's own group. A layer being
// unpacked (in tmp/) and a container's files are thousands of new inodes,
// often made right after the previous layer's or container's were freed
// in dir's group; on a file system without a journal, ext4 passes over
// every inode freed in the last minute (longer while its inode table
// block is dirty), one inode and one buffer lookup at a time, before it
// takes one. Spreading is a heuristic (a group just emptied can still be
// chosen), but measured here a pull of Debian minbase went from 2.5–3.1 s
// to 1.2–1.4 s.
func spreadSubdirs(dir string) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	if fl, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS); err == nil && fl&fsTopDir == 0 {
		unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(fl|fsTopDir))
	}
}

// TempDir makes a staging directory in tmp/, held by a lock file until
// release is called. SweepTemp removes only staging directories whose lock
// is free, so a live command's work is never swept.
func (s *Store) TempDir() (dir string, release func(), err error) {
	name := RandomHex(16)
	dir = filepath.Join(s.Root, "tmp", name)
	lock, err := lockedFile(dir + ".lock")
	if err != nil {
		return "", nil, fmt.Errorf("creating a staging lock in %q: %w", filepath.Dir(dir), err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		lock.Close()
		os.Remove(dir + ".lock")
		return "", nil, fmt.Errorf("creating a staging directory: %w", err)
	}
	release = func() {
		runtime.RemoveAll(s.Mapping, s.RunDir, dir)
		os.Remove(dir + ".lock")
		lock.Close()
	}
	return dir, release, nil
}

// lockedFile makes path appear already locked (flock), so that no sweep
// can take its lock between its creation and ours and remove what it
// guards: an unnamed file (O_TMPFILE) locked, then linked in. A file system
// without O_TMPFILE gets a ".pending-" name the sweep leaves alone for an
// hour, locked, then renamed.
func lockedFile(path string) (*os.File, error) {
	dir := filepath.Dir(path)
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		f := os.NewFile(uintptr(fd), path)
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			err = unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
	pending := filepath.Join(dir, ".pending-"+filepath.Base(path))
	f, err := os.OpenFile(pending, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		os.Remove(pending)
		return nil, fmt.Errorf("locking %q: %w", pending, err)
	}
	if err := os.Rename(pending, path); err != nil {
		f.Close()
		os.Remove(pending)
		return nil, err
	}
	return f, nil
}

// SweepTemp removes staging directories left by killed commands, each
// under its lock, where it has one (eachDeadStaging).
func (s *Store) SweepTemp() {
	s.eachDeadStaging(func(name string) error {
		if sweepHook != nil {
			sweepHook(name)
		}
		return runtime.RemoveAll(s.Mapping, s.RunDir, filepath.Join(s.Root, "tmp", name))
	})
}

// sweepHook, when set (a test), is called with each entry SweepTemp is
// about to remove.
var sweepHook func(name string)

// RandomHex is n random bytes in hex: the IDs of containers, volumes and
// networks, and staging names. Read with getrandom(2) itself: crypto/rand's
// first read (a timer that warns of a slow entropy pool, the vDSO's
// state) cost each start 80 µs.
func RandomHex(n int) string {
	b := make([]byte, n)
	if k, err := unix.Getrandom(b, 0); err != nil || k != n {
		rand.Read(b) // Linux before 3.17
	}
	return hex.EncodeToString(b)
}

// readIndex loads images.json; a missing file is an empty store.
func (s *Store) readIndex() (*index, error) {
	idx := &index{Refs: map[string]string{}, Images: map[string]*Record{}}
	f, err := os.Open(filepath.Join(s.Root, "images.json"))
	if errors.Is(err, os.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the image list: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading the image list: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading the image list: %w", err)
	}
	if err := codec.Unmarshal(b, idx); err != nil {
		return nil, fmt.Errorf("reading %q: %w", filepath.Join(s.Root, "images.json"), err)
	}
	if idx.Refs == nil {
		idx.Refs = map[string]string{}
	}
	if idx.Images == nil {
		idx.Images = map[string]*Record{}
	}
	idx.stamp = stampOf(fi)
	return idx, nil
}

// StillHas says whether img, resolved earlier, is still in the store:
// at once where the image list has not been written since (one stat),
// else by reading it. The caller holds the store lock, so that no rmi or
// prune can go on between this and what it records (a container).
func (s *Store) StillHas(img *Image) bool {
	if img.Host {
		return true
	}
	if fi, err := os.Stat(filepath.Join(s.Root, "images.json")); err == nil && img.stamp != (indexStamp{}) && stampOf(fi) == img.stamp {
		return true
	}
	return s.HasImage(img.ID)
}

// writeIndex replaces images.json atomically. Call with the lock held.
func (s *Store) writeIndex(idx *index) error {
	return WriteFileAtomic(filepath.Join(s.Root, "images.json"), mustJSON(idx), 0o600)
}

// WriteFileAtomic writes data to a temporary file beside path, syncs it,
// renames it over path and syncs the directory: a reader sees the old
// content or the new, never a mix, whenever the writer dies.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeRenamed(path, data, perm, true)
}

// WriteFileNoSync is WriteFileAtomic without the syncs, for what need not
// survive a power cut (a container's state, which is rebuilt from its
// processes): readers and concurrent writers still see one whole content.
func WriteFileNoSync(path string, data []byte, perm os.FileMode) error {
	return writeRenamed(path, data, perm, false)
}

// writeRenamed writes through a temporary file of its own name, so that
// two writers at once (two commands recording a container's end) cannot
// truncate each other's file before its rename.
func writeRenamed(path string, data []byte, perm os.FileMode, sync bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %q: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil && perm != 0o600 { // CreateTemp made it 0600
		err = f.Chmod(perm)
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %q: %w", path, err)
	}
	if !sync {
		return nil
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// blobPath is where a blob with digest "sha256:<hex>" lives.
func (s *Store) blobPath(digest string) string {
	return filepath.Join(s.Root, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

// LayerDir is the unpacked tree of the layer with the given diff ID.
func (s *Store) LayerDir(diffID string) string {
	return filepath.Join(s.Root, "layers", strings.TrimPrefix(diffID, "sha256:"), "diff")
}

// Once reports whether msg is new for key: it is said once, not on every
// start, and again only when it changes (notes/<key> holds the last one).
func (s *Store) Once(key, msg string) bool {
	p := filepath.Join(s.Root, "notes", key)
	if b, err := os.ReadFile(p); err == nil && string(b) == msg {
		return false
	}
	os.MkdirAll(filepath.Dir(p), 0o700)
	WriteFileAtomic(p, []byte(msg), 0o600)
	return true
}

// layerJSON is the stats file of the layer with the given diff ID.
func (s *Store) layerJSON(diffID string) string {
	return filepath.Join(s.Root, "layers", strings.TrimPrefix(diffID, "sha256:"), "layer.json")
}

// ContainersDir is where container records live.
func (s *Store) ContainersDir() string { return filepath.Join(s.Root, "containers") }
