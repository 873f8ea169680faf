package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/containerfile"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/transfer"
	"github.com/sandbox-dev/sandbox/userns"
)

// readIgnore reads .containerignore, else .dockerignore, of the context.
func readIgnore(ctx string) (*patternmatcher.PatternMatcher, error) {
	for _, name := range []string{".containerignore", ".dockerignore"} {
		f, err := os.Open(filepath.Join(ctx, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		defer f.Close()
		patterns, err := ignorefile.ReadAll(f)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
		}
		pm, err := patternmatcher.New(patterns)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		return pm, nil
	}
	return nil, nil
}

// source is where COPY reads: the context, or an image's merged layers.
// Paths are slash-separated and relative to its root.
type source interface {
	lstat(rel string) (fs.FileInfo, error)
	readDir(rel string) ([]string, error) // names, sorted
	open(rel string) (io.ReadCloser, error)
	readlink(rel string) (string, error)
	// owner is the file's owner as the image sees it (the context: 0, 0).
	owner(fi fs.FileInfo) (int, int)
}

// contextSource is the build context, with the ignore file applied. Every
// access goes through an os.Root: a symbolic link in the context that
// leads out of it (or is absolute) is refused, never followed to the
// user's other files.
type contextSource struct {
	root   *os.Root
	ignore *patternmatcher.PatternMatcher
}

func openContext(dir string, ignore *patternmatcher.PatternMatcher) (*contextSource, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening the build context: %w", err)
	}
	return &contextSource{root: r, ignore: ignore}, nil
}

func (c *contextSource) ignored(rel string) bool {
	if c.ignore == nil || rel == "." || rel == "" {
		return false
	}
	m, _ := c.ignore.MatchesOrParentMatches(rel)
	return m
}

func (c *contextSource) lstat(rel string) (fs.FileInfo, error) {
	if c.ignored(rel) {
		return nil, fmt.Errorf("%s: excluded by the context's ignore file", rel)
	}
	return c.root.Lstat(rel)
}

func (c *contextSource) readDir(rel string) ([]string, error) {
	names, err := readDirNames(c.root, rel)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(names, func(n string) bool { return c.ignored(path.Join(rel, n)) }), nil
}

func (c *contextSource) open(rel string) (io.ReadCloser, error) { return c.root.Open(rel) }
func (c *contextSource) readlink(rel string) (string, error)    { return c.root.Readlink(rel) }
func (c *contextSource) owner(fs.FileInfo) (int, int)           { return 0, 0 }

// readDirNames lists a directory of r, sorted.
func readDirNames(r *os.Root, rel string) ([]string, error) {
	f, err := r.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	sort.Strings(names)
	return names, err
}

// layered is an image's files as its containers see them: its layer
// directories, the top one first, with overlay whiteouts hiding what is
// below them. Each layer is read through an os.Root, so a symbolic link in
// an image never leads to the host's files: paths are resolved in the
// image (resolve) and then opened inside one layer.
type layered struct {
	roots []*os.Root
	m     userns.Mapping
}

func newLayered(img *image.Image, m userns.Mapping) (*layered, error) {
	l := &layered{m: m}
	if img != nil {
		for i := len(img.Layers) - 1; i >= 0; i-- {
			r, err := os.OpenRoot(img.Layers[i])
			if err != nil {
				l.close()
				return nil, fmt.Errorf("opening a layer of the image: %w", err)
			}
			l.roots = append(l.roots, r)
		}
	}
	return l, nil
}

func (l *layered) close() {
	for _, r := range l.roots {
		r.Close()
	}
}

func isWhiteout(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}

// find is the layer that holds rel, and its info.
func (l *layered) find(rel string) (*os.Root, fs.FileInfo, error) {
	for _, r := range l.roots {
		fi, err := r.Lstat(rel)
		if err == nil {
			if isWhiteout(fi) {
				break
			}
			return r, fi, nil
		}
	}
	return nil, nil, &fs.PathError{Op: "lstat", Path: "/" + rel, Err: fs.ErrNotExist}
}

func (l *layered) lstat(rel string) (fs.FileInfo, error) {
	_, fi, err := l.find(rel)
	return fi, err
}

