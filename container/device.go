package container

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/cdi"
	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/runtime"
)

// devices checks the container's --device nodes and returns them for the
// spec: a node the user cannot open as asked is refused here, with its
// owner and mode, rather than found unusable inside.
func devices(values []string) ([]runtime.Device, error) {
	var out []runtime.Device
	for _, v := range values {
		if cdi.IsName(v) {
			continue // expandCDI resolves it when the container is made
		}
		d, err := config.ParseDevice(v)
		if err != nil {
			return nil, fmt.Errorf("--device %s: %w", v, err)
		}
		var st unix.Stat_t
		if err := unix.Stat(d.Source, &st); err != nil {
			return nil, fmt.Errorf("--device %s: %w", v, err)
		}
		if t := st.Mode & unix.S_IFMT; t != unix.S_IFCHR && t != unix.S_IFBLK {
			return nil, fmt.Errorf("--device %s: %s is not a device node", v, d.Source)
		}
		want, how := uint32(unix.R_OK), "read"
		if !d.ReadOnly {
			want, how = unix.R_OK|unix.W_OK, "read and write"
		} else if unix.Access(d.Source, unix.W_OK) == nil {
			// A bind mount's read-only flag does not stop writes to a
			// device (the kernel checks only its owner and mode), and the
			// device cgroup is not a rootless user's: "r" cannot be kept.
			return nil, fmt.Errorf("--device %s: read-only access to %s cannot be enforced without root (a device's writes are allowed by its owner and mode, which let uid %d write it); leave out the permissions to give it read-write",
				v, d.Source, os.Getuid())
		}
		if unix.Access(d.Source, want) != nil {
			return nil, fmt.Errorf("--device %s: %s (owner %d:%d, mode %04o) cannot be opened to %s by uid %d: ask for it read-only (%s:%s:r) or have its owner grant access",
				v, d.Source, st.Uid, st.Gid, st.Mode&0o7777, how, os.Getuid(), d.Source, d.Target)
		}
		out = append(out, runtime.Device{Source: d.Source, Target: d.Target, ReadOnly: d.ReadOnly})
	}
	return out, nil
}
