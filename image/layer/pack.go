package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// PackDir writes the tree at dir to w as a tar, deterministically: entries in
// lexical order, root "." not included, names relative with "/" separators
// and directories ending in "/", mtimes kept, uid/gid kept, no atime/ctime,
// hard links inside the tree written as tar hardlinks, PAX format where needed.
// Same tree → same bytes.
//
// The tree may be in the overlay form Unpack writes (or an overlayfs upper
// directory): a 0/0 character device becomes the OCI whiteout ".wh.NAME",
// and a directory with user.overlay.opaque=y (or trusted.overlay.opaque=y)
// gets a ".wh..wh..opq" entry. Any other name starting with ".wh." is an
// error, since a layer cannot hold it. Nothing the tree does not hold goes
// in: uname and gname stay empty, and mtimes keep exactly the nanoseconds
// the file system has. Extended attributes in the user namespace are kept,
// except overlayfs' own user.overlay.*; others (security.*, trusted.*,
// system.*) are left out, as Unpack would skip them. Sockets are left out:
// tar cannot hold them. Nothing is followed out of dir: symlinks are stored
// as links.
func PackDir(dir string, w io.Writer) error { return PackDirAs(dir, w, nil) }

// PackDirAs is PackDir with every owner translated by ids, when not nil:
// a directory on the host holds host ids, and the tar must hold the ids the
// files have inside the container (the user's own files belong to root
// there).
func PackDirAs(dir string, w io.Writer, ids func(uid, gid int) (int, int)) error {
	return PackDirWith(dir, w, PackOptions{IDs: ids})
}

// PackOptions refine PackDirWith.
type PackOptions struct {
	// IDs translates owners (see PackDirAs).
	IDs func(uid, gid int) (int, int)
	// Skip leaves out the file at rel (a slash-separated path), and what
	// is below it when it is a directory.
	Skip func(rel string, fi os.FileInfo) bool
	// Mtime, when set, is every entry's modification time: a build with
	// --timestamp makes the same layer wherever and whenever it runs.
	Mtime *time.Time
}

// PackDirWith is PackDir with options.
func PackDirWith(dir string, w io.Writer, opts PackOptions) error {
	ids := opts.IDs
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("packing %q: %w", dir, err)
	}
	defer root.Close()

	p := &packer{root: root, dir: dir, skip: opts.Skip}
	if err := p.collectRoot(); err != nil {
		return err
	}
	if ids != nil {
		for _, e := range p.entries {
			e.hdr.Uid, e.hdr.Gid = ids(e.hdr.Uid, e.hdr.Gid)
		}
	}
	if opts.Mtime != nil {
		for _, e := range p.entries {
			e.hdr.ModTime = *opts.Mtime
		}
	}
	// Lexical order of the names as written puts every directory before its
	// contents, since a prefix sorts first.
	slices.SortFunc(p.entries, func(a, b *packEntry) int { return strings.Compare(a.hdr.Name, b.hdr.Name) })
	if err := p.write(w); err != nil {
		return err
	}
	return nil
}

// packer holds the state of one PackDir call.
type packer struct {
	root    *os.Root
	skip    func(rel string, fi os.FileInfo) bool
	dir     string
	entries []*packEntry
}

// packEntry is one tar entry to write.
type packEntry struct {
	hdr tar.Header
	// path is the file in the tree, for error messages and for reading
	// contents.
	path string
	// contents is set for regular files, whose size, xattrs and bytes are
	// read when the entry is written.
	contents bool
	// id identifies a file that may have other hard links, for linking.
	id       fileID
	linkable bool
}

// fileID is an inode.
type fileID struct{ dev, ino uint64 }

// collectRoot collects the whole tree: the root itself only contributes an
// opaque marker, if it is opaque.
func (p *packer) collectRoot() error {
	fi, err := p.root.Lstat(".")
	if err != nil {
		return p.errorf(".", err)
	}
	_, opaque, err := p.dirXattrs(".", fi)
	if err != nil {
		return p.errorf(".", err)
	}
	if opaque {
		p.entries = append(p.entries, opaqueEntry(".", fi))
	}
	return p.collect(".")
}