func (l *layered) readDir(rel string) ([]string, error) {
	seen := map[string]bool{}
	hidden := map[string]bool{}
	for _, r := range l.roots {
		names, err := readDirNames(r, rel)
		if err != nil {
			continue
		}
		for _, n := range names {
			if hidden[n] || seen[n] {
				continue
			}
			if fi, err := r.Lstat(path.Join(rel, n)); err == nil && isWhiteout(fi) {
				hidden[n] = true
				continue
			}
			seen[n] = true
		}
		if opaque(r, rel) {
			break
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// opaque reports whether a layer's directory hides the layers below it.
func opaque(r *os.Root, rel string) bool {
	f, err := r.Open(rel)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 1)
	for _, attr := range []string{"user.overlay.opaque", "trusted.overlay.opaque"} {
		if n, err := unix.Fgetxattr(int(f.Fd()), attr, buf); err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

func (l *layered) open(rel string) (io.ReadCloser, error) {
	r, _, err := l.find(rel)
	if err != nil {
		return nil, err
	}
	f, err := r.Open(rel)
	if errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("%w (a file of another id in the image, which COPY --from cannot read outside the user namespace yet)", err)
	}
	return f, err
}

func (l *layered) readlink(rel string) (string, error) {
	r, _, err := l.find(rel)
	if err != nil {
		return "", err
	}
	return r.Readlink(rel)
}

func (l *layered) owner(fi fs.FileInfo) (int, int) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	return l.m.ToContainer(int(st.Uid), int(st.Gid))
}

// resolve follows the symlinks of the image in p's directories (as the
// kernel would in a container), so that COPY into /bin of an image whose
// /bin is a link to usr/bin writes usr/bin.
func (l *layered) resolve(p string) string {
	parts := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	cur := ""
	for hops := 0; len(parts) > 0 && hops < 40; {
		if parts[0] == "" {
			parts = parts[1:]
			continue
		}
		next := path.Join(cur, parts[0])
		fi, err := l.lstat(next)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 || len(parts) == 1 {
			cur, parts = next, parts[1:]
			continue
		}
		target, err := l.readlink(next)
		if err != nil {
			cur, parts = next, parts[1:]
			continue
		}
		hops++
		if path.IsAbs(target) {
			cur = ""
		}
		parts = append(strings.Split(strings.Trim(path.Clean(target), "/"), "/"), parts[1:]...)
	}
	return cur
}

// copier writes one COPY or ADD step's layer.
type copier struct {
	tw      *tar.Writer
	lower   *layered // the image the layer goes on
	written map[string]bool
	mtime   *time.Time // --timestamp
	dirTime time.Time  // for directories the step creates
	uid     *int       // --chown
	gid     *int
	chmod   *fs.FileMode // --chmod
	// runDir is where the transfer program that decodes zstd is
	// installed (image.Decompress).
	runDir string
}

func (c *copier) time(t time.Time) time.Time {
	if c.mtime != nil {
		return *c.mtime
	}
	return t
}

// ensureDir writes rel (resolved) as a directory with its parents: the
// image's own metadata where they exist, 0755 and the --chown owner where
// the step creates them.
func (c *copier) ensureDir(rel string) error {
	if rel == "" || rel == "." {
		return nil
	}
	if err := c.ensureDir(path.Dir(rel)); err != nil {
		return err
	}
	if c.written[rel] {
		return nil
	}
	c.written[rel] = true
	hdr := &tar.Header{Typeflag: tar.TypeDir, Name: rel + "/", Mode: 0o755, ModTime: c.time(c.dirTime)}
	if fi, err := c.lower.lstat(rel); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("/%s exists in the image and is not a directory", rel)
		}
		hdr.Mode = int64(fi.Mode().Perm() | modeBits(fi.Mode()))
		hdr.Uid, hdr.Gid = c.lower.owner(fi)
		hdr.ModTime = fi.ModTime()
	} else {
		if c.uid != nil {
			hdr.Uid, hdr.Gid = *c.uid, *c.gid
		}
	}
	return c.tw.WriteHeader(hdr)
}

// modeBits are the setuid, setgid and sticky bits of m, as tar writes them.
func modeBits(m fs.FileMode) fs.FileMode {
	var out fs.FileMode
	if m&fs.ModeSetuid != 0 {
		out |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		out |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		out |= 0o1000
	}
	return out
}

