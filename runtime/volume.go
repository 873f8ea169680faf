package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Volume sources are host paths the user names, but the directories on
// the way may be writable by a sandbox (a directory that another run
// mounted). A sandbox could plant a symlink there (link -> the user's
// home) and so choose what a later -v DIR/link:/data binds, or swap a
// directory for a link between the moment the path is checked and the
// moment it is mounted. So:
//
//   - the CLI resolves each source once (ResolveVolumeSource): symbolic
//     links are followed only when root owns them (system links such as
//     /var/run -> /run, /home -> /var/home), which no rootless sandbox can
//     have made; any other link is refused, naming its target;
//   - the resolved path has no link left, so the init opens it refusing
//     every link (openNoFollow), checks that it is the same file the CLI
//     resolved (device and inode), and clones it as a detached mount tree
//     (open_tree) before the container's own root is mounted. The tree is
//     attached onto its target later: nothing of the sandbox's own mounts
//     (its root, its proc and sys) is ever inside a volume, even one that
//     holds the store.

// ErrVolumeSymlink is a volume source through a symbolic link that
// sandbox does not follow.
var ErrVolumeSymlink = errors.New("volume source passes through a symbolic link")

// maxLinks bounds link resolution, as the kernel's ELOOP does.
const maxLinks = 40

// ResolveVolumeSource returns path (absolute) with every symbolic link
// resolved, following only links that root owns, and the identity of what
// it names.
func ResolveVolumeSource(path string) (resolved string, dev, ino uint64, err error) {
	if !filepath.IsAbs(path) {
		return "", 0, 0, fmt.Errorf("volume source %q: not an absolute path", path)
	}
	f, resolved, err := walk(path, true)
	if err != nil {
		return "", 0, 0, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return "", 0, 0, fmt.Errorf("volume source %q: %w", path, err)
	}
	return resolved, st.Dev, st.Ino, nil
}

// openNoFollow opens path (O_PATH) refusing any symbolic link on the way.
func openNoFollow(path string) (*os.File, error) {
	f, _, err := walk(path, false)
	return f, err
}

// walk opens path one component at a time with O_PATH|O_NOFOLLOW, so a
// link is seen before it is followed: with followRootLinks, links owned by
// root are followed (their target resolved the same way), others refused.
// It returns the open file and the path it resolved to.
func walk(path string, followRootLinks bool) (*os.File, string, error) {
	cur, err := os.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, "", err
	}
	curPath := "/"
	rest := strings.Split(strings.Trim(filepath.Clean(path), "/"), "/")
	links := 0
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			// Physical, as the kernel resolves it: the parent of what we
			// hold, not of the path we were given.
			next, err := openat(cur, "..")
			cur.Close()
			if err != nil {
				return nil, "", fmt.Errorf("volume source %q: %w", path, err)
			}
			cur, curPath = next, filepath.Dir(curPath)
			continue
		}
		next, err := openat(cur, name)
		if err != nil {
			cur.Close()
			if p := filepath.Join(curPath, name); p != path {
				return nil, "", fmt.Errorf("volume source %q: %s: %w", path, p, err)
			}
			return nil, "", fmt.Errorf("volume source %q: %w", path, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(next.Fd()), &st); err != nil {
			next.Close()
			cur.Close()
			return nil, "", fmt.Errorf("volume source %q: %w", path, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			cur.Close()
			cur, curPath = next, filepath.Join(curPath, name)
			continue
		}
		target, err := readlinkat(cur, name)
		next.Close()
		linkPath := filepath.Join(curPath, name)
		if err != nil {
			cur.Close()
			return nil, "", fmt.Errorf("volume source %q: reading the link %q: %w", path, linkPath, err)
		}
		if !followRootLinks || st.Uid != 0 {
			cur.Close()
			return nil, "", fmt.Errorf("%w: %q is a link to %q owned by uid %d, which a sandbox may have made; name what you mean directly (-v %s:…)",
				ErrVolumeSymlink, linkPath, target, st.Uid, suggest(linkPath, target, rest))
		}
		if links++; links > maxLinks {
			cur.Close()
			return nil, "", fmt.Errorf("volume source %q: too many levels of symbolic links", path)
		}
		rest = append(strings.Split(target, "/"), rest...)
		if filepath.IsAbs(target) {
			cur.Close()
			if cur, err = os.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY, 0); err != nil {
				return nil, "", err
			}
			curPath = "/"
		}
	}
	return cur, curPath, nil
}

// suggest is the path a refused link points at, for the message.
func suggest(linkPath, target string, rest []string) string {
	p := target
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(linkPath), target)
	}
	return filepath.Join(append([]string{p}, rest...)...)
}

func openat(dir *os.File, name string) (*os.File, error) {
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

func readlinkat(dir *os.File, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(int(dir.Fd()), name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// detachedVolume is a volume source cloned as a mount tree of its own,
// not attached anywhere yet.
type detachedVolume struct {
	tree *os.File
	dir  bool
}

// cloneVolume opens m.Source refusing links, checks it is what the CLI
// resolved, and clones it (with its submounts) as a detached tree.
func cloneVolume(m Mount) (detachedVolume, error) {
	f, err := openNoFollow(m.Source)
	if err != nil {
		if errors.Is(err, ErrVolumeSymlink) {
			return detachedVolume{}, fmt.Errorf("volume source %q changed since sandbox resolved it (a symbolic link appeared on its path): refusing it", m.Source)
		}
		return detachedVolume{}, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return detachedVolume{}, fmt.Errorf("volume source %q: %w", m.Source, err)
	}
	if m.Dev != 0 && (st.Dev != m.Dev || st.Ino != m.Ino) {
		return detachedVolume{}, fmt.Errorf("volume source %q was replaced since sandbox resolved it: refusing it", m.Source)
	}
	fd, err := unix.OpenTree(int(f.Fd()), "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH|unix.AT_RECURSIVE)
	if err != nil {
		return detachedVolume{}, fmt.Errorf("cloning volume source %q (open_tree, Linux 5.2 or later): %w", m.Source, err)
	}
	tree := os.NewFile(uintptr(fd), m.Source)
	if m.ReadOnly {
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
			tree.Close()
			return detachedVolume{}, fmt.Errorf("making volume %q read-only (mount_setattr, Linux 5.12 or later): %w", m.Source, err)
		}
	}
	return detachedVolume{tree: tree, dir: st.Mode&unix.S_IFMT == unix.S_IFDIR}, nil
}
