package main

import (
	"github.com/sandbox-dev/sandbox/cdi"

	"fmt"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/api/calls"
	"github.com/sandbox-dev/sandbox/cgroups"
	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/format"
	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/network"
	"github.com/sandbox-dev/sandbox/runtime"
	"github.com/sandbox-dev/sandbox/sysmon"
	"github.com/sandbox-dev/sandbox/textpages"
	"github.com/sandbox-dev/sandbox/userns"
)

// infoData is what `info` found: the text output, `--format json` and
// templates (`{{.Store.Driver}}`) are all made from it.
type infoData struct {
	Version, GoOS, GoArch, Kernel string
	UserNS                        infoUserNS
	Store                         infoStore
	Cgroups                       infoCgroups
	Network                       infoNetwork
	Security                      infoSecurity
	CDI                           infoCDI
	API                           infoAPI
	Startup                       infoStartup
}

// infoStartup is how this binary's code is mapped (docs/ARCHITECTURE.md,
// "The CLI's code in 2 MiB pages").
type infoStartup struct {
	Regions, HugeRegions int
	TextStage            string // what the text stage wrote this boot, or why it has not
	MonitorSlack         string // the runtime's monitor thread's timer slack (package sysmon)
}

// textStageWorking is info's TextStage while a stage holds its mark
// (scripts/benchstart waits for it to change).
const textStageWorking = "working (it waits for the command that started it to exit, then for processes that hold the program's pages)"

// infoAPI says how to reach the Docker API service.
type infoAPI struct {
	Version, Socket, Start, DockerHost string
}

// infoCDI is what the Container Device Interface specs here define.
type infoCDI struct {
	Dirs    []string
	Devices []string
	Errors  []string `json:",omitempty"` // "FILE: why"
	Fix     string   `json:",omitempty"` // when the specs could not be read
}

type infoUserNS struct {
	Available         bool
	Refusal, Why, Fix string `json:",omitempty"` // when not available
	Mode, Reason      string
	UIDMap, GIDMap    string
}

type infoStore struct {
	Driver, DriverReason  string // DriverReason: why that driver, or why unknown
	FuseOverlayfs         string // its path, or why it is unavailable
	FuseAvailable         bool
	Root, Config, Runtime string
}

type infoCgroups struct {
	Version     string
	Own         string `json:",omitempty"`
	Route       string // "delegated", "systemd" or "" (nowhere)
	Where       string // where containers' cgroups go, in words
	Fix         string `json:",omitempty"`
	Controllers []string
	Limits      []infoLimit
}

type infoLimit struct{ Limit, State string }

type infoNetwork struct {
	Default, DefaultFrom string
	Helpers              []infoHelper
	Slirp                string // the helper --net slirp uses, or why it cannot
	SlirpAvailable       bool
	PrivateNetwork       string `json:",omitempty"`
}

type infoHelper struct{ Name, Path string } // Path "": not installed

type infoSecurity struct {
	Seccomp, FakeRoot         string
	NoNewPrivileges           bool
	Keyring, Stdio, Processes string
}

func infoCommand() *command {
	var spec string
	return &command{
		name:    "info",
		usage:   "[--format json|TEMPLATE]",
		summary: "Show what sandbox found on this machine and which fallbacks apply.",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVarP(&spec, "format", "f", "", `"json", or a Go template over the fields of --format json, like {{.Store.Driver}}`)
		},
		interspersed: true,
		args:         exactly(0, "takes no arguments"),
		run: func(fs *pflag.FlagSet, args []string) error {
			var out *format.Template
			if spec != "" && spec != format.JSON {
				t, err := format.Parse(spec, infoData{})
				if err != nil {
					return &usageError{lookup("info"), err}
				}
				out = t
			}
			d, err := gatherInfo()
			if err != nil {
				return err
			}
			switch {
			case spec == format.JSON:
				return printJSON(d)
			case out != nil:
				return out.Execute(os.Stdout, []infoData{*d}, nil)
			}
			printInfo(d)
			return nil
		},
	}
}

