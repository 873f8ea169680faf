package container

import (
	"os"

	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/userns"
)

// KeepID is --userns=keep-id: the user's own uid and gid are theirs inside
// (userns.Mapping.KeepID), and the container runs as them unless -u says
// otherwise. Image files were laid out for the store's map, under which
// the user is the container's root; under keep-id's they would look owned
// by the user, so the init makes the root a copy of the layers with their
// owners shifted back (fuseoverlay.Layout.Shift): once per container, on
// its first start, which for a large image costs seconds.
const KeepID = "keep-id"

// mappingFor is the id mapping a container runs with.
func mappingFor(s *image.Store, cfg Config) (userns.Mapping, error) {
	if cfg.UserNS != KeepID {
		return s.Mapping, nil
	}
	return s.Mapping.KeepID(uint32(os.Getuid()), uint32(os.Getgid()))
}
