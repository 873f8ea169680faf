package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/internal/umask"
)

// Options controls Unpack.
type Options struct {
	// Chown applies the uid/gid recorded in the tar. When false every file is
	// owned by the calling process (single-id user namespaces, where other ids
	// do not exist) and ownership in the tar is ignored.
	Chown bool
	// Split, when not nil, receives the split record that Assemble needs
	// to rebuild the exact tar from dir later (see split.go).
	Split io.Writer
	// Workers is how many small files are written at once (see async.go);
	// 0 means one per CPU (at least 2), 1 writes everything in order.
	Workers int
}

// Stats counts what Unpack wrote and skipped.
type Stats struct {
	// Files counts regular files and fifos; Dirs counts directory entries
	// (directories made only because an entry needed a parent are not
	// counted); Whiteouts and Opaques count OCI whiteout entries.
	Files, Dirs, Symlinks, Hardlinks, Whiteouts, Opaques int
	// DevicesSkipped counts block and character device entries, which an
	// unprivileged process cannot create. Fifos are made, not skipped.
	DevicesSkipped int
	// Bytes counts regular-file bytes written.
	Bytes int64
}

const (
	// whiteoutPrefix marks an OCI whiteout: ".wh.NAME" deletes NAME.
	whiteoutPrefix = ".wh."
	// aufsPrefix starts the names of whiteout metadata, which aufs keeps
	// in files of its own.
	aufsPrefix = whiteoutPrefix + whiteoutPrefix
	// opaqueMarker marks its directory as opaque.
	opaqueMarker = aufsPrefix + ".opq"
	// opaqueXattr is what overlayfs mounted with userxattr reads to find
	// opaque directories.
	opaqueXattr = "user.overlay.opaque"
	// paxXattr prefixes the PAX records that carry extended attributes.
	paxXattr = "SCHILY.xattr."
	// copyBufferSize bounds the memory used to copy file contents.
	copyBufferSize = 128 << 10
)

// Unpack reads an uncompressed tar stream from r and writes it under dir,
// which must exist. It returns what it wrote so far even on error.
//
// Every file is created inside dir, whatever the tar says:
//
//   - Names are taken relative to dir: a leading "/" is dropped, so
//     "/abs/file" becomes "abs/file". A name that still climbs out of dir
//     with ".." after cleaning is refused with an error naming the entry.
//   - Symlinks are created with their target text unchanged (absolute
//     targets such as bin -> /usr/bin are normal in images), but they are
//     never followed while unpacking: an entry whose parent path contains a
//     symlink ("link/x" after "link -> /tmp", or after "link -> sub" inside
//     the layer) is refused, and an entry replacing a symlink replaces the
//     link itself. os.Root confines the path walk as a second line of defence.
//   - Hard link targets are names inside the layer, with the same rules.
//
// Tar semantics: a later entry replaces an earlier non-directory at the same
// name (a whole earlier tree, if the new entry is not a directory); a
// directory entry over an existing directory merges with it.
//
// OCI whiteouts become their overlayfs form: "a/.wh.NAME" makes a 0/0
// character device "a/NAME" with the entry's times (unprivileged processes
// may make those since Linux 5.8), and "a/.wh..wh..opq" sets
// user.overlay.opaque=y on directory a, for overlayfs mounted with
// userxattr. Other ".wh..wh." names, and everything under a top-level
// ".wh..wh." directory, are aufs metadata and are ignored. Device entries
// are skipped and counted; a 0/0 character device entry is skipped too,
// since layers spell whiteouts ".wh.". Fifos are made.
//
// Modes are applied exactly, umask ignored, set-id and sticky bits included.
// Directory modes and times are applied last, deepest first, so that a
// read-only directory can still be filled. Modification times are kept for
// every entry, symlinks included; access times are set to the tar's atime
// when it has one, else to the modification time. Extended attributes come
// from SCHILY.xattr PAX records; security.* and trusted.* are skipped, since
// an unprivileged process cannot set them, and a failure to set any other
// one is an error. Hard link entries take the target's metadata.
//
// After the end of the archive the rest of r is read and discarded, so a
// decompressor under it checks its trailer and a digest over it sees every
// byte.
func Unpack(r io.Reader, dir string, opts Options) (Stats, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Stats{}, fmt.Errorf("unpacking into %q: %w", dir, err)
	}
	defer root.Close()

	u := &unpacker{
		root:     root,
		opts:     opts,
		buf:      make([]byte, copyBufferSize),
		dirs:     make(map[string]dirMeta),
		umask:    umask.Current(), // umask.Unknown: every mode is set again
		verified: make(map[string]bool),
	}
	defer u.dropParent()
	if n := opts.Workers; n != 1 {
		if n == 0 {
			n = max(2, goruntime.NumCPU())
		}
		u.async = newWriters(u, n)
		defer u.async.stop()
	}

	if opts.Split != nil {
		u.split = newSplitRecorder(r, opts.Split)
		r = u.split
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return u.stats, fmt.Errorf("unpacking into %q: reading tar: %w", dir, err)
		}
		if err := u.entry(tr, hdr); err != nil {
			if u.async != nil {
				u.async.drain()
			}
			return u.stats, err
		}
	}
	if err := u.drain(); err != nil {
		return u.stats, err
	}
	if err := u.finishDirs(); err != nil {
		return u.stats, err
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return u.stats, fmt.Errorf("unpacking into %q: reading past the end of the tar: %w", dir, err)
	}
	if u.split != nil {
		if err := u.split.close(); err != nil {
			return u.stats, fmt.Errorf("unpacking into %q: writing the split record: %w", dir, err)
		}
	}
	return u.stats, nil
}