// collect adds the entries below directory dir of the tree.
func (p *packer) collect(dir string) error {
	f, err := p.root.Open(dir)
	if err != nil {
		return p.errorf(dir, err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return p.errorf(dir, err)
	}
	for _, name := range names {
		rel := path.Join(dir, name)
		if strings.HasPrefix(name, whiteoutPrefix) {
			return p.errorf(rel, errors.New("names starting with .wh. are reserved for whiteouts in layers"))
		}
		fi, err := p.root.Lstat(rel)
		if err != nil {
			return p.errorf(rel, err)
		}
		if p.skip != nil && p.skip(rel, fi) {
			continue
		}
		if err := p.add(dir, name, rel, fi); err != nil {
			return p.errorf(rel, err)
		}
		if fi.IsDir() {
			if err := p.collect(rel); err != nil {
				return err
			}
		}
	}
	return nil
}

// add adds the entry, or entries, for one file of the tree.
func (p *packer) add(dir, name, rel string, fi os.FileInfo) error {
	st := fi.Sys().(*syscall.Stat_t)
	e := &packEntry{
		path: rel,
		hdr:  baseHeader(rel, st),
		id:   fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)},
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		e.hdr.Typeflag = tar.TypeDir
		e.hdr.Name += "/"
		records, opaque, err := p.dirXattrs(rel, fi)
		if err != nil {
			return err
		}
		e.hdr.PAXRecords = records
		if opaque {
			p.entries = append(p.entries, opaqueEntry(rel, fi))
		}
	case syscall.S_IFREG:
		e.hdr.Typeflag = tar.TypeReg
		e.contents = true
		e.linkable = st.Nlink > 1
	case syscall.S_IFLNK:
		target, err := p.root.Readlink(rel)
		if err != nil {
			return err
		}
		e.hdr.Typeflag = tar.TypeSymlink
		e.hdr.Linkname = target
		e.linkable = st.Nlink > 1
	case syscall.S_IFIFO:
		e.hdr.Typeflag = tar.TypeFifo
		e.linkable = st.Nlink > 1
	case syscall.S_IFCHR, syscall.S_IFBLK:
		if st.Mode&syscall.S_IFMT == syscall.S_IFCHR && st.Rdev == 0 {
			// An overlay whiteout: back to the OCI form.
			e.hdr.Typeflag = tar.TypeReg
			e.hdr.Name = path.Join(dir, whiteoutPrefix+name)
			e.hdr.Mode = 0
			break
		}
		e.hdr.Typeflag = tar.TypeChar
		if st.Mode&syscall.S_IFMT == syscall.S_IFBLK {
			e.hdr.Typeflag = tar.TypeBlock
		}
		e.hdr.Devmajor = int64(unix.Major(uint64(st.Rdev)))
		e.hdr.Devminor = int64(unix.Minor(uint64(st.Rdev)))
		e.linkable = st.Nlink > 1
	default:
		// A socket: tar has no type for it, and it means nothing once its
		// process is gone.
		return nil
	}
	p.entries = append(p.entries, e)
	return nil
}

// baseHeader fills the fields every entry shares. Only what the tree holds
// goes in, so that the bytes depend on nothing else.
func baseHeader(rel string, st *syscall.Stat_t) tar.Header {
	return tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(int64(st.Mtim.Sec), int64(st.Mtim.Nsec)),
		// PAX when a field needs it (nanosecond mtimes, long names, big
		// ids, xattrs); the writer emits plain ustar headers otherwise.
		Format: tar.FormatPAX,
	}
}

// opaqueEntry is the ".wh..wh..opq" entry for opaque directory dir.
func opaqueEntry(dir string, fi os.FileInfo) *packEntry {
	st := fi.Sys().(*syscall.Stat_t)
	name := path.Join(dir, opaqueMarker)
	hdr := baseHeader(name, st)
	hdr.Typeflag = tar.TypeReg
	hdr.Mode = 0
	return &packEntry{path: dir, hdr: hdr}
}

// dirXattrs reads the xattrs to store for a directory, and whether
// overlayfs would take it as opaque.
func (p *packer) dirXattrs(rel string, fi os.FileInfo) (map[string]string, bool, error) {
	f, err := p.root.Open(rel)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	if err := sameFile(f, fi); err != nil {
		return nil, false, err
	}
	return readXattrs(int(f.Fd()))
}