// add copies rel of src to dst (an image path, resolved), recursively.
func (c *copier) add(src source, rel string, dst string) error {
	fi, err := src.lstat(rel)
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: dst, Mode: int64(fi.Mode().Perm() | modeBits(fi.Mode())), ModTime: c.time(fi.ModTime())}
	hdr.Uid, hdr.Gid = src.owner(fi)
	if c.uid != nil {
		hdr.Uid, hdr.Gid = *c.uid, *c.gid
	}
	if c.chmod != nil {
		hdr.Mode = int64(*c.chmod)
	}
	switch {
	case fi.IsDir():
		hdr.Typeflag, hdr.Name = tar.TypeDir, dst+"/"
		if !c.written[dst] {
			c.written[dst] = true
			if err := c.tw.WriteHeader(hdr); err != nil {
				return err
			}
		}
		names, err := src.readDir(rel)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := c.add(src, path.Join(rel, n), path.Join(dst, n)); err != nil {
				return err
			}
		}
		return nil
	case fi.Mode()&fs.ModeSymlink != 0:
		hdr.Typeflag = tar.TypeSymlink
		if hdr.Linkname, err = src.readlink(rel); err != nil {
			return err
		}
		return c.tw.WriteHeader(hdr)
	case fi.Mode().IsRegular():
		hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		f, err := src.open(rel)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := c.tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.CopyN(c.tw, f, fi.Size()); err != nil {
			return fmt.Errorf("copying %s: %w", rel, err)
		}
		return nil
	}
	return nil // devices, sockets and fifos are not copied
}

// copy runs a COPY or ADD step.
func (b *builder) copy(st *state, cmd containerfile.Instruction, from string, add bool) error {
	chown, chmod := cmd.Chown, cmd.Chmod
	dir, release, err := b.s.TempDir()
	if err != nil {
		return err
	}
	defer release()
	f, err := os.Create(filepath.Join(dir, "layer.tar"))
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	lower, err := newLayered(st.img, b.s.Mapping)
	if err != nil {
		return err
	}
	defer lower.close()
	c := &copier{tw: tar.NewWriter(io.MultiWriter(f, h)), lower: lower, written: map[string]bool{}, mtime: b.o.Timestamp, runDir: b.s.RunDir}
	if chown != "" {
		uid, gid, err := resolveOwner(c.lower, chown)
		if err != nil {
			return err
		}
		c.uid, c.gid = &uid, &gid
	}
	if chmod != "" {
		m, err := strconv.ParseUint(chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("--chmod=%s: want an octal mode, like 755", chmod)
		}
		mode := fs.FileMode(m)
		c.chmod = &mode
	}
	var src source
	if from != "" {
		img, err := b.fromSource(from)
		if err != nil {
			return err
		}
		l, err := newLayered(img, b.s.Mapping)
		if err != nil {
			return err
		}
		defer l.close()
		src = l
	} else {
		cs, err := openContext(b.o.Context, b.ignore)
		if err != nil {
			return err
		}
		defer cs.root.Close()
		src = cs
	}
	dest := cmd.Dest
	if !path.IsAbs(dest) {
		wd := st.cfg.Config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		dest = path.Join(wd, dest)
	}
	// A destination ending in "/" or "." is a directory, as is one the
	// image has, or one that gets several sources.
	destDir := strings.HasSuffix(cmd.Dest, "/") || cmd.Dest == "." || strings.HasSuffix(cmd.Dest, "/.") ||
		len(cmd.Sources)+len(cmd.SourceContents) > 1
	resolved := c.lower.resolve(dest)
	if fi, err := c.lower.lstat(resolved); err == nil && fi.IsDir() {
		destDir = true
	}
	type match struct {
		rel string
		fi  fs.FileInfo
	}
	var matches []match
	var urls []string
	for _, p := range cmd.Sources {
		if add && (strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://")) {
			urls = append(urls, p)
			continue
		}
		rels, err := glob(src, p)
		if err != nil {
			return err
		}
		for _, r := range rels {
			fi, err := src.lstat(r)
			if err != nil {
				return err
			}
			if fi.ModTime().After(c.dirTime) {
				c.dirTime = fi.ModTime()
			}
			matches = append(matches, match{r, fi})
			if fi.IsDir() && len(rels) > 1 {
				destDir = true
			}
		}
	}
	if c.dirTime.IsZero() {
		// No file to take a time from (a heredoc, a URL): the
		// Containerfile's own, so that the same step makes the same layer.
		c.dirTime = b.fileTime
	}
	for _, m := range matches {
		switch {
		case m.fi.IsDir():
			if err := c.ensureDir(resolved); err != nil {
				return err
			}
			names, err := src.readDir(m.rel)
			if err != nil {
				return err
			}
			for _, n := range names {
				if err := c.add(src, path.Join(m.rel, n), path.Join(resolved, n)); err != nil {
					return err
				}
			}
		case add && from == "" && m.fi.Mode().IsRegular() && isArchive(src, m.rel, c.runDir):
			if err := c.ensureDir(resolved); err != nil {
				return err
			}
			if err := c.extract(src, m.rel, resolved); err != nil {
				return fmt.Errorf("ADD %s: %w", m.rel, err)
			}
		default:
			target := resolved
			if destDir {
				if err := c.ensureDir(resolved); err != nil {
					return err
				}
				target = path.Join(resolved, path.Base(m.rel))
			} else if err := c.ensureDir(path.Dir(resolved)); err != nil {
				return err
			}
			if err := c.add(src, m.rel, target); err != nil {
				return err
			}
		}
	}
	for _, sc := range cmd.SourceContents {
		target := resolved
		if destDir {
			target = path.Join(resolved, path.Base(sc.Name))
		}
		if err := c.ensureDir(path.Dir(target)); err != nil {
			return err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: target, Mode: 0o644, Size: int64(len(sc.Data)), ModTime: c.time(b.fileTime)}
		if c.uid != nil {
			hdr.Uid, hdr.Gid = *c.uid, *c.gid
		}
		if c.chmod != nil {
			hdr.Mode = int64(*c.chmod)
		}
		if err := c.tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.WriteString(c.tw, sc.Data); err != nil {
			return err
		}
	}
	for _, u := range urls {
		if b.o.Network == "none" {
			return fmt.Errorf("ADD %s: the build has no network (--net none)", u)
		}
		if err := c.download(u, resolved, destDir, b.fileTime, dir); err != nil {
			return fmt.Errorf("ADD %s: %w", u, err)
		}
	}
	if err := c.tw.Close(); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return b.commit(st, cmd, bufio.NewReaderSize(f, 256<<10), "sha256:"+hex.EncodeToString(h.Sum(nil)))
}

