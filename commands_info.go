package main

import (
	"fmt"
	goruntime "runtime"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/cgroups"
	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/network"
	"github.com/sandbox-dev/sandbox/runtime"
	"github.com/sandbox-dev/sandbox/userns"
)

func infoCommand() *command {
	return &command{
		name:    "info",
		usage:   "",
		summary: "Show what sandbox found on this machine and which fallbacks apply.",
		run: func(fs *pflag.FlagSet, args []string) error {
			paths := config.DefaultPaths()
			user, err := config.Load(paths.Config)
			if err != nil {
				return err
			}
			var u unix.Utsname
			unix.Uname(&u)
			kernel := unix.ByteSliceToString(u.Release[:])
			fmt.Printf("sandbox %s (%s/%s)\nkernel: %s\n", version, goruntime.GOOS, goruntime.GOARCH, kernel)
			opts := userns.Options{}
			if user.UserNS == "single" {
				opts.Force = userns.ModeSingle
			}
			m, err := userns.Detect(opts)
			if err != nil {
				return err
			}
			fmt.Printf("user namespace:\n")
			refusal := printUsernsAvailable()
			fmt.Printf("  mode: %s\n  reason: %s\n  uid map: %v\n  gid map: %v\n", m.Mode, m.Reason, m.UIDs, m.GIDs)
			root := paths.Data
			if user.StorageRoot != "" {
				root = user.StorageRoot
			}
			fmt.Printf("storage:\n")
			st, err := image.Open(root, m, nil)
			if err != nil {
				return err
			}
			if user.StorageDriver != "" && user.StorageDriver != "auto" {
				fmt.Printf("  driver: %s (set in %s)\n", user.StorageDriver, paths.Config)
			} else if scratch, release, err := st.TempDir(); err != nil {
				fmt.Printf("  driver: unknown (%v)\n", err)
			} else {
				driver, why, err := runtime.ProbeStorage(m, scratch)
				release()
				if err != nil && refusal != nil {
					fmt.Printf("  driver: unknown: probing failed: %v (user namespaces are refused: see above)\n", err)
				} else if err != nil {
					fmt.Printf("  driver: unknown: probing failed: %v\n", err)
				} else {
					fmt.Printf("  driver: %s (%s)\n", driver, why)
				}
			}
			if p, err := fuseoverlay.FuseAvailable(); err == nil {
				fmt.Printf("  fuse-overlayfs: %s\n", p)
			} else {
				fmt.Printf("  fuse-overlayfs: unavailable: %v\n", err)
			}
			fmt.Printf("  root: %s\n  config: %s\n  runtime: %s\n", root, paths.Config, paths.Runtime)
			printCgroups(user)
			printNetwork(user)
			printSecurity(user, m)
			return nil
		},
	}
}

// printUsernsAvailable is the user namespace section's first line: whether
// a host setting refuses user namespaces and, if one does, which and the
// fix (every container and most commands need one). It returns the refusal.
func printUsernsAvailable() *userns.Refusal {
	r := userns.CheckRefusal("")
	if r == nil {
		fmt.Printf("  available: yes (no host setting refuses them)\n")
		return nil
	}
	fmt.Printf("  available: no: refused by %s (%s)\n  to fix: %s\n", r.Setting, r.Why, r.Fix)
	return r
}

