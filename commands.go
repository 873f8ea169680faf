package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/sandbox-dev/sandbox/capability"
	"github.com/sandbox-dev/sandbox/cgroups"
	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/network"
	"github.com/sandbox-dev/sandbox/runtime"
	"github.com/sandbox-dev/sandbox/userns"
)

func warn(msg string) { fmt.Fprintf(os.Stderr, "sandbox: %s\n", msg) }

// setup is what every store-using command needs: the user's config, the id
// map and the opened store.
type setup struct {
	paths config.Paths
	user  config.User
	store *image.Store
}

func openSetup() (*setup, error) {
	paths := config.DefaultPaths()
	user, err := config.Load(paths.Config)
	if err != nil {
		return nil, err
	}
	return openStore(paths, user)
}

// openStore opens (making it if needed) the store that user's config
// names.
func openStore(paths config.Paths, user config.User) (*setup, error) {
	s := &setup{paths: paths, user: user}
	var err error
	opts := userns.Options{}
	if s.user.UserNS == "single" {
		opts.Force = userns.ModeSingle
	}
	m, err := userns.Detect(opts)
	if err != nil {
		return nil, err
	}
	root := s.paths.Data
	if s.user.StorageRoot != "" {
		root = s.user.StorageRoot
	}
	runtime.Trace("id map detected")
	if s.store, err = image.Open(root, m, warn); err != nil {
		return nil, err
	}
	s.store.Search = s.user.SearchRegistries()
	s.store.RunDir = s.paths.Runtime
	// Said once, when the store is made (and again by the store if the map
	// later changes); `sandbox info` always shows it.
	if s.store.New && m.Mode == userns.ModeSingle && opts.Force == "" {
		warn("single-id mode (only root exists in containers): " + m.Reason)
		warn("fake root is on: inside, chown and setuid-family calls succeed without effect, so package managers work (--security-opt fakeroot=false turns it off; docs/security.md)")
	}
	return s, nil
}

// pullFlags are the flags of commands that may reach a registry.
type pullFlags struct {
	platform  string
	tlsVerify bool
}

func (f *pullFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.platform, "platform", "", "os/arch[/variant] to pull (default: this machine's)")
	fs.BoolVar(&f.tlsVerify, "tls-verify", true, "require HTTPS with a valid certificate (false also allows plain HTTP)")
}

// options are the pull options, with a progress display when stderr is a
// terminal and the user config's insecure registries.
func (f *pullFlags) options(s *setup, quiet bool) *image.PullOptions {
	o := &image.PullOptions{Platform: f.platform, TLSVerify: f.tlsVerify, Insecure: s.user.Registries.Insecure, Note: warn}
	if !quiet && term.IsTerminal(int(os.Stderr.Fd())) {
		o.Progress = os.Stderr
	}
	return o
}

// runFlags are the flags shared by run, create and shell.
type runFlags struct {
	pull                                                   pullFlags
	name, workdir, user, hostname, net, entrypoint, driver string
	rm, interactive, tty, readOnly, detach                 bool
	env, envFiles, volumes, ports, capAdd, capDrop         []string
	securityOpts                                           []string
	dns, addHosts                                          []string
	memory, memorySwap, restart, file                      string
	cpus                                                   float64
	pids                                                   int64
	stopTimeout                                            int
	readBPS, writeBPS                                      []string
	dry, explain                                           bool
	// defaultImage and defaultName are used when neither the file nor the
	// command line gives one (shell's host image, up's file name).
	defaultImage, defaultName string
	// adjust sets what the command itself decides (shell: --rm -i).
	adjust func(*container.Config)
	// validate checks the final config: Validate, or ValidateRun for a
	// command that runs the container now.
	validate func(*container.Config) error
}