// gatherInfo looks at the machine, the user's config and the store.
func gatherInfo() (*infoData, error) {
	paths := config.DefaultPaths()
	user, err := config.Load(paths.Config)
	if err != nil {
		return nil, err
	}
	var u unix.Utsname
	unix.Uname(&u)
	d := &infoData{Version: version, GoOS: goruntime.GOOS, GoArch: goruntime.GOARCH, Kernel: unix.ByteSliceToString(u.Release[:])}
	opts := userns.Options{}
	if user.UserNS == "single" {
		opts.Force = userns.ModeSingle
	}
	m, err := userns.Detect(opts)
	if err != nil {
		return nil, err
	}
	refusal := userns.CheckRefusal("")
	d.UserNS = infoUserNS{Available: refusal == nil, Mode: string(m.Mode), Reason: m.Reason(), UIDMap: fmt.Sprint(m.UIDs), GIDMap: fmt.Sprint(m.GIDs)}
	if refusal != nil {
		d.UserNS.Refusal, d.UserNS.Why, d.UserNS.Fix = refusal.Setting, refusal.Why, refusal.Fix
	}
	d.Store = storeInfo(paths, user, m, refusal != nil)
	d.Cgroups = cgroupsInfo(user)
	d.Network = networkInfo(user)
	d.Security = securityInfo(user, m)
	sock := serviceSocket(paths)
	d.API = infoAPI{Version: calls.Version, Socket: sock, Start: "sandbox system service", DockerHost: "export DOCKER_HOST=" + sock}
	d.Startup = startupInfo(paths.Runtime)
	d.CDI.Dirs = user.CDISpecDirs
	if len(d.CDI.Dirs) == 0 {
		d.CDI.Dirs = cdi.DefaultDirs
	}
	if ans, err := container.ResolveCDI(paths.Runtime, cdi.Request{Dirs: d.CDI.Dirs, List: true}); err != nil {
		d.CDI.Fix = err.Error()
	} else {
		d.CDI.Devices = ans.Known
		for _, e := range ans.SpecErrors {
			d.CDI.Errors = append(d.CDI.Errors, e.File+": "+e.Error)
		}
	}
	return d, nil
}

// monitorSlack says what sysmon.Settle left the runtime's monitor thread.
func monitorSlack() string {
	switch {
	case !sysmon.Linked():
		return fmt.Sprintf("the kernel's default: built without -ldflags=%q", sysmon.LinkFlags)
	case !sysmon.Entered():
		return "the kernel's default: the command started with signal 64 blocked, so the entry set none (unblock it to get the slack)"
	case sysmon.Monitor() == 0:
		return "the kernel's default: the monitor thread was not found at the start"
	}
	return fmt.Sprintf("%v (thread %d)", time.Duration(sysmon.Slack), sysmon.Monitor())
}

func startupInfo(runDir string) infoStartup {
	i := infoStartup{MonitorSlack: monitorSlack()}
	st, err := textpages.SelfStatus(runDir)
	if err != nil {
		i.TextStage = "not for this binary: " + err.Error()
		return i
	}
	i.Regions, i.HugeRegions, i.TextStage = st.Regions, st.Huge, st.Said
	if st.Working {
		i.TextStage = textStageWorking
	} else if i.TextStage == "" {
		i.TextStage = "not run this boot for this build: it runs as the next command that opens the store ends"
	}
	return i
}

func storeInfo(paths config.Paths, user config.User, m userns.Mapping, refused bool) infoStore {
	st := infoStore{Root: paths.Data, Config: paths.Config, Runtime: paths.Runtime}
	if user.StorageRoot != "" {
		st.Root = user.StorageRoot
	}
	if p, err := fuseoverlay.FuseAvailable(); err == nil {
		st.FuseOverlayfs, st.FuseAvailable = p, true
	} else {
		st.FuseOverlayfs = err.Error()
	}
	if user.StorageDriver != "" && user.StorageDriver != "auto" {
		st.Driver, st.DriverReason = user.StorageDriver, "set in "+paths.Config
		return st
	}
	s, err := image.Open(st.Root, m, nil)
	if err != nil {
		st.Driver, st.DriverReason = "unknown", err.Error()
		return st
	}
	scratch, release, err := s.TempDir()
	if err != nil {
		st.Driver, st.DriverReason = "unknown", err.Error()
		return st
	}
	driver, why, err := runtime.ProbeStorage(m, s.RunDir, scratch)
	release()
	switch {
	case err != nil && refused:
		st.Driver, st.DriverReason = "unknown", fmt.Sprintf("probing failed: %v (user namespaces are refused: see above)", err)
	case err != nil:
		st.Driver, st.DriverReason = "unknown", fmt.Sprintf("probing failed: %v", err)
	default:
		st.Driver, st.DriverReason = string(driver), why
	}
	return st
}

