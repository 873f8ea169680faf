package fuseoverlay

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/userns"
)

// vfsMarker, in the work directory, says the copy in the upper directory is
// complete. Without it a copy interrupted by a kill is started again.
const vfsMarker = "vfs-complete"

// mountCopy is the vfs driver: the layers are copied, bottom first and with
// whiteouts applied, into upper, which then becomes the root. The copy is
// made once per container; a restarted container finds it complete.
func mountCopy(layers []string, upper, work, target string) error {
	return copyShifted(layers, upper, work, target, nil)
}

// copyShifted is mountCopy with each copy's owner shifted (nil: kept).
func copyShifted(layers []string, upper, work, target string, shift *userns.Shift) error {
	marker := filepath.Join(work, vfsMarker)
	if _, err := os.Lstat(marker); err != nil {
		if err := os.RemoveAll(upper); err != nil {
			return fmt.Errorf("clearing an unfinished copy in %q: %w", upper, err)
		}
		if err := os.MkdirAll(upper, 0o755); err != nil {
			return err
		}
		for _, l := range layers {
			if err := copyLayer(l, upper, shift); err != nil {
				return err
			}
		}
		if shift != nil && len(layers) > 0 {
			// The root's own owner, as the first layer has it.
			var st unix.Stat_t
			if err := unix.Lstat(layers[0], &st); err == nil {
				uid, gid := shift.Owner(st.Uid, st.Gid)
				os.Lchown(upper, int(uid), int(gid))
			}
		}
		if err := os.WriteFile(marker, nil, 0o644); err != nil {
			return fmt.Errorf("marking the copy in %q complete: %w", upper, err)
		}
	}
	return bindSelf(upper, target)
}

// CopyLayer applies one layer directory in overlay form onto the tree at
// dst: whiteouts delete, opaque directories hide what lower layers put there,
// everything else is copied with its mode and owner. All writes go through
// an os.Root, so a symlink in dst can never redirect them outside it.
func CopyLayer(layer, dst string) error { return copyLayer(layer, dst, nil) }

func copyLayer(layer, dst string, shift *userns.Shift) error {
	root, err := os.OpenRoot(dst)
	if err != nil {
		return fmt.Errorf("opening %q: %w", dst, err)
	}
	defer root.Close()
	links := map[[2]uint64]string{} // (dev, ino) → first path, for hard links
	return filepath.WalkDir(layer, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading layer %q: %w", layer, err)
		}
		rel, _ := filepath.Rel(layer, path)
		if rel == "." {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return fmt.Errorf("reading %q: %w", path, err)
		}
		if shift != nil {
			st.Uid, st.Gid = shift.Owner(st.Uid, st.Gid)
		}
		if err := copyEntry(root, path, rel, &st, links); err != nil {
			return fmt.Errorf("copying %q from layer %q: %w", rel, layer, err)
		}
		return nil
	})
}

func copyEntry(root *os.Root, src, rel string, st *unix.Stat_t, links map[[2]uint64]string) error {
	mode := st.Mode & unix.S_IFMT
	existing, lerr := root.Lstat(rel)
	exists := lerr == nil
	if mode == unix.S_IFCHR && st.Rdev == 0 { // whiteout
		if exists {
			return root.RemoveAll(rel)
		}
		return nil
	}
	if mode == unix.S_IFDIR {
		opaque := isOpaque(src)
		if exists && (!existing.IsDir() || opaque) {
			if err := root.RemoveAll(rel); err != nil {
				return err
			}
			exists = false
		}
		if !exists {
			if err := root.Mkdir(rel, 0o700); err != nil {
				return err
			}
		}
		return setMeta(root, rel, st)
	}
	if exists {
		if err := root.RemoveAll(rel); err != nil {
			return err
		}
	}
	key := [2]uint64{st.Dev, st.Ino}
	if st.Nlink > 1 && mode != unix.S_IFDIR {
		if first, ok := links[key]; ok {
			return root.Link(first, rel)
		}
		links[key] = rel
	}
	switch mode {
	case unix.S_IFREG:
		if err := copyFile(root, src, rel); err != nil {
			return err
		}
	case unix.S_IFLNK:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return lchown(root.Symlink(target, rel), root, rel, st)
	case unix.S_IFIFO:
		if err := mknodIn(root, rel, unix.S_IFIFO|0o600, 0); err != nil {
			return err
		}
	default:
		// Devices cannot be created rootless, and layers never hold them.
		return nil
	}
	return setMeta(root, rel, st)
}

func copyFile(root *os.Root, src, rel string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	// A reflink shares the blocks on filesystems that can (btrfs, xfs);
	// elsewhere io.Copy uses copy_file_range.
	if unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) != nil {
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
	}
	return out.Close()
}

func setMeta(root *os.Root, rel string, st *unix.Stat_t) error {
	if err := root.Lchown(rel, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	// Chmod after chown: chown clears the setuid and setgid bits.
	if err := root.Chmod(rel, fs.FileMode(st.Mode&0o777)|modeBits(st.Mode)); err != nil {
		return err
	}
	return nil
}

func lchown(err error, root *os.Root, rel string, st *unix.Stat_t) error {
	if err != nil {
		return err
	}
	return root.Lchown(rel, int(st.Uid), int(st.Gid))
}

func modeBits(m uint32) fs.FileMode {
	var fm fs.FileMode
	if m&unix.S_ISUID != 0 {
		fm |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		fm |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}

func isOpaque(dir string) bool {
	buf := make([]byte, 1)
	n, err := unix.Lgetxattr(dir, "user.overlay.opaque", buf)
	return err == nil && n == 1 && buf[0] == 'y'
}

// mknodIn creates a node through its parent directory's descriptor, so the
// name is confined like every other write to the root.
func mknodIn(root *os.Root, rel string, mode uint32, dev int) error {
	parent, err := root.Open(filepath.Dir(rel))
	if err != nil {
		return err
	}
	defer parent.Close()
	if err := unix.Mknodat(int(parent.Fd()), filepath.Base(rel), mode, dev); err != nil {
		return &fs.PathError{Op: "mknod", Path: rel, Err: err}
	}
	return nil
}