// fromSource is the image COPY --from reads: a stage built before, or an
// image (pulled when the store lacks it).
func (b *builder) fromSource(from string) (*image.Image, error) {
	if j := b.stageIndex(from); j >= 0 {
		r := b.results[j]
		if r == nil {
			return nil, fmt.Errorf("--from=%s: that stage comes later in the file", from)
		}
		return r.img, nil
	}
	img, err := b.s.Resolve(from)
	if errors.Is(err, image.ErrNotFound) {
		img, err = b.s.Pull(context.Background(), from, b.o.Pull)
	}
	if err != nil {
		return nil, fmt.Errorf("--from=%s: %w", from, err)
	}
	return img, nil
}

// glob expands a COPY source: a path, or a pattern of filepath.Match in
// its last part, relative to the source's root (never above it).
func glob(src source, p string) ([]string, error) {
	rel := strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(p)), "/")
	if l, ok := src.(*layered); ok && rel != "" {
		// An image's links are followed as its containers would see them.
		rel = l.resolve(rel)
	}
	if rel == "" {
		rel = "."
	}
	if !strings.ContainsAny(rel, "*?[") {
		if _, err := src.lstat(rel); err != nil {
			return nil, fmt.Errorf("COPY source %q: %w", p, err)
		}
		return []string{rel}, nil
	}
	dir, pattern := path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	if strings.ContainsAny(dir, "*?[") {
		return nil, fmt.Errorf("COPY source %q: a pattern only in the last part of the path is supported", p)
	}
	names, err := src.readDir(dir)
	if err != nil {
		return nil, fmt.Errorf("COPY source %q: %w", p, err)
	}
	var out []string
	for _, n := range names {
		ok, err := path.Match(pattern, n)
		if err != nil {
			return nil, fmt.Errorf("COPY source %q: %w", p, err)
		}
		if ok {
			out = append(out, path.Join(dir, n))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("COPY source %q: no file matches", p)
	}
	return out, nil
}

// resolveOwner turns --chown's USER[:GROUP] into ids: numbers as they
// are, names from the image's /etc/passwd and /etc/group.
func resolveOwner(l *layered, spec string) (int, int, error) {
	u, g, hasGroup := strings.Cut(spec, ":")
	uid, ugid, err := lookupID(l, "etc/passwd", u, true)
	if err != nil {
		return 0, 0, fmt.Errorf("--chown=%s: %w", spec, err)
	}
	gid := ugid
	if hasGroup {
		if gid, _, err = lookupID(l, "etc/group", g, false); err != nil {
			return 0, 0, fmt.Errorf("--chown=%s: %w", spec, err)
		}
	}
	return uid, gid, nil
}