// cgroupsInfo: the version, where containers' cgroups go, the delegated
// controllers and which limits will work.
func cgroupsInfo(user config.User) infoCgroups {
	sys := cgroups.Detect()
	policy := user.Cgroups
	if policy == "" {
		policy = cgroups.PolicyRequired
	}
	c := infoCgroups{Version: map[int]string{0: "none", 1: "v1 or hybrid", 2: "v2"}[sys.Version], Own: sys.Own, Route: string(sys.Route), Controllers: sys.Controllers}
	if c.Controllers == nil {
		c.Controllers = []string{}
	}
	switch sys.Route {
	case cgroups.RouteDelegated:
		c.Where = sys.Base + "/sandbox-<id> (a subtree delegated to you)"
	case cgroups.RouteSystemd:
		c.Where = "a scope per limited container, from the systemd user manager"
	default:
		c.Where, c.Fix = "nowhere: "+sys.Reason, sys.Fix
	}
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
		c.Limits = append(c.Limits, infoLimit{l.what, state})
	}
	return c
}

// networkInfo: the default and what --net slirp would use.
func networkInfo(user config.User) infoNetwork {
	n := infoNetwork{Default: "host", DefaultFrom: "built in"}
	if user.Network != "" {
		n.Default, n.DefaultFrom = user.Network, "config.toml"
	}
	for _, h := range []network.Helper{network.Pasta, network.Slirp4netns} {
		_, path, err := network.Find(string(h), nil)
		if err != nil {
			path = ""
		}
		n.Helpers = append(n.Helpers, infoHelper{string(h), path})
	}
	if h, _, err := network.Find("slirp", nil); err != nil {
		n.Slirp = err.Error()
	} else {
		n.Slirp, n.SlirpAvailable = string(h), true
		n.PrivateNetwork = fmt.Sprintf("%s/%d, host's loopback at %s (%s), DNS forwarder %s",
			network.ContainerIP, network.PrefixLen, network.HostLoopback, network.HostAlias, network.DNS)
	}
	return n
}

// securityInfo says what seals a sandbox here, with config.toml's
// settings applied (docs/security.md).
func securityInfo(user config.User, m userns.Mapping) infoSecurity {
	sec := config.Merge(config.Defaults(), user.Defaults).Security
	s := infoSecurity{NoNewPrivileges: sec.NoNewPrivileges,
		Keyring:   "a new, empty session keyring for each sandbox",
		Stdio:     "pipes relayed by sandbox (the sandbox's own pty with -t); never your terminal",
		Processes: fmt.Sprintf("--pids-limit through the pids cgroup; otherwise at most %d per id in a sandbox (RLIMIT_NPROC, counted in its user namespace)", container.ProcessLimit),
	}
	switch sec.Seccomp {
	case "default":
		s.Seccomp = "Docker's default profile (moby/profiles), on every process of every sandbox"
	case "unconfined":
		s.Seccomp = fmt.Sprintf("none (seccomp = \"unconfined\" in %s)", config.DefaultPaths().Config)
	default:
		s.Seccomp = fmt.Sprintf("the profile %s (from config.toml)", sec.Seccomp)
	}
	switch {
	case container.FakeRoot(sec, m):
		s.FakeRoot = "on (single-id mode: chown and setuid-family calls succeed without effect; --security-opt fakeroot=false turns it off)"
	case m.Mode != userns.ModeSingle:
		s.FakeRoot = "off (subordinate ids exist: chown and setuid are real)"
	default:
		s.FakeRoot = "off (fakeroot = false in config.toml)"
	}
	return s
}