func (f *runFlags) add(fs *pflag.FlagSet, all bool) {
	fs.StringVar(&f.file, "config", "", "launch settings from a TOML file (docs/config.md); flags override it")
	fs.BoolVar(&f.dry, "dry-run", false, "print the merged settings as TOML and stop (nothing is created)")
	fs.BoolVar(&f.explain, "explain", false, "with --dry-run: say where each setting came from")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable (KEY=VALUE, or KEY to copy it)")
	fs.StringArrayVar(&f.envFiles, "env-file", nil, "read KEY=VALUE lines from a file")
	fs.StringArrayVarP(&f.volumes, "volume", "v", nil, "bind a host path: SRC:DST[:ro]")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "working directory inside the container")
	fs.StringVarP(&f.user, "user", "u", "", "user to run as: name, uid, uid:gid or name:group")
	fs.StringVar(&f.hostname, "hostname", "", "the container's hostname")
	fs.BoolVar(&f.readOnly, "read-only", false, "mount the container's root read-only")
	fs.StringVar(&f.net, "net", "", "network: host (share the host's), none (only lo), or slirp (private, with outbound access; pasta or slirp4netns)")
	fs.StringVar(&f.net, "network", "", "same as --net")
	fs.StringArrayVarP(&f.ports, "publish", "p", nil, "publish a port: [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp] (needs --net slirp; IP defaults to 127.0.0.1)")
	fs.StringArrayVar(&f.dns, "dns", nil, "a nameserver for /etc/resolv.conf (replaces the default ones)")
	fs.StringArrayVar(&f.addHosts, "add-host", nil, "an /etc/hosts entry: NAME:IP (IP may be host-gateway)")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "replace the image's entrypoint")
	fs.StringVar(&f.driver, "storage-driver", "", "overlay, fuse-overlayfs or vfs (default: the first that works)")
	fs.StringArrayVar(&f.capAdd, "cap-add", nil, "add a capability (like NET_ADMIN)")
	fs.StringArrayVar(&f.capDrop, "cap-drop", nil, "drop a capability (or ALL)")
	fs.StringArrayVar(&f.securityOpts, "security-opt", nil, "seccomp=default|unconfined|PROFILE.json, no-new-privileges[=false], fakeroot=true|false")
	fs.StringVar(&f.memory, "memory", "", "memory limit, like 512MiB")
	fs.StringVar(&f.memorySwap, "memory-swap", "", "memory plus swap limit")
	fs.Float64Var(&f.cpus, "cpus", 0, "CPU limit, like 1.5")
	fs.Int64Var(&f.pids, "pids-limit", 0, "process (thread) limit")
	fs.StringArrayVar(&f.readBPS, "device-read-bps", nil, "read bandwidth limit: DEVICE:RATE, like /dev/vda:10MiB")
	fs.StringArrayVar(&f.writeBPS, "device-write-bps", nil, "write bandwidth limit: DEVICE:RATE")
	fs.StringVar(&f.restart, "restart", "", "with -d: restart policy no, on-failure or always")
	fs.IntVar(&f.stopTimeout, "stop-timeout", 0, "seconds stop waits before killing")
	f.pull.add(fs)
	if all {
		fs.StringVar(&f.name, "name", "", "the container's name")
		fs.BoolVar(&f.rm, "rm", false, "remove the container when it exits")
		fs.BoolVarP(&f.interactive, "interactive", "i", false, "keep standard input open")
		fs.BoolVarP(&f.tty, "tty", "t", false, "give the command a terminal")
		fs.BoolVarP(&f.detach, "detach", "d", false, "run in the background and print the container ID")
	}
}