// unpacker holds the state of one Unpack call.
type unpacker struct {
	root  *os.Root
	opts  Options
	stats Stats
	buf   []byte
	split *splitRecorder // nil unless Options.Split
	umask uint32
	// verified holds the directories (relative names) known to be real
	// directories, made or checked by this Unpack.
	verified map[string]bool
	// dirs holds directory modes and times, applied by finishDirs once
	// nothing more will be written into the directories.
	dirs map[string]dirMeta

	// The parent directory of the previous entry, kept open because tar
	// entries usually come grouped by directory.
	parentName string
	parent     *dirRef
	// async writes small files in parallel; nil when Workers is 1.
	async    *writers
	draining bool
}

// dirMeta is what finishDirs applies to one directory.
type dirMeta struct {
	mode         uint32
	atime, mtime time.Time
}

// entry unpacks one tar entry.
func (u *unpacker) entry(tr *tar.Reader, hdr *tar.Header) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		// Global PAX headers (git archive writes one) describe the
		// archive, not a file.
		return nil
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return fmt.Errorf("unpacking %q: %w", hdr.Name, err)
	}
	dir, base := splitName(name)
	if u.async != nil {
		if err := u.async.failed(); err != nil {
			return err
		}
		// Entries that name other paths (links, whiteouts) or this name
		// again wait for the files still being written.
		special := hdr.Typeflag == tar.TypeLink || strings.HasPrefix(base, whiteoutPrefix)
		if special || u.async.pending[name] {
			if err := u.drain(); err != nil {
				return err
			}
		}
	}

	switch {
	case base == opaqueMarker:
		err = u.opaque(dir)
	case strings.HasPrefix(base, aufsPrefix) || strings.HasPrefix(name, aufsPrefix):
		// aufs metadata (.wh..wh.plnk/ and the like): nothing for overlayfs.
		return nil
	case strings.HasPrefix(base, whiteoutPrefix):
		err = u.whiteout(hdr, dir, strings.TrimPrefix(base, whiteoutPrefix))
	default:
		err = u.node(tr, hdr, name, dir, base)
	}
	if err != nil {
		return fmt.Errorf("unpacking %q: %w", hdr.Name, err)
	}
	return nil
}