// write writes the sorted entries as a tar stream.
func (p *packer) write(w io.Writer) error {
	tw := tar.NewWriter(w)
	buf := make([]byte, copyBufferSize)
	// first names the first entry written for each multiply-linked inode;
	// later names become hard links to it.
	first := make(map[fileID]string)
	for _, e := range p.entries {
		if e.linkable {
			if target, ok := first[e.id]; ok {
				hdr := e.hdr
				hdr.Typeflag = tar.TypeLink
				hdr.Linkname = target
				hdr.Devmajor, hdr.Devminor = 0, 0
				if err := tw.WriteHeader(&hdr); err != nil {
					return p.errorf(e.path, err)
				}
				continue
			}
			first[e.id] = e.hdr.Name
		}
		if e.contents {
			if err := p.writeFile(tw, e, buf); err != nil {
				return p.errorf(e.path, err)
			}
			continue
		}
		if err := tw.WriteHeader(&e.hdr); err != nil {
			return p.errorf(e.path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("packing %q: %w", p.dir, err)
	}
	return nil
}

// writeFile writes a regular file's header and contents, taking size and
// xattrs from the open file.
func (p *packer) writeFile(tw *tar.Writer, e *packEntry, buf []byte) error {
	// O_NONBLOCK in case a fifo took the file's place since it was listed:
	// opening one would wait for a writer.
	f, err := p.root.OpenFile(e.path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || (fileID{uint64(st.Dev), uint64(st.Ino)}) != e.id {
		return errors.New("file changed while packing")
	}
	records, _, err := readXattrs(int(f.Fd()))
	if err != nil {
		return err
	}
	hdr := e.hdr
	hdr.Size = fi.Size()
	hdr.PAXRecords = records
	if err := tw.WriteHeader(&hdr); err != nil {
		return err
	}
	// LimitReader hides f's WriterTo and the struct hides tw's ReaderFrom,
	// so the copy uses buf.
	n, err := io.CopyBuffer(struct{ io.Writer }{tw}, io.LimitReader(f, hdr.Size), buf)
	if err != nil {
		return err
	}
	if n != hdr.Size {
		return errors.New("file shrank while packing")
	}
	return nil
}

// sameFile checks that an opened file is the one listed, not something
// swapped in since.
func sameFile(f *os.File, listed os.FileInfo) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !os.SameFile(fi, listed) {
		return errors.New("file changed while packing")
	}
	return nil
}

// readXattrs returns the xattrs of an open file to store as PAX records,
// and whether it carries the overlayfs opaque mark. A file system without
// xattrs has none.
func readXattrs(fd int) (map[string]string, bool, error) {
	names, err := listXattrs(fd)
	if err != nil {
		return nil, false, err
	}
	var records map[string]string
	opaque := false
	for _, name := range names {
		isOpaque := name == opaqueXattr || name == "trusted.overlay.opaque"
		keep := strings.HasPrefix(name, "user.") && !strings.HasPrefix(name, "user.overlay.")
		if !isOpaque && !keep {
			continue
		}
		value, err := getXattr(fd, name)
		if errors.Is(err, unix.ENODATA) {
			// Removed since it was listed.
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("reading xattr %q: %w", name, err)
		}
		if isOpaque {
			opaque = opaque || value == "y"
			continue
		}
		if records == nil {
			records = make(map[string]string)
		}
		records[paxXattr+name] = value
	}
	return records, opaque, nil
}

// listXattrs lists the xattr names of an open file.
func listXattrs(fd int) ([]string, error) {
	for {
		size, err := unix.Flistxattr(fd, nil)
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing xattrs: %w", err)
		}
		if size == 0 {
			return nil, nil
		}
		buf := make([]byte, size)
		n, err := unix.Flistxattr(fd, buf)
		if errors.Is(err, unix.ERANGE) {
			// The list grew since we sized it.
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing xattrs: %w", err)
		}
		var names []string
		for name := range strings.SplitSeq(string(buf[:n]), "\x00") {
			if name != "" {
				names = append(names, name)
			}
		}
		return names, nil
	}
}

// getXattr reads one xattr of an open file.
func getXattr(fd int, name string) (string, error) {
	for {
		size, err := unix.Fgetxattr(fd, name, nil)
		if err != nil {
			return "", err
		}
		buf := make([]byte, size)
		n, err := unix.Fgetxattr(fd, name, buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
}

// errorf wraps an error with the path of the file it concerns.
func (p *packer) errorf(rel string, err error) error {
	return fmt.Errorf("packing %q: %w", filepath.Join(p.dir, rel), err)
}