// layer turns the flags the user gave (and IMAGE and COMMAND) into the top
// layer of the launch settings.
func (f *runFlags) layer(fs *pflag.FlagSet, img string, cmd []string) (*config.App, error) {
	a := &config.App{Env: map[string]string{}, Sources: map[string]string{}}
	set := func(k string) { a.Sources[k] = "flag" }
	var errs []error
	if img != "" {
		a.Image = img
		set("image")
	}
	if len(cmd) > 0 {
		a.Command = cmd
		set("command")
	}
	str := map[string]*string{"name": &a.Name, "workdir": &a.Workdir, "user": &a.User, "hostname": &a.Hostname, "restart": &a.Restart}
	flagOf := map[string]string{"name": "name", "workdir": "workdir", "user": "user", "hostname": "hostname", "restart": "restart"}
	vals := map[string]string{"name": f.name, "workdir": f.workdir, "user": f.user, "hostname": f.hostname, "restart": f.restart}
	for k, p := range str {
		if fs.Changed(flagOf[k]) {
			*p = vals[k]
			set(k)
		}
	}
	if fs.Changed("net") || fs.Changed("network") {
		a.Network = f.net
		set("network")
	}
	if fs.Changed("read-only") {
		a.ReadOnly = f.readOnly
		set("read_only")
	}
	if fs.Changed("entrypoint") {
		a.Entrypoint, a.EntrypointSet = nil, true
		if f.entrypoint != "" {
			a.Entrypoint = []string{f.entrypoint}
		}
		set("entrypoint")
	}
	if fs.Changed("stop-timeout") {
		a.StopTimeout = f.stopTimeout
		set("stop_timeout")
	}
	if len(f.ports) > 0 {
		a.Ports = f.ports
		set("ports")
	}
	if len(f.dns) > 0 {
		a.DNS = f.dns
		set("dns")
	}
	if len(f.addHosts) > 0 {
		a.AddHosts = f.addHosts
		set("add_hosts")
	}
	for _, path := range f.envFiles {
		env, err := container.ReadEnvFile(path)
		errs = append(errs, err)
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			a.Env[k] = v
			set("env." + k)
		}
	}
	for _, kv := range container.ParseEnv(f.env) {
		k, v, _ := strings.Cut(kv, "=")
		a.Env[k] = v
		set("env." + k)
	}
	for _, v := range f.volumes {
		m, err := container.ParseVolume(v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		a.Mounts = append(a.Mounts, config.Mount{Type: "bind", Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		set("mount " + m.Target)
	}
	for flag, dst := range map[string]*int64{"memory": &a.Resources.Memory, "memory-swap": &a.Resources.MemorySwap} {
		if fs.Changed(flag) {
			v, _ := fs.GetString(flag)
			n, err := config.ParseBytes(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("--%s: %w", flag, err))
				continue
			}
			*dst = n
			set("resources." + strings.ReplaceAll(flag, "-", "_"))
		}
	}
	if fs.Changed("cpus") {
		if f.cpus <= 0 {
			errs = append(errs, fmt.Errorf("--cpus %v: a number of CPUs more than zero, like 1.5", f.cpus))
		}
		a.Resources.CPUs = f.cpus
		set("resources.cpus")
	}
	if fs.Changed("pids-limit") {
		if f.pids < config.MinPids {
			errs = append(errs, fmt.Errorf("--pids-limit %d: at least %d (sandbox's init alone runs about ten threads, and the kernel counts threads)", f.pids, config.MinPids))
		}
		a.Resources.Pids = f.pids
		set("resources.pids")
	}
	for _, spec := range [][2]any{{f.readBPS, "read"}, {f.writeBPS, "write"}} {
		for _, v := range spec[0].([]string) {
			dev, rate, ok := strings.Cut(v, ":")
			n, err := config.ParseBytes(rate)
			if !ok || err != nil || !strings.HasPrefix(dev, "/dev/") {
				errs = append(errs, fmt.Errorf("--device-%s-bps %q: want DEVICE:RATE, like /dev/vda:10MiB", spec[1], v))
				continue
			}
			l := config.IOLimit{Device: dev}
			for i := range a.Resources.IO {
				if a.Resources.IO[i].Device == dev {
					l = a.Resources.IO[i]
				}
			}
			if spec[1] == "read" {
				l.ReadBPS = n
			} else {
				l.WriteBPS = n
			}
			replaced := false
			for i := range a.Resources.IO {
				if a.Resources.IO[i].Device == dev {
					a.Resources.IO[i], replaced = l, true
				}
			}
			if !replaced {
				a.Resources.IO = append(a.Resources.IO, l)
			}
			set("resources.io." + dev)
		}
	}
	for flag, dst := range map[string]*[]string{"cap-add": &a.Security.CapAdd, "cap-drop": &a.Security.CapDrop} {
		vals, _ := fs.GetStringArray(flag)
		for _, c := range vals {
			n, err := capability.Normalize(c)
			if err != nil {
				errs = append(errs, fmt.Errorf("--%s: %w", flag, err))
				continue
			}
			*dst = append(*dst, n)
		}
		if len(vals) > 0 {
			set("security." + strings.ReplaceAll(flag, "-", "_"))
		}
	}
	for _, opt := range f.securityOpts {
		key, err := config.ParseSecurityOpt(opt, &a.Security)
		if err != nil {
			errs = append(errs, err)
		} else if key != "" {
			set(key)
		}
	}
	return a, errors.Join(errs...)
}

// launch merges the launch settings: defaults < config.toml < --config
// file < flags, and turns them into a container config.
func (f *runFlags) launch(fs *pflag.FlagSet, user config.User, img string, cmd []string) (*config.App, error) {
	var file *config.App
	if f.file != "" {
		var err error
		if file, err = config.LoadApp(f.file, nil); err != nil {
			return nil, err
		}
	}
	flags, err := f.layer(fs, img, cmd)
	if err != nil {
		return nil, err
	}
	defaults := config.Defaults()
	if f.defaultImage != "" {
		defaults.Image, defaults.Sources["image"] = f.defaultImage, "default"
	}
	if f.defaultName != "" {
		defaults.Name, defaults.Sources["name"] = f.defaultName, "default (the file's name)"
	}
	merged := config.Merge(defaults, user.Defaults, file, flags)
	return merged, merged.Check()
}

// launched is a launch ready to run: checked, nothing made yet.
type launched struct {
	paths config.Paths
	user  config.User
	app   *config.App
	cfg   container.Config
}

// prepare reads config.toml and the launch file, merges them with the
// flags and checks the result, all before the store is opened: a mistake
// makes nothing. With --dry-run it prints the merged launch and returns
// errDryRun (or the check's error).
func (f *runFlags) prepare(fs *pflag.FlagSet, img string, cmd []string) (*launched, error) {
	l := &launched{paths: config.DefaultPaths()}
	var err error
	if l.user, err = config.Load(l.paths.Config); err != nil {
		return nil, err
	}
	if l.app, err = f.launch(fs, l.user, img, cmd); err != nil {
		return nil, err
	}
	l.cfg = f.containerConfig(l.app, l.user)
	if f.adjust != nil {
		f.adjust(&l.cfg)
	}
	if f.dry {
		l.app.WriteTOML(os.Stdout, f.explain)
	}
	check := (*container.Config).ValidateRun
	if f.validate != nil {
		check = f.validate
	}
	err = check(&l.cfg)
	if err == nil {
		// Limits that cannot be enforced here: the same check as a run's.
		err = container.CheckLimits(&l.cfg)
	}
	if err != nil {
		return nil, err
	}
	if f.dry {
		return nil, errDryRun
	}
	return l, nil
}

// errDryRun ends a --dry-run that found nothing wrong: exit 0.
var errDryRun = errors.New("dry run")

// open opens the store for a prepared launch.
func (l *launched) open() (*setup, error) { return openStore(l.paths, l.user) }

func (f *runFlags) containerConfig(app *config.App, user config.User) container.Config {
	cfg := container.FromApp(app)
	cfg.Rm, cfg.Detach, cfg.Interactive, cfg.TTY = f.rm, f.detach, f.interactive, f.tty
	cfg.StorageDriver = fuseoverlay.Driver(f.driver)
	if cfg.StorageDriver == "" {
		cfg.StorageDriver = fuseoverlay.Driver(user.StorageDriver)
	}
	cfg.Cgroups = user.Cgroups
	return cfg
}

// positional splits run's and create's arguments: [IMAGE [COMMAND...]].
// With --config the image may come from the file, and `-- COMMAND...`
// replaces only the command.
func (f *runFlags) positional(cmd string, fs *pflag.FlagSet, args []string) (string, []string, error) {
	if fs.ArgsLenAtDash() == 0 {
		if f.file == "" {
			return "", nil, &usageError{lookup(cmd), fmt.Errorf("%s needs an IMAGE before --", cmd)}
		}
		return "", args, nil
	}
	if len(args) == 0 {
		if f.file == "" {
			return "", nil, &usageError{lookup(cmd), fmt.Errorf("%s needs an IMAGE (or --config FILE that names one)", cmd)}
		}
		return "", nil, nil
	}
	return args[0], args[1:], nil
}

func stdio() container.IO {
	return container.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Warn: warn}
}

