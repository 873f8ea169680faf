package runtime

import (
	"archive/tar"
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

// PathStat is what "stat" answers: Docker's container.PathStat.
type PathStat struct {
	Name       string      `json:"name"`
	Size       int64       `json:"size"`
	Mode       os.FileMode `json:"mode"`
	Mtime      time.Time   `json:"mtime"`
	LinkTarget string      `json:"linkTarget"`
}

// serveArchive answers req on the request's stdio: "stat" writes a
// PathStat as JSON, "get" a tar of req.Path (its last element at the
// archive's top), "put" extracts the tar on stdin into the directory
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
		tw := tar.NewWriter(out)
		base := path.Base("/" + rel)
		if rel == "." {
			base = "."
		}
		if err := tarTree(root, rel, base, tw); err != nil {
			return err
		}
		return tw.Close()
	case "put":
		fi, err := root.Stat(rel)
		if err != nil {
			return fmt.Errorf("%s: %w", req.Path, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", req.Path)
		}
		return untarInto(root, rel, tar.NewReader(in), req.KeepOwners)
	}
	return fmt.Errorf("unknown archive operation %q", req.Archive)
}

// tarTree writes rel (and, for a directory, everything under it) as name.
func tarTree(root *os.Root, rel, name string, tw *tar.Writer) error {
	fi, err := root.Lstat(rel)
	if err != nil {
		return fmt.Errorf("/%s: %w", rel, err)
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		link, _ = root.Readlink(rel)
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	h.Name = name
	if fi.IsDir() {
		h.Name += "/"
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		h.Uid, h.Gid = int(st.Uid), int(st.Gid)
	}
	h.Uname, h.Gname = "", ""
	switch {
	case fi.Mode().IsRegular():
		f, err := root.Open(rel)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err = io.CopyN(tw, f, h.Size)
		return err
	case fi.IsDir():
		if err := tw.WriteHeader(h); err != nil {
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
			if err := tarTree(root, path.Join(rel, n), path.Join(name, n), tw); err != nil {
				return err
			}
		}
		return nil
	case fi.Mode()&fs.ModeSymlink != 0:
		return tw.WriteHeader(h)
	}
	return nil // devices, fifos, sockets: left out
}

// untarInto extracts tr into dir.
func untarInto(root *os.Root, dir string, tr *tar.Reader, keepOwners bool) error {
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		name := path.Clean("/" + h.Name)
		if name == "/" {
			continue
		}
		rel := path.Join(dir, strings.TrimPrefix(name, "/"))
		mode := os.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(rel, 0o755); err != nil {
				return err
			}
			root.Chmod(rel, mode)
		case tar.TypeReg:
			root.MkdirAll(path.Dir(rel), 0o755)
			if fi, err := root.Lstat(rel); err == nil && !fi.Mode().IsRegular() {
				if err := root.RemoveAll(rel); err != nil {
					return err
				}
			}
			f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			root.Chmod(rel, mode)
		case tar.TypeSymlink:
			root.MkdirAll(path.Dir(rel), 0o755)
			root.Remove(rel)
			if err := root.Symlink(h.Linkname, rel); err != nil {
				return err
			}
		default:
			continue // hard links, devices: not copied
		}
		uid, gid := 0, 0
		if keepOwners {
			uid, gid = h.Uid, h.Gid
		}
		root.Lchown(rel, uid, gid)
		if h.Typeflag != tar.TypeSymlink {
			root.Chtimes(rel, h.ModTime, h.ModTime)
		}
	}
}
