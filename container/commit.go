package container

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/image/layer"
	"github.com/sandbox-dev/sandbox/runtime"
)

// mountPoints are what sandbox itself may create in a container's writable
// layer as mount targets; commit leaves them out while they are empty, as
// docker does, so that an image never carries an empty /etc/hosts.
var mountPoints = []string{"proc", "sys", "dev", "etc/hosts", "etc/resolv.conf", "etc/hostname", runtime.AptConfigPath}

// Commit makes a new image of the container ref: its image plus the
// container's writable layer as one more layer (deletions as whiteouts).
// A vfs container's writable layer is a whole copy of its root, so its
// image gets that one layer alone.
func Commit(s *image.Store, ref string, o image.CommitOptions) (*image.Image, error) {
	c, err := Find(s, ref)
	if err != nil {
		return nil, err
	}
	base, err := s.Resolve(c.ImageID)
	if err != nil {
		return nil, fmt.Errorf("the image of container %s: %w", c.Name, err)
	}
	if c.Config.UserNS == KeepID {
		return nil, fmt.Errorf("container %s runs with --userns=keep-id, whose files are a copy with shifted owners: it cannot be committed (commit a container without keep-id)", c.Name)
	}
	if base.Host {
		return nil, fmt.Errorf("container %s runs the host image, whose files are this machine's own: it cannot be committed", c.Name)
	}
	if o.CreatedBy == "" {
		o.CreatedBy = "sandbox commit " + c.Name
	}
	pr, squash := Layer(s, c, nil)
	o.Squash = squash
	defer pr.Close()
	img, err := s.Commit(base, pr, o)
	if err != nil {
		return nil, fmt.Errorf("committing container %s: %w", c.Name, err)
	}
	return img, nil
}

// Layer streams c's writable layer as a layer tar (OCI whiteouts, owners
// as the container sees them, sandbox's own empty mount points left out),
// packed inside the user namespace: it may hold files of subordinate ids
// the user cannot read. whole is set for a vfs container, whose writable
// layer is a copy of its whole root. mtime, when set, is every entry's
// modification time (a reproducible build).
func Layer(s *image.Store, c *Container, mtime *time.Time) (r io.ReadCloser, whole bool) {
	dir := Dir(s, c.ID)
	_, err := os.Stat(filepath.Join(dir, "work", "vfs-complete"))
	whole = err == nil
	skip := append([]string{}, mountPoints...)
	for _, v := range c.Config.Volumes {
		skip = append(skip, strings.TrimPrefix(filepath.Clean(v.Target), "/"))
	}
	var args []string
	if mtime != nil {
		args = append(args, layer.MtimeArg+strconv.FormatInt(mtime.Unix(), 10))
	}
	args = append(append(args, filepath.Join(dir, "upper")), skip...)
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(runtime.RunTaskIO(s.Mapping, s.RunDir, layer.PackTask, args, nil, pw))
	}()
	return pr, whole
}