// printInfo is info's text.
func printInfo(d *infoData) {
	fmt.Printf("sandbox %s (%s/%s)\nkernel: %s\n", d.Version, d.GoOS, d.GoArch, d.Kernel)
	u := d.UserNS
	fmt.Printf("user namespace:\n")
	if u.Available {
		fmt.Printf("  available: yes (no host setting refuses them)\n")
	} else {
		fmt.Printf("  available: no: refused by %s (%s)\n  to fix: %s\n", u.Refusal, u.Why, u.Fix)
	}
	fmt.Printf("  mode: %s\n  reason: %s\n  uid map: %s\n  gid map: %s\n", u.Mode, u.Reason, u.UIDMap, u.GIDMap)
	st := d.Store
	fmt.Printf("storage:\n")
	switch {
	case st.Driver == "unknown":
		fmt.Printf("  driver: unknown: %s\n", st.DriverReason)
	default:
		fmt.Printf("  driver: %s (%s)\n", st.Driver, st.DriverReason)
	}
	if st.FuseAvailable {
		fmt.Printf("  fuse-overlayfs: %s\n", st.FuseOverlayfs)
	} else {
		fmt.Printf("  fuse-overlayfs: unavailable: %s\n", st.FuseOverlayfs)
	}
	fmt.Printf("  root: %s\n  config: %s\n  runtime: %s\n", st.Root, st.Config, st.Runtime)
	c := d.Cgroups
	fmt.Printf("cgroups:\n  version: %s\n", c.Version)
	if c.Own != "" {
		fmt.Printf("  this process: %s\n", c.Own)
	}
	fmt.Printf("  containers go in: %s\n", c.Where)
	if c.Fix != "" {
		fmt.Printf("  to fix: %s\n", c.Fix)
	}
	delegated := strings.Join(c.Controllers, " ")
	if delegated == "" {
		delegated = "none"
	}
	fmt.Printf("  delegated controllers: %s\n", delegated)
	for _, l := range c.Limits {
		fmt.Printf("  %s limits: %s\n", l.Limit, l.State)
	}
	n := d.Network
	fmt.Printf("network:\n  default: %s (%s)\n", n.Default, n.DefaultFrom)
	for _, h := range n.Helpers {
		if h.Path == "" {
			fmt.Printf("  %s: not installed\n", h.Name)
		} else {
			fmt.Printf("  %s: %s\n", h.Name, h.Path)
		}
	}
	if n.SlirpAvailable {
		fmt.Printf("  --net slirp: uses %s\n  private network: %s\n", n.Slirp, n.PrivateNetwork)
	} else {
		fmt.Printf("  --net slirp: unavailable: %s\n", n.Slirp)
	}
	s := d.Security
	fmt.Printf("security:\n  seccomp: %s\n  fake root: %s\n  no_new_privileges: %t\n  keyring: %s\n  stdio: %s\n  processes: %s\n",
		s.Seccomp, s.FakeRoot, s.NoNewPrivileges, s.Keyring, s.Stdio, s.Processes)
	cd := d.CDI
	fmt.Printf("cdi (--device VENDOR/CLASS=NAME):\n  spec dirs: %s\n", strings.Join(cd.Dirs, ", "))
	switch {
	case cd.Fix != "":
		fmt.Printf("  devices: unknown: %s\n", cd.Fix)
	case len(cd.Devices) == 0:
		fmt.Printf("  devices: none\n")
	default:
		fmt.Printf("  devices: %s\n", strings.Join(cd.Devices, ", "))
	}
	for _, e := range cd.Errors {
		fmt.Printf("  spec with errors: %s\n", e)
	}
	fmt.Printf("start-up:\n  code in 2 MiB pages: %d of %d regions\n  text stage: %s\n  monitor thread's timer slack: %s\n", d.Startup.HugeRegions, d.Startup.Regions, d.Startup.TextStage, d.Startup.MonitorSlack)
	fmt.Printf("docker api (%s, docs/api.md):\n  serve it: %s\n  point clients at it: %s\n", d.API.Version, d.API.Start, d.API.DockerHost)
}