func runCommand() *command {
	f := &runFlags{}
	return &command{
		name:    "run",
		usage:   "[FLAGS] IMAGE [COMMAND [ARG...]]\n  sandbox run --config FILE [FLAGS] [IMAGE [COMMAND [ARG...]] | -- COMMAND [ARG...]]",
		summary: "Create a container from IMAGE and run a command in it.",
		flags:   func(fs *pflag.FlagSet) { f.add(fs, true) },
		run: func(fs *pflag.FlagSet, args []string) error {
			img, cmd, err := f.positional("run", fs, args)
			if err != nil {
				return err
			}
			l, err := f.prepare(fs, img, cmd)
			if err != nil {
				return err
			}
			s, err := l.open()
			if err != nil {
				return err
			}
			cfg := l.cfg
			io := stdio()
			io.Pull = f.pull.options(s, false)
			c, code, err := container.Run(s.store, cfg, io)
			if err != nil {
				return err
			}
			if cfg.Detach {
				fmt.Println(c.ID)
				return nil
			}
			return exitCode(code)
		},
	}
}

func shellCommand() *command {
	f := &runFlags{}
	return &command{
		name:    "shell",
		usage:   "[FLAGS] [IMAGE] [-- COMMAND [ARG...]]",
		summary: "Open an interactive shell in a throwaway container (IMAGE defaults to host, the host's own system).",
		flags:   func(fs *pflag.FlagSet) { f.add(fs, false) },
		run: func(fs *pflag.FlagSet, args []string) error {
			img := ""
			f.defaultImage = image.HostName
			dash := fs.ArgsLenAtDash()
			var cmd []string
			switch {
			case dash == 0:
				cmd = args
			case dash > 0:
				img, cmd = args[0], args[dash:]
				if dash > 1 {
					return &usageError{lookup("shell"), fmt.Errorf("unexpected %q before --", args[1])}
				}
			case len(args) > 1 && args[1] == "--":
				// Flags end at IMAGE, so pflag kept this -- as an argument.
				img, cmd = args[0], args[2:]
			case len(args) > 1:
				return &usageError{lookup("shell"), fmt.Errorf("put the command after --: sandbox shell %s -- %s", args[0], args[1])}
			case len(args) == 1:
				img = args[0]
			}
			f.adjust = func(cfg *container.Config) {
				cfg.Rm, cfg.Interactive, cfg.Shell = true, true, true
				cfg.TTY = term.IsTerminal(int(os.Stdin.Fd()))
			}
			l, err := f.prepare(fs, img, cmd)
			if err != nil {
				return err
			}
			s, err := l.open()
			if err != nil {
				return err
			}
			cfg := l.cfg
			io := stdio()
			io.Pull = f.pull.options(s, false)
			_, code, err := container.Run(s.store, cfg, io)
			if err != nil {
				return err
			}
			return exitCode(code)
		},
	}
}