// node unpacks an entry that is not a whiteout.
func (u *unpacker) node(tr *tar.Reader, hdr *tar.Header, name, dir, base string) error {
	if name == "." && hdr.Typeflag != tar.TypeDir {
		return errors.New("the layer root must be a directory")
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return u.mkdir(hdr, name, dir, base)
	case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse:
		// Contiguous files are plain files to Linux; the tar reader fills
		// the holes of sparse ones with zeros.
		return u.file(tr, hdr, name, dir, base)
	case tar.TypeSymlink:
		return u.symlink(hdr, name, dir, base)
	case tar.TypeLink:
		return u.hardlink(hdr, name, dir, base)
	case tar.TypeFifo:
		return u.fifo(hdr, name, dir, base)
	case tar.TypeChar, tar.TypeBlock:
		u.stats.DevicesSkipped++
		return nil
	default:
		return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}
}

// mkdir makes a directory, or keeps one that is already there. Its mode and
// times wait for finishDirs; until then it stays writable by its owner.
func (u *unpacker) mkdir(hdr *tar.Header, name, dir, base string) error {
	pfd, err := u.openParent(dir)
	if err != nil {
		return err
	}
	// Make it first and look only if something is there: in a fresh layer
	// nothing is.
	err = eintr(func() error { return unix.Mkdirat(pfd, base, 0o700) })
	if errors.Is(err, unix.EEXIST) {
		st, _, lerr := lstatAt(pfd, base)
		if lerr != nil {
			return lerr
		}
		err = nil
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := u.clear(pfd, name, base); err != nil {
				return err
			}
			err = eintr(func() error { return unix.Mkdirat(pfd, base, 0o700) })
		}
	}
	if err != nil {
		return fmt.Errorf("making directory: %w", err)
	}
	fd, err := openNoFollow(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("opening directory: %w", err)
	}
	// Owner and xattrs now, while the directory is still writable: setting
	// a user.* xattr needs write permission.
	if err := u.ownAndXattrs(fd, hdr); err != nil {
		unix.Close(fd)
		return err
	}
	u.dirs[name] = dirMeta{mode: modeBits(hdr), atime: atimeOf(hdr), mtime: hdr.ModTime}
	u.stats.Dirs++
	// Tars list a directory's entries right after it: keep it open as the
	// next parent.
	if name != "." {
		u.dropParent()
		u.parentName, u.parent = name, newDirRef(os.NewFile(uintptr(fd), name))
		u.verified[name] = true
	} else {
		unix.Close(fd)
	}
	return nil
}

// file writes a regular file, streaming its contents.
func (u *unpacker) file(tr *tar.Reader, hdr *tar.Header, name, dir, base string) error {
	pfd, err := u.openParent(dir)
	if err != nil {
		return err
	}
	if u.async != nil {
		if queued, err := u.async.submit(tr, hdr, name, base); queued || err != nil {
			return err
		}
	}
	if u.split != nil {
		u.split.beginFile()
	}
	var n int64
	err = u.writeFileFrom(pfd, name, base, hdr, func(f *os.File) error {
		// Hide f's ReadFrom so that CopyBuffer uses our buffer.
		var err error
		n, err = io.CopyBuffer(struct{ io.Writer }{f}, tr, u.buf)
		return err
	}, true)
	if u.split != nil {
		u.split.endFile(name, n)
	}
	u.stats.Bytes += n
	if err != nil {
		return err
	}
	u.stats.Files++
	return nil
}

// writeFile writes a file whose contents are in memory (see async.go).
// Without clearExisting, something already at the name is an error that
// wraps EEXIST.
func (u *unpacker) writeFile(pfd int, name, base string, hdr *tar.Header, data []byte, clearExisting bool) error {
	return u.writeFileFrom(pfd, name, base, hdr, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	}, clearExisting)
}

