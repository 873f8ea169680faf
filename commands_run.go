package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/image"
)

// runFlags are the flags shared by run, create and shell. The flags that
// set one launch key each come from config.Keys (launchFlags); the fields
// here are the rest.
type runFlags struct {
	pull                            pullFlags
	entrypoint, driver, file        string
	rm, interactive, tty, detach    bool
	env, envFiles, volumes          []string
	mounts, tmpfs                   []string
	securityOpts, readBPS, writeBPS []string
	dry, explain                    bool
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
	launchFlags(fs, all)
	// The flags whose value is not one key's as it is.
	stringArrayVarP(fs, &f.env, "env", "e", "set an environment variable (KEY=VALUE, or KEY to copy it)")
	stringArrayVarP(fs, &f.envFiles, "env-file", "", "read KEY=VALUE lines from a file")
	stringArrayVarP(fs, &f.volumes, "volume", "v", "mount a host path or a named volume: SRC:DST[:ro]; /DST alone: an anonymous volume")
	stringArrayVarP(fs, &f.mounts, "mount", "", "a mount, Docker's way: type=bind,source=SRC,target=DST[,readonly] or type=tmpfs,target=DST[,tmpfs-size=SIZE][,tmpfs-mode=OCTAL]")
	stringArrayVarP(fs, &f.tmpfs, "tmpfs", "", "a tmpfs: PATH[:size=SIZE,mode=OCTAL,ro]")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "replace the image's entrypoint")
	stringArrayVarP(fs, &f.securityOpts, "security-opt", "", "seccomp=default|unconfined|PROFILE.json, no-new-privileges[=false], fakeroot=true|false")
	stringArrayVarP(fs, &f.readBPS, "device-read-bps", "", "read bandwidth limit: DEVICE:RATE, like /dev/vda:10MiB")
	stringArrayVarP(fs, &f.writeBPS, "device-write-bps", "", "write bandwidth limit: DEVICE:RATE")
	fs.StringVar(&f.driver, "storage-driver", "", "overlay, fuse-overlayfs or vfs (default: the first that works)")
	f.pull.add(fs)
	if all {
		fs.BoolVar(&f.rm, "rm", false, "remove the container when it exits")
		fs.BoolVarP(&f.interactive, "interactive", "i", false, "keep standard input open")
		fs.BoolVarP(&f.tty, "tty", "t", false, "give the command a terminal")
		fs.BoolVarP(&f.detach, "detach", "d", false, "run in the background and print the container ID")
	}
}

// launchFlags defines a flag for each launch key set by one flag as it is
// (config.Keys); name only with all (shell and up have their own).
func launchFlags(fs *pflag.FlagSet, all bool) {
	for _, k := range config.Keys {
		if k.Flag == "" || k.Custom || (k.Name == "name" && !all) {
			continue
		}
		for i, name := range append([]string{k.Flag}, k.Aliases...) {
			short, usage := k.Short, k.Doc
			if i > 0 {
				short, usage = "", "same as --"+k.Flag
			}
			switch k.Type {
			case config.Bool:
				fs.BoolP(name, short, false, usage)
			case config.Int:
				fs.Int64P(name, short, 0, usage)
			case config.Number:
				fs.Float64P(name, short, 0, usage)
			case config.Strings:
				stringArrayVarP(fs, new([]string), name, short, usage)
			default:
				fs.StringP(name, short, "", usage)
			}
		}
	}
}

// keyFlag reads the value of k's flag (or alias) name, checked as a launch
// file's value is, with the same message naming the flag.
func keyFlag(fs *pflag.FlagSet, k *config.Key, name string) (any, error) {
	wd, _ := os.Getwd()
	switch k.Type {
	case config.Bool:
		return fs.GetBool(name)
	case config.Int:
		n, _ := fs.GetInt64(name)
		if err := k.CheckNumber(float64(n)); err != nil {
			return nil, k.FlagError(n, err)
		}
		return n, nil
	case config.Number:
		n, _ := fs.GetFloat64(name)
		if err := k.CheckNumber(n); err != nil {
			return nil, k.FlagError(n, err)
		}
		return n, nil
	case config.Size:
		v, _ := fs.GetString(name)
		n, err := config.ParseBytes(v)
		if err != nil {
			return nil, k.FlagError(v, err)
		}
		return n, nil
	case config.Strings:
		vals := fs.Lookup(name).Value.(*stringArray).GetSlice()
		var errs []error
		out := make([]string, len(vals))
		for i, v := range vals {
			var err error
			if out[i], err = k.CheckString(v, wd); err != nil {
				errs = append(errs, k.FlagError(v, err))
			}
		}
		return out, errors.Join(errs...)
	}
	v, _ := fs.GetString(name)
	norm, err := k.CheckString(v, wd)
	if err != nil {
		return nil, k.FlagError(v, err)
	}
	return norm, nil
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
	for _, k := range config.Keys {
		if k.Flag == "" || k.Custom {
			continue
		}
		for _, name := range append([]string{k.Flag}, k.Aliases...) {
			if fs.Lookup(name) == nil || !fs.Changed(name) {
				continue
			}
			if v, err := keyFlag(fs, k, name); err != nil {
				errs = append(errs, err)
			} else {
				k.Set(a, v, "flag")
			}
		}
	}
	if fs.Changed("entrypoint") {
		a.Entrypoint, a.EntrypointSet = nil, true
		if f.entrypoint != "" {
			a.Entrypoint = []string{f.entrypoint}
		}
		set("entrypoint")
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
		a.Mounts = append(a.Mounts, config.Mount{Type: m.Type, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		set("mount " + m.Target)
	}
	for _, list := range []struct {
		values []string
		parse  func(string) (config.Mount, error)
	}{{f.mounts, container.ParseMount}, {f.tmpfs, container.ParseTmpfs}} {
		for _, v := range list.values {
			m, err := list.parse(v)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			a.Mounts = append(a.Mounts, m)
			set("mount " + m.Target)
		}
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

// ready prepares the launch and opens the store: what run, create, shell
// and up do first. The stdio it returns may pull the image.
func (f *runFlags) ready(fs *pflag.FlagSet, img string, cmd []string) (*setup, container.Config, container.IO, error) {
	l, err := f.prepare(fs, img, cmd)
	if err != nil {
		return nil, container.Config{}, container.IO{}, err
	}
	s, err := l.open()
	if err != nil {
		return nil, container.Config{}, container.IO{}, err
	}
	io := stdio()
	io.Pull = f.pull.options(s, false)
	return s, l.cfg, io, nil
}

func (f *runFlags) containerConfig(app *config.App, user config.User) container.Config {
	cfg := container.FromApp(app)
	cfg.Rm, cfg.Detach, cfg.Interactive, cfg.TTY = f.rm, f.detach, f.interactive, f.tty
	cfg.StorageDriver = fuseoverlay.Driver(f.driver)
	container.ApplyUser(&cfg, user)
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
			s, cfg, io, err := f.ready(fs, img, cmd)
			if err != nil {
				return err
			}
			io.OwnSignals = true // one container, this command's
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
			s, cfg, io, err := f.ready(fs, img, cmd)
			if err != nil {
				return err
			}
			io.OwnSignals = true // one container, this command's
			_, code, err := container.Run(s.store, cfg, io)
			if err != nil {
				return err
			}
			return exitCode(code)
		},
	}
}