// printCgroups is info's cgroups section: the version, where containers'
// cgroups go, the delegated controllers and which limits will work.
func printCgroups(user config.User) {
	sys := cgroups.Detect()
	policy := user.Cgroups
	if policy == "" {
		policy = cgroups.PolicyRequired
	}
	fmt.Printf("cgroups:\n  version: %s\n", map[int]string{0: "none", 1: "v1 or hybrid", 2: "v2"}[sys.Version])
	if sys.Own != "" {
		fmt.Printf("  this process: %s\n", sys.Own)
	}
	switch sys.Route {
	case cgroups.RouteDelegated:
		fmt.Printf("  containers go in: %s/sandbox-<id> (a subtree delegated to you)\n", sys.Base)
	case cgroups.RouteSystemd:
		fmt.Printf("  containers go in: a scope per limited container, from the systemd user manager\n")
	default:
		fmt.Printf("  containers go in: nowhere: %s\n", sys.Reason)
		if sys.Fix != "" {
			fmt.Printf("  to fix: %s\n", sys.Fix)
		}
	}
	delegated := strings.Join(sys.Controllers, " ")
	if delegated == "" {
		delegated = "none"
	}
	fmt.Printf("  delegated controllers: %s\n", delegated)
	for _, l := range []struct{ what, ctrl string }{
		{"memory, memory_swap", "memory"}, {"cpus", "cpu"}, {"pids", "pids"}, {"io", "io"},
	} {
		works := sys.Route != "" && sys.Has(l.ctrl)
		state := "enforced"
		if !works {
			state = "refused (cgroups = \"required\")"
			if policy != cgroups.PolicyRequired {
				state = "not enforced, with a warning (cgroups = \"" + policy + "\")"
			}
		}
		if policy == cgroups.PolicyOff {
			state = "not enforced, with a warning (cgroups = \"off\")"
		}
		fmt.Printf("  %s limits: %s\n", l.what, state)
	}
}

// printNetwork is info's network section: the default and what --net
// slirp would use.
// printSecurity says what seals a sandbox here, with config.toml's
// settings applied (docs/security.md).
func printSecurity(user config.User, m userns.Mapping) {
	sec := config.Merge(config.Defaults(), user.Defaults).Security
	fmt.Printf("security:\n")
	switch sec.Seccomp {
	case "default":
		fmt.Printf("  seccomp: Docker's default profile (moby/profiles), on every process of every sandbox\n")
	case "unconfined":
		fmt.Printf("  seccomp: none (seccomp = \"unconfined\" in %s)\n", config.DefaultPaths().Config)
	default:
		fmt.Printf("  seccomp: the profile %s (from config.toml)\n", sec.Seccomp)
	}
	switch {
	case container.FakeRoot(sec, m):
		fmt.Printf("  fake root: on (single-id mode: chown and setuid-family calls succeed without effect; --security-opt fakeroot=false turns it off)\n")
	case m.Mode != userns.ModeSingle:
		fmt.Printf("  fake root: off (subordinate ids exist: chown and setuid are real)\n")
	default:
		fmt.Printf("  fake root: off (fakeroot = false in config.toml)\n")
	}
	fmt.Printf("  no_new_privileges: %t\n", sec.NoNewPrivileges)
	fmt.Printf("  keyring: a new, empty session keyring for each sandbox\n")
	fmt.Printf("  stdio: pipes relayed by sandbox (the sandbox's own pty with -t); never your terminal\n")
	fmt.Printf("  processes: --pids-limit through the pids cgroup; otherwise at most %d per id in a sandbox (RLIMIT_NPROC, counted in its user namespace)\n", container.ProcessLimit)
}

func printNetwork(user config.User) {
	def, from := "host", "built in"
	if user.Network != "" {
		def, from = user.Network, "config.toml"
	}
	fmt.Printf("network:\n  default: %s (%s)\n", def, from)
	for _, h := range []network.Helper{network.Pasta, network.Slirp4netns} {
		if _, path, err := network.Find(string(h), nil); err != nil {
			fmt.Printf("  %s: not installed\n", h)
		} else {
			fmt.Printf("  %s: %s\n", h, path)
		}
	}
	if h, _, err := network.Find("slirp", nil); err != nil {
		fmt.Printf("  --net slirp: unavailable: %v\n", err)
	} else {
		fmt.Printf("  --net slirp: uses %s\n", h)
		fmt.Printf("  private network: %s/%d, host's loopback at %s (%s), DNS forwarder %s\n",
			network.ContainerIP, network.PrefixLen, network.HostLoopback, network.HostAlias, network.DNS)
	}
}