// writeFileFrom creates base in pfd, fills it, and sets its owner, xattrs,
// mode and times.
func (u *unpacker) writeFileFrom(pfd int, name, base string, hdr *tar.Header, fill func(*os.File) error, clearExisting bool) error {
	// Create first and clear only if something is there: in a fresh layer
	// nothing is, and the lookup would cost a system call per file.
	// O_EXCL as well as O_NOFOLLOW: anything found at the name was not put
	// there by this open.
	mode := modeBits(hdr)
	create := mode & 0o777
	if len(xattrs(hdr)) > 0 {
		create |= 0o200 // setting a user.* xattr needs write permission
	}
	fd, err := openNoFollowMode(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, create)
	if errors.Is(err, unix.EEXIST) && clearExisting {
		if err := u.clear(pfd, name, base); err != nil {
			return err
		}
		fd, err = openNoFollowMode(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, create)
	}
	if err != nil {
		return fmt.Errorf("creating file: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	if err := fill(f); err != nil {
		return fmt.Errorf("writing file: %w", err)
	}
	if err := u.ownAndXattrs(fd, hdr); err != nil {
		return err
	}
	// The create already gave the mode, unless the umask took bits away or
	// there are set-id or sticky bits (which chown clears, and which
	// creation may not grant).
	if mode&^0o777 != 0 || create&u.umask != 0 || create != mode&0o777 {
		if err := eintr(func() error { return unix.Fchmod(fd, mode) }); err != nil {
			return fmt.Errorf("changing mode: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing file: %w", err)
	}
	return setTimes(pfd, base, hdr)
}

// fifo makes a named pipe.
func (u *unpacker) fifo(hdr *tar.Header, name, dir, base string) error {
	pfd, err := u.openParent(dir)
	if err != nil {
		return err
	}
	if err := u.clear(pfd, name, base); err != nil {
		return err
	}
	if err := eintr(func() error { return unix.Mkfifoat(pfd, base, 0o600) }); err != nil {
		return fmt.Errorf("making fifo: %w", err)
	}
	// O_NONBLOCK so that opening a pipe with no writer does not wait.
	fd, err := openNoFollow(pfd, base, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return fmt.Errorf("opening fifo: %w", err)
	}
	defer unix.Close(fd)
	if err := u.ownAndXattrs(fd, hdr); err != nil {
		return err
	}
	if err := eintr(func() error { return unix.Fchmod(fd, modeBits(hdr)) }); err != nil {
		return fmt.Errorf("changing mode: %w", err)
	}
	if err := setTimes(pfd, base, hdr); err != nil {
		return err
	}
	u.stats.Files++
	return nil
}

// symlink makes a symbolic link with the tar's target text, unchecked: the
// link is never followed here, and whoever follows it later does so inside
// the container's root.
func (u *unpacker) symlink(hdr *tar.Header, name, dir, base string) error {
	pfd, err := u.openParent(dir)
	if err != nil {
		return err
	}
	if err := u.clear(pfd, name, base); err != nil {
		return err
	}
	if err := eintr(func() error { return unix.Symlinkat(hdr.Linkname, pfd, base) }); err != nil {
		return fmt.Errorf("making symlink to %q: %w", hdr.Linkname, err)
	}
	if u.opts.Chown {
		err := eintr(func() error { return unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW) })
		if err != nil {
			return chownError(hdr, err)
		}
	}
	// Linux refuses user.* xattrs on symlinks, and the namespaces it allows
	// there are the ones skipped anyway.
	if x := xattrs(hdr); len(x) > 0 {
		return fmt.Errorf("setting xattr %q: not supported on symlinks", x[0][0])
	}
	if err := setTimes(pfd, base, hdr); err != nil {
		return err
	}
	u.stats.Symlinks++
	return nil
}

// hardlink links name to an earlier entry of the layer.
func (u *unpacker) hardlink(hdr *tar.Header, name, dir, base string) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("link target %q: %w", hdr.Linkname, err)
	}
	if target == name {
		// A link to itself: the file is already there.
		return nil
	}
	if target == "." {
		return errors.New("cannot hard link to the layer root")
	}
	tdir, tbase := splitName(target)
	if err := u.checkNoSymlinks(tdir); err != nil {
		return fmt.Errorf("link target %q: %w", hdr.Linkname, err)
	}
	tf, err := u.root.Open(tdir)
	if err != nil {
		return fmt.Errorf("link target %q: %w", hdr.Linkname, err)
	}
	defer tf.Close()
	tfd := int(tf.Fd())

	pfd, err := u.openParent(dir)
	if err != nil {
		return err
	}
	if err := u.clear(pfd, name, base); err != nil {
		return err
	}
	// No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
	if err := eintr(func() error { return unix.Linkat(tfd, tbase, pfd, base, 0) }); err != nil {
		return fmt.Errorf("linking to %q: %w", hdr.Linkname, err)
	}
	u.stats.Hardlinks++
	return nil
}

