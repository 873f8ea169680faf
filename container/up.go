package container

import (
	"errors"
	"fmt"
	"time"

	"github.com/sandbox-dev/sandbox/image"
)

// UpResult says what Up did.
type UpResult struct {
	Container *Container
	// UpToDate: the file's container runs unchanged, nothing was done.
	UpToDate bool
}

// Up runs the launch in cfg (cfg.LaunchFile set, absolute) in the
// background under its name, as compose does: an unchanged running
// container is left alone, an unchanged stopped one started again on its
// own writable layer, a changed one stopped, removed and replaced. A
// container of that name that the same file did not start is never
// touched (ErrNameInUse); file is the path as the user gave it, for
// messages.
func Up(s *image.Store, cfg Config, file string, stdio IO) (UpResult, error) {
	old, err := FindName(s, cfg.Name)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return UpResult{}, err
	case old.Config.LaunchFile != cfg.LaunchFile:
		return UpResult{}, fmt.Errorf("%w: %q is container %s, which `sandbox up %s` did not start; remove it (sandbox rm %s) or set another name in the file",
			ErrNameInUse, old.Name, old.ID[:12], file, old.Name)
	default:
		same, running := SameLaunch(s, old, cfg)
		switch {
		case same && running:
			return UpResult{Container: old, UpToDate: true}, nil
		case same:
			_, _, err := Start(s, old.ID, false, stdio)
			return UpResult{Container: old}, err
		}
		// The file changed: the old container makes way.
		if _, err := Stop(s, old.ID, -1); err != nil {
			return UpResult{}, err
		}
		if _, err := RemoveRef(s, old.ID, false, true); err != nil {
			return UpResult{}, fmt.Errorf("replacing container %s: %w", old.Name, err)
		}
	}
	c, _, err := Run(s, cfg, stdio)
	return UpResult{Container: c}, err
}

// Down stops and removes the container named name that `up` of the launch
// file launchFile (absolute) started; any other is left alone.
func Down(s *image.Store, name, launchFile, file string, timeout time.Duration) (*Container, error) {
	c, err := FindName(s, name)
	if err != nil {
		return nil, err
	}
	if c.Config.LaunchFile != launchFile {
		return nil, fmt.Errorf("container %s was not started by `sandbox up %s`: left alone (remove it with sandbox rm)", name, file)
	}
	if _, err := Stop(s, c.ID, timeout); err != nil {
		return nil, err
	}
	if _, err := RemoveRef(s, c.ID, false, true); err != nil {
		return nil, err
	}
	return c, nil
}
