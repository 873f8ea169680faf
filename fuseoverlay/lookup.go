package fuseoverlay

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrLinked is Lookup's answer for a path it does not follow: a symlink
// on the way, or what is not a regular file at the end.
var ErrLinked = errors.New("the path is a link or not a regular file in some layer")

// Lookup finds the file rel (relative, no symlink followed) as an overlay
// of Upper over Layers would show it, before it is mounted: the topmost
// layer that has it, with whiteouts and opaque directories applied. It
// returns the file's path in that layer; fs.ErrNotExist if the overlay
// would not show it; ErrLinked where a symlink or a non-regular file is
// on the way (the caller then looks in the mounted root instead).
func (l Layout) Lookup(rel string) (string, error) {
	parts := strings.Split(filepath.Clean(rel), "/")
	dirs := append([]string{l.Upper}, reversed(l.Layers)...)
	for _, top := range dirs {
		if top == "" {
			continue
		}
		p, opaque := top, false
		for j, part := range parts {
			p = filepath.Join(p, part)
			var st unix.Stat_t
			err := unix.Lstat(p, &st)
			if errors.Is(err, unix.ENOENT) {
				break
			}
			if err != nil {
				return "", fmt.Errorf("looking up %q: %w", p, err)
			}
			switch mode := st.Mode & unix.S_IFMT; {
			case mode == unix.S_IFCHR && st.Rdev == 0:
				return "", fs.ErrNotExist // a whiteout hides what is below
			case j == len(parts)-1 && mode == unix.S_IFREG:
				return p, nil
			case j == len(parts)-1 || mode != unix.S_IFDIR:
				return "", ErrLinked
			}
			opaque = opaque || isOpaque(p)
		}
		if opaque {
			return "", fs.ErrNotExist // lower layers are hidden here
		}
	}
	return "", fs.ErrNotExist
}

func reversed(s []string) []string {
	r := make([]string, len(s))
	for i, v := range s {
		r[len(s)-1-i] = v
	}
	return r
}