// whiteout makes the overlayfs whiteout for dir/target: a 0/0 character
// device, with the owner and times of the whiteout entry so that PackDir
// gives the same entry back.
func (u *unpacker) whiteout(hdr *tar.Header, dir, target string) error {
	if target == "" || target == "." || target == ".." {
		return fmt.Errorf("whiteout of %q is not a valid name", target)
	}
	pfd, err := u.openParent(dir)
	if err != nil {
		return err
	}
	if err := u.clear(pfd, path.Join(dir, target), target); err != nil {
		return err
	}
	err = eintr(func() error { return unix.Mknodat(pfd, target, unix.S_IFCHR, 0) })
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("making whiteout device %q: %w (unprivileged whiteouts need Linux 5.8 or later)", target, err)
	}
	if err != nil {
		return fmt.Errorf("making whiteout device %q: %w", target, err)
	}
	if u.opts.Chown {
		err := eintr(func() error { return unix.Fchownat(pfd, target, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW) })
		if err != nil {
			return chownError(hdr, err)
		}
	}
	if err := setTimes(pfd, target, hdr); err != nil {
		return err
	}
	u.stats.Whiteouts++
	return nil
}

// opaque marks dir opaque, making it first if this layer has not.
func (u *unpacker) opaque(dir string) error {
	pdir, base := splitName(dir)
	pfd, err := u.openParent(pdir)
	if err != nil {
		return err
	}
	st, exists, err := lstatAt(pfd, base)
	switch {
	case err != nil:
		return err
	case !exists:
		if err := eintr(func() error { return unix.Mkdirat(pfd, base, 0o755) }); err != nil {
			return fmt.Errorf("making directory %q: %w", dir, err)
		}
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return fmt.Errorf("directory %q is a symlink, which unpacking never follows", dir)
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("%q is not a directory", dir)
	}
	// O_NOFOLLOW|O_DIRECTORY in case that changed since.
	fd, err := openNoFollow(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("opening directory %q: %w", dir, err)
	}
	defer unix.Close(fd)
	err = eintr(func() error { return unix.Fsetxattr(fd, opaqueXattr, []byte("y"), 0) })
	if err != nil {
		return fmt.Errorf("marking %q opaque: setting %s: %w", dir, opaqueXattr, err)
	}
	u.stats.Opaques++
	return nil
}

// finishDirs applies directory modes and times, deepest first: a child's
// entry no longer changes its parent's mtime, and a parent made read-only
// or unsearchable no longer stands in the way.
func (u *unpacker) finishDirs() error {
	names := make([]string, 0, len(u.dirs))
	for name := range u.dirs {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		if d := depth(b) - depth(a); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, name := range names {
		meta := u.dirs[name]
		dir, base := splitName(name)
		pfd, err := u.openParent(dir)
		if err != nil {
			return fmt.Errorf("unpacking %q: %w", name, err)
		}
		st, exists, err := lstatAt(pfd, base)
		if err != nil {
			return fmt.Errorf("unpacking %q: %w", name, err)
		}
		if !exists || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			// Replaced by a later entry, which brought its own metadata.
			continue
		}
		// fchmodat follows a symlink, but the name was a directory just now
		// and only we write in this tree.
		if err := eintr(func() error { return unix.Fchmodat(pfd, base, meta.mode, 0) }); err != nil {
			return fmt.Errorf("unpacking %q: changing mode: %w", name, err)
		}
		ts := []unix.Timespec{timespec(meta.atime), timespec(meta.mtime)}
		err = eintr(func() error { return unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW) })
		if err != nil {
			return fmt.Errorf("unpacking %q: setting times: %w", name, err)
		}
	}
	return nil
}

