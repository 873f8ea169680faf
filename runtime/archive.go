package runtime

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"
)

// Copying files in and out of a running container (`docker cp` through the
// API) is an exec request its init answers itself (ExecRequest.Archive),
// in the container's mount namespace as its root, so it needs nothing in
// the image (no tar). Every path is resolved inside the container's root
// with os.Root: no symbolic link leads out of it.
//
// The init speaks a stream of entries (ArchiveEntry), not tar: the API
// turns it into tar and back. archive/tar's writer in the init program
// cost every resident init a megabyte more of program pages (measured:
// 2.0 against 3.0 MiB PSS), for a feature a few requests use.

// PathStat is what "stat" answers: Docker's container.PathStat.
type PathStat struct {
	Name       string      `json:"name"`
	Size       int64       `json:"size"`
	Mode       os.FileMode `json:"mode"`
	Mtime      time.Time   `json:"mtime"`
	LinkTarget string      `json:"linkTarget"`
}

// ArchiveEntry is one file of a copy stream: a JSON line, then Size bytes
// of content for a regular file. Type is "dir", "file" or "symlink".
type ArchiveEntry struct {
	Name  string    `json:"name"`
	Type  string    `json:"type"`
	Mode  uint32    `json:"mode"` // permission and setuid/setgid/sticky bits, as in tar
	UID   int       `json:"uid"`
	GID   int       `json:"gid"`
	Size  int64     `json:"size,omitempty"`
	Mtime time.Time `json:"mtime"`
	Link  string    `json:"link,omitempty"`
}

// WriteArchiveEntry writes e and, for a file, its content from r.
func WriteArchiveEntry(w io.Writer, e ArchiveEntry, r io.Reader) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return err
	}
	if e.Type == "file" {
		n, err := io.CopyN(w, r, e.Size)
		if err != nil {
			return fmt.Errorf("%s: %d of %d bytes: %w", e.Name, n, e.Size, err)
		}
	}
	return nil
}

// ArchiveReader reads a copy stream.
type ArchiveReader struct {
	br *bufio.Reader
	// Content is the current file's content, to read before Next.
	Content io.Reader
}

func NewArchiveReader(r io.Reader) *ArchiveReader {
	return &ArchiveReader{br: bufio.NewReader(r)}
}

// Next returns the next entry; io.EOF at the end.
func (a *ArchiveReader) Next() (ArchiveEntry, error) {
	if a.Content != nil {
		io.Copy(io.Discard, a.Content) // what the caller left of the last file
	}
	var e ArchiveEntry
	line, err := a.br.ReadBytes('\n')
	if err != nil {
		if err == io.EOF && len(line) == 0 {
			return e, io.EOF
		}
		return e, fmt.Errorf("reading the copy stream: %w", err)
	}
	if err := json.Unmarshal(line, &e); err != nil {
		return e, fmt.Errorf("reading the copy stream: %w", err)
	}
	a.Content = io.LimitReader(a.br, e.Size)
	if e.Type != "file" {
		a.Content = io.LimitReader(a.br, 0)
	}
	return e, nil
}

// serveArchive answers req on the request's stdio: "stat" writes a
// PathStat as JSON, "get" the entries of req.Path (its last element at the
// top), "put" creates the entries read from stdin in the directory
// req.Path (owners 0:0 unless req.KeepOwners). It returns the exit code,
// having said why on stderr when it is not 0.
func serveArchive(req ExecRequest, in, out, errw *os.File) int {
	root, err := os.OpenRoot("/")
	if err == nil {
		defer root.Close()
		err = archiveOp(root, req, in, out)
	}
	if err != nil {
		fmt.Fprintln(errw, err)
		if errors.Is(err, fs.ErrNotExist) {
			return 2
		}
		return 1
	}
	return 0
}