// lookupID finds name in an /etc/passwd or /etc/group of the image; for a
// user it also returns the primary group.
func lookupID(l *layered, file, name string, user bool) (int, int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, n, nil
	}
	r, err := l.open(file)
	if err != nil {
		return 0, 0, fmt.Errorf("%q is not a number and the image has no /%s to look it up in", name, file)
	}
	defer r.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 3 || f[0] != name {
			continue
		}
		id, err := strconv.Atoi(f[2])
		if err != nil {
			break
		}
		primary := id
		if user && len(f) > 3 {
			if g, err := strconv.Atoi(f[3]); err == nil {
				primary = g
			}
		}
		return id, primary, nil
	}
	return 0, 0, fmt.Errorf("no %s %q in the image's /%s", map[bool]string{true: "user", false: "group"}[user], name, file)
}

// isArchive reports whether a file is a tar archive, plain or compressed
// (gzip, zstd), which ADD unpacks.
func isArchive(src source, rel, runDir string) bool {
	r, err := openArchive(src, rel, runDir)
	if err != nil {
		return false
	}
	defer r.Close()
	buf := make([]byte, 512)
	if _, err := io.ReadFull(r, buf); err != nil {
		return false
	}
	return bytes.Equal(buf[257:262], []byte("ustar"))
}

// openArchive opens a file of src decompressed (gzip, zstd or plain).
func openArchive(src source, rel, runDir string) (io.ReadCloser, error) {
	f, err := src.open(rel)
	if err != nil {
		return nil, err
	}
	r, err := image.Decompress(f, image.UnzstdWith(runDir))
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{r, closers{r, f}}, nil
}

// closers closes each in turn.
type closers []io.Closer

func (c closers) Close() error {
	var errs []error
	for _, x := range c {
		errs = append(errs, x.Close())
	}
	return errors.Join(errs...)
}

// extract writes an archive's entries under dst, owners and modes as the
// archive has them.
func (c *copier) extract(src source, rel, dst string) error {
	r, err := openArchive(src, rel, c.runDir)
	if err != nil {
		return err
	}
	defer r.Close()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		if name == "" {
			continue
		}
		out := *hdr
		out.Name = path.Join(dst, name)
		if hdr.Typeflag == tar.TypeDir {
			out.Name += "/"
			c.written[path.Join(dst, name)] = true
		} else if err := c.ensureDir(path.Dir(out.Name)); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeLink {
			out.Linkname = path.Join(dst, strings.TrimPrefix(path.Clean("/"+hdr.Linkname), "/"))
		}
		out.ModTime = c.time(hdr.ModTime)
		out.Format = tar.FormatPAX
		if err := c.tw.WriteHeader(&out); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := io.Copy(c.tw, tr); err != nil {
				return err
			}
		}
	}
}

// download fetches a URL for ADD into dst (or dst/NAME when dst is a
// directory): mode 0600, its mtime the server's Last-Modified.
func (c *copier) download(u, dst string, dstDir bool, now time.Time, scratch string) error {
	pu, err := url.Parse(u)
	if err != nil {
		return err
	}
	// The transfer program downloads (package transfer), as it pulls:
	// one HTTP client, with the user's proxies and certificates.
	sess, err := transfer.Start(context.Background(), c.runDir, nil)
	if err != nil {
		return err
	}
	defer sess.Close()
	body, err := sess.Fetch(u)
	if err != nil {
		return err
	}
	defer body.Close()
	// To a file first: a tar entry's size comes before its bytes, and a
	// download may not fit in memory.
	tmp, err := os.CreateTemp(scratch, "download-")
	if err != nil {
		return err
	}
	defer tmp.Close()
	size, err := io.Copy(tmp, body)
	if err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	target := dst
	if dstDir {
		name := path.Base(pu.Path)
		if name == "/" || name == "." {
			return errors.New("the URL names no file: give a destination file name")
		}
		target = path.Join(dst, name)
	}
	if err := c.ensureDir(path.Dir(target)); err != nil {
		return err
	}
	mtime := now
	if lm, ok := body.Modified(); ok {
		mtime = lm
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: target, Mode: 0o600, Size: size, ModTime: c.time(mtime)}
	if c.uid != nil {
		hdr.Uid, hdr.Gid = *c.uid, *c.gid
	}
	if c.chmod != nil {
		hdr.Mode = int64(*c.chmod)
	}
	if err := c.tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(c.tw, tmp)
	return err
}