func importCommand() *command {
	var quiet bool
	return &command{
		name:         "import",
		usage:        "FILE.tar[.gz|.zst]|DIR NAME[:TAG]",
		summary:      "Make a one-layer image from a root filesystem tarball or directory.",
		flags:        func(fs *pflag.FlagSet) { fs.BoolVarP(&quiet, "quiet", "q", false, "print only the image ID") },
		interspersed: true,
		run: func(fs *pflag.FlagSet, args []string) error {
			if len(args) != 2 {
				return &usageError{lookup("import"), errors.New("import needs a source and a name")}
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			img, err := s.store.Import(args[0], args[1], warn)
			if err != nil {
				return err
			}
			fmt.Println(img.ID)
			return nil
		},
	}
}

func pullCommand() *command {
	var f pullFlags
	var quiet bool
	return &command{
		name:    "pull",
		usage:   "[FLAGS] IMAGE",
		summary: "Fetch an image from a registry (a name without one is looked up in the search list, docker.io by default).",
		flags: func(fs *pflag.FlagSet) {
			f.add(fs)
			fs.BoolVarP(&quiet, "quiet", "q", false, "print only the image ID")
		},
		interspersed: true,
		run: func(fs *pflag.FlagSet, args []string) error {
			if len(args) != 1 {
				return &usageError{lookup("pull"), errors.New("pull needs one IMAGE")}
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			img, err := s.store.Pull(context.Background(), args[0], *f.options(s, quiet))
			if err != nil {
				return err
			}
			fmt.Println(img.ID)
			return nil
		},
	}
}

func loadCommand() *command {
	var input string
	return &command{
		name:         "load",
		usage:        "-i FILE.tar",
		summary:      "Load images from a docker-archive (the `docker save` format).",
		flags:        func(fs *pflag.FlagSet) { fs.StringVarP(&input, "input", "i", "", "the archive to read") },
		interspersed: true,
		run: func(fs *pflag.FlagSet, args []string) error {
			if input == "" && len(args) == 1 {
				input = args[0]
			}
			if input == "" {
				return &usageError{lookup("load"), errors.New("load needs an archive: -i FILE.tar")}
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			imgs, err := s.store.Load(input, warn)
			for _, img := range imgs {
				if len(img.Names) > 0 {
					fmt.Printf("Loaded image: %s\n", img.Names[0])
				} else {
					fmt.Printf("Loaded image: %s\n", img.ID)
				}
			}
			return err
		},
	}
}

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

func versionCommand() *command {
	return &command{
		name:    "version",
		summary: "Print the version.",
		run: func(fs *pflag.FlagSet, args []string) error {
			fmt.Printf("sandbox version %s %s/%s %s\n", version, goruntime.GOOS, goruntime.GOARCH, goruntime.Version())
			return nil
		},
	}
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

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
