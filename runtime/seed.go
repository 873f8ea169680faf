package runtime

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// A named volume that is empty when a container mounts it gets what the
// image has at the mount point first, as Docker does: owners, modes and
// times kept. The init copies it, as the container's root in the
// container's user namespace, from its freshly mounted root into the
// volume's detached tree, before attaching the tree over it.

// seedVolume copies root's rel into the volume v if v is an empty
// directory and rel a directory with something in it.
func seedVolume(root *os.Root, rel string, v detachedVolume) error {
	if !v.dir {
		return nil
	}
	dst, err := os.OpenRoot(fdPath(v.tree))
	if err != nil {
		return err
	}
	defer dst.Close()
	if ents, err := readDirNames(dst); err != nil || len(ents) > 0 {
		return err
	}
	src, err := root.OpenRoot(rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil // nothing there to seed with
		}
		return err
	}
	defer src.Close()
	if fi, err := src.Stat("."); err == nil {
		copyAttrs(dst, ".", fi)
	}
	return fs.WalkDir(src.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		fi, err := src.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			if err := dst.Mkdir(p, 0o700); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := src.Readlink(p)
			if err != nil {
				return err
			}
			if err := dst.Symlink(target, p); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			if err := copyFileIn(src, dst, p); err != nil {
				return err
			}
		default:
			return nil // devices, fifos, sockets: not a volume's content
		}
		copyAttrs(dst, p, fi)
		return nil
	})
}

func readDirNames(r *os.Root) ([]string, error) {
	f, err := r.Open(".")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err == io.EOF {
		err = nil // empty
	}
	return names, err
}

func copyFileIn(src, dst *os.Root, p string) error {
	in, err := src.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := dst.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// copyAttrs gives p in dst fi's owner, mode and times. An owner outside the
// user namespace's map (single-id mode) stays the container's root's.
func copyAttrs(dst *os.Root, p string, fi fs.FileInfo) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok {
		dst.Lchown(p, int(st.Uid), int(st.Gid))
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return
	}
	dst.Chmod(p, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
	dst.Chtimes(p, fi.ModTime(), fi.ModTime())
}

// seedError names the volume and the path.
func seedError(v Mount, err error) error {
	return fmt.Errorf("seeding volume %s with the image's %s: %w", v.Volume, filepath.Clean(v.Target), err)
}