// openParent returns a descriptor for directory dir of the layer, making it
// and its parents (mode 0755) if needed. The descriptor stays valid until
// the next call.
func (u *unpacker) openParent(dir string) (int, error) {
	if u.parent != nil && u.parentName == dir {
		// Entries since the last check only touched names below dir, so
		// its path has not changed.
		return u.parent.fd, nil
	}
	u.dropParent()
	// A directory this Unpack made or checked stays a real directory until
	// clear removes it (which forgets it): no need to walk its path again.
	if !u.verified[dir] {
		// A file still queued could be one of its components.
		if err := u.drain(); err != nil {
			return -1, err
		}
		if err := u.checkNoSymlinks(dir); err != nil {
			return -1, err
		}
		if err := u.root.MkdirAll(dir, 0o755); err != nil {
			return -1, fmt.Errorf("making parent directory: %w", err)
		}
		for d := dir; d != "." && !u.verified[d]; d = path.Dir(d) {
			u.verified[d] = true
		}
	}
	f, err := u.root.Open(dir)
	if err != nil {
		return -1, fmt.Errorf("opening parent directory: %w", err)
	}
	u.parentName, u.parent = dir, newDirRef(f)
	return u.parent.fd, nil
}

// dropParent closes the cached parent directory.
func (u *unpacker) dropParent() {
	if u.parent != nil {
		u.parent.release()
		u.parent = nil
	}
}

// drain finishes the files being written in parallel.
func (u *unpacker) drain() error {
	if u.async == nil || u.draining {
		return nil
	}
	u.draining = true
	defer func() { u.draining = false }()
	return u.async.drain()
}

// checkNoSymlinks refuses a path whose existing components include a
// symlink or a non-directory. os.Root would follow a symlink that stays in
// the layer, but a layer entry must never be written through one.
func (u *unpacker) checkNoSymlinks(dir string) error {
	if dir == "." {
		return nil
	}
	for i := 0; ; {
		j := strings.IndexByte(dir[i:], '/')
		prefix := dir
		if j >= 0 {
			prefix = dir[:i+j]
		}
		fi, err := u.root.Lstat(prefix)
		if errors.Is(err, os.ErrNotExist) {
			// The rest is missing and will be made as directories.
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("parent %q is a symlink, which unpacking never follows", prefix)
		}
		if !fi.IsDir() {
			return fmt.Errorf("parent %q is not a directory", prefix)
		}
		if j < 0 {
			return nil
		}
		i += j + 1
	}
}

// clear removes whatever is at base in pfd, a whole tree if it is a
// directory, to make room for a new entry.
func (u *unpacker) clear(pfd int, name, base string) error {
	st, exists, err := lstatAt(pfd, base)
	if err != nil || !exists {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := eintr(func() error { return unix.Unlinkat(pfd, base, 0) }); err != nil {
			return fmt.Errorf("replacing existing entry: %w", err)
		}
		return nil
	}
	// Files below it may still be being written.
	if err := u.drain(); err != nil {
		return err
	}
	for d := range u.verified {
		if d == name || strings.HasPrefix(d, name+"/") {
			delete(u.verified, d)
		}
	}
	// Only names below pfd go, so the cached parent stays valid.
	if err := u.root.RemoveAll(name); err != nil {
		return fmt.Errorf("replacing existing directory: %w", err)
	}
	for d := range u.dirs {
		if d == name || strings.HasPrefix(d, name+"/") {
			delete(u.dirs, d)
		}
	}
	return nil
}

