package container

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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
	if base.Host {
		return nil, fmt.Errorf("container %s runs the host image, whose files are this machine's own: it cannot be committed", c.Name)
	}
	dir := Dir(s, c.ID)
	_, err = os.Stat(filepath.Join(dir, "work", "vfs-complete"))
	o.Squash = err == nil
	if o.CreatedBy == "" {
		o.CreatedBy = "sandbox commit " + c.Name
	}
	skip := append([]string{}, mountPoints...)
	for _, v := range c.Config.Volumes {
		skip = append(skip, strings.TrimPrefix(filepath.Clean(v.Target), "/"))
	}
	// The writable layer may hold files of subordinate ids the user cannot
	// read: pack it inside the user namespace, streaming into the store.
	pr, pw := io.Pipe()
	go func() {
		args := append([]string{filepath.Join(dir, "upper")}, skip...)
		pw.CloseWithError(runtime.RunTaskIO(s.Mapping, layer.PackTask, args, nil, pw))
	}()
	defer pr.Close()
	img, err := s.Commit(base, pr, o)
	if err != nil {
		return nil, fmt.Errorf("committing container %s: %w", c.Name, err)
	}
	return img, nil
}