func archiveOp(root *os.Root, req ExecRequest, in io.Reader, out io.Writer) error {
	rel := strings.TrimPrefix(path.Clean("/"+req.Path), "/")
	if rel == "" {
		rel = "."
	}
	switch req.Archive {
	case "stat":
		fi, err := root.Lstat(rel)
		if err != nil {
			return fmt.Errorf("%s: %w", req.Path, err)
		}
		st := PathStat{Name: fi.Name(), Size: fi.Size(), Mode: fi.Mode(), Mtime: fi.ModTime()}
		if fi.Mode()&fs.ModeSymlink != 0 {
			st.LinkTarget, _ = root.Readlink(rel)
		}
		return json.NewEncoder(out).Encode(st)
	case "get":
		bw := bufio.NewWriterSize(out, 64<<10)
		base := path.Base("/" + rel)
		if rel == "." {
			base = "."
		}
		if err := sendTree(root, rel, base, bw); err != nil {
			return err
		}
		return bw.Flush()
	case "put":
		fi, err := root.Stat(rel)
		if err != nil {
			return fmt.Errorf("%s: %w", req.Path, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", req.Path)
		}
		return receiveInto(root, rel, NewArchiveReader(in), req.KeepOwners)
	}
	return fmt.Errorf("unknown archive operation %q", req.Archive)
}

// sendTree writes rel (and, for a directory, everything under it) as name.
func sendTree(root *os.Root, rel, name string, w io.Writer) error {
	fi, err := root.Lstat(rel)
	if err != nil {
		return fmt.Errorf("/%s: %w", rel, err)
	}
	e := ArchiveEntry{Name: name, Mode: modeBitsOf(fi.Mode()), Mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.UID, e.GID = int(st.Uid), int(st.Gid)
	}
	switch {
	case fi.Mode().IsRegular():
		f, err := root.Open(rel)
		if err != nil {
			return err
		}
		defer f.Close()
		e.Type, e.Size = "file", fi.Size()
		return WriteArchiveEntry(w, e, f)
	case fi.IsDir():
		e.Type = "dir"
		if err := WriteArchiveEntry(w, e, nil); err != nil {
			return err
		}
		d, err := root.Open(rel)
		if err != nil {
			return err
		}
		names, err := d.Readdirnames(-1)
		d.Close()
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := sendTree(root, path.Join(rel, n), path.Join(name, n), w); err != nil {
				return err
			}
		}
		return nil
	case fi.Mode()&fs.ModeSymlink != 0:
		e.Type = "symlink"
		e.Link, _ = root.Readlink(rel)
		return WriteArchiveEntry(w, e, nil)
	}
	return nil // devices, fifos, sockets: left out
}

func modeBitsOf(m fs.FileMode) uint32 {
	bits := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		bits |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		bits |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		bits |= 0o1000
	}
	return bits
}

func fileModeOf(bits uint32) fs.FileMode {
	m := fs.FileMode(bits & 0o777)
	if bits&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if bits&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if bits&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// receiveInto creates the entries of ar in dir.
func receiveInto(root *os.Root, dir string, ar *ArchiveReader, keepOwners bool) error {
	for {
		e, err := ar.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean("/" + e.Name)
		if name == "/" {
			continue
		}
		rel := path.Join(dir, strings.TrimPrefix(name, "/"))
		mode := fileModeOf(e.Mode)
		switch e.Type {
		case "dir":
			if err := root.MkdirAll(rel, 0o755); err != nil {
				return err
			}
		case "file":
			root.MkdirAll(path.Dir(rel), 0o755)
			if fi, err := root.Lstat(rel); err == nil && !fi.Mode().IsRegular() {
				if err := root.RemoveAll(rel); err != nil {
					return err
				}
			}
			f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, ar.Content)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case "symlink":
			root.MkdirAll(path.Dir(rel), 0o755)
			root.Remove(rel)
			if err := root.Symlink(e.Link, rel); err != nil {
				return err
			}
		default:
			continue
		}
		uid, gid := 0, 0
		if keepOwners {
			uid, gid = e.UID, e.GID
		}
		root.Lchown(rel, uid, gid)
		if e.Type != "symlink" {
			root.Chmod(rel, mode) // after chown, which clears setuid
			root.Chtimes(rel, e.Mtime, e.Mtime)
		}
	}
}