// ownAndXattrs applies the entry's owner, if asked to, and its extended
// attributes to an open file.
func (u *unpacker) ownAndXattrs(fd int, hdr *tar.Header) error {
	if u.opts.Chown {
		if err := eintr(func() error { return unix.Fchown(fd, hdr.Uid, hdr.Gid) }); err != nil {
			return chownError(hdr, err)
		}
	}
	for _, kv := range xattrs(hdr) {
		err := eintr(func() error { return unix.Fsetxattr(fd, kv[0], []byte(kv[1]), 0) })
		if err != nil {
			return fmt.Errorf("setting xattr %q: %w", kv[0], err)
		}
	}
	return nil
}

// chownError explains the usual reason chown fails in a user namespace.
func chownError(hdr *tar.Header, err error) error {
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EPERM) {
		return fmt.Errorf("chowning to %d:%d: %w — the id is outside this user namespace's map", hdr.Uid, hdr.Gid, err)
	}
	return fmt.Errorf("chowning to %d:%d: %w", hdr.Uid, hdr.Gid, err)
}

// xattrs lists the entry's extended attributes that Unpack sets, as sorted
// name/value pairs so that errors are reproducible.
func xattrs(hdr *tar.Header) [][2]string {
	var out [][2]string
	for key, value := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(key, paxXattr)
		if !ok || strings.HasPrefix(name, "security.") || strings.HasPrefix(name, "trusted.") {
			continue
		}
		out = append(out, [2]string{name, value})
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return out
}

// setTimes sets the entry's times on base in pfd, not following a symlink.
func setTimes(pfd int, base string, hdr *tar.Header) error {
	ts := []unix.Timespec{timespec(atimeOf(hdr)), timespec(hdr.ModTime)}
	err := eintr(func() error { return unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW) })
	if err != nil {
		return fmt.Errorf("setting times: %w", err)
	}
	return nil
}

// atimeOf is the access time to set: the tar's, or else the mtime, so that
// the result does not depend on when it was unpacked.
func atimeOf(hdr *tar.Header) time.Time {
	if hdr.AccessTime.IsZero() {
		return hdr.ModTime
	}
	return hdr.AccessTime
}

// timespec converts without UnixNano, which overflows outside 1678–2262.
func timespec(t time.Time) unix.Timespec {
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

// modeBits is the entry's permission, set-id and sticky bits, which tar
// stores with the same values as the kernel.
func modeBits(hdr *tar.Header) uint32 {
	return uint32(hdr.Mode & 0o7777)
}

// cleanName turns a tar name into a clean name relative to the layer root.
// A leading "/" means the image root, which is the layer root here; a name
// that still climbs out with ".." is refused.
func cleanName(name string) (string, error) {
	p := path.Clean(strings.TrimLeft(name, "/"))
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", errors.New(`name escapes the layer with ".."`)
	}
	return p, nil
}

// splitName splits a clean name into its parent directory and last element.
// The root "." is its own parent.
func splitName(name string) (dir, base string) {
	if name == "." {
		return ".", "."
	}
	dir, base = path.Split(name)
	return path.Clean(dir), base
}

// depth counts the elements of a clean name; the root has none.
func depth(name string) int {
	if name == "." {
		return 0
	}
	return strings.Count(name, "/") + 1
}

// lstatAt stats base in pfd without following a symlink, reporting whether
// it exists.
func lstatAt(pfd int, base string) (unix.Stat_t, bool, error) {
	var st unix.Stat_t
	err := eintr(func() error { return unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) })
	if errors.Is(err, unix.ENOENT) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("checking existing entry: %w", err)
	}
	return st, true, nil
}

// openNoFollow opens base in pfd, refusing a symlink there.
func openNoFollow(pfd int, base string, flags int) (int, error) {
	return openNoFollowMode(pfd, base, flags, 0o600)
}

// openNoFollowMode is openNoFollow creating with perm (less the umask).
func openNoFollowMode(pfd int, base string, flags int, perm uint32) (int, error) {
	var fd int
	err := eintr(func() (err error) {
		fd, err = unix.Openat(pfd, base, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
		return err
	})
	return fd, err
}

// eintr retries a system call interrupted by a signal, which the Go runtime
// sends itself and which network and FUSE file systems pass on.
func eintr(call func() error) error {
	for {
		if err := call(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
