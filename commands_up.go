package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sandbox-dev/sandbox/container"
)

// upName is the container name of a launch file that names none: the
// file's base name ("web" for web.toml), made a valid name.
func upName(file string) string {
	base := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	var b strings.Builder
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := strings.TrimLeft(b.String(), "_.-")
	if name == "" {
		name = "app"
	}
	return name
}

func upCommand() *command {
	f := &runFlags{}
	return &command{
		name:         "up",
		usage:        "[FLAGS] FILE",
		summary:      "Run a launch file in the background under its name; a running one is replaced only if the file changed.",
		interspersed: true,
		flags: func(fs *pflag.FlagSet) {
			f.add(fs, false)
			fs.StringVar(&f.name, "name", "", "the container's name (default: the file's name key, or its base name)")
			fs.MarkHidden("config") // the file is the argument
		},
		run: func(fs *pflag.FlagSet, args []string) error {
			if len(args) != 1 {
				return &usageError{lookup("up"), errors.New("up needs one launch FILE (see docs/config.md)")}
			}
			if fs.Changed("config") {
				return &usageError{lookup("up"), errors.New("give the launch file as the argument, not with --config")}
			}
			f.file, f.detach, f.defaultName = args[0], true, upName(args[0])
			l, err := f.prepare(fs, "", nil)
			if err != nil {
				return err
			}
			s, err := l.open()
			if err != nil {
				return err
			}
			cfg := l.cfg
			cfg.LaunchFile, _ = filepath.Abs(f.file)
			if old, err := container.FindName(s.store, cfg.Name); err == nil {
				if old.Config.LaunchFile != cfg.LaunchFile {
					return fmt.Errorf("%w: %q is container %s, which `sandbox up %s` did not start; remove it (sandbox rm %s) or set another name in the file",
						container.ErrNameInUse, old.Name, old.ID[:12], f.file, old.Name)
				}
				same, running := container.SameLaunch(s.store, old, cfg)
				switch {
				case same && running:
					fmt.Printf("%s is up to date\n", old.Name)
					return nil
				case same:
					// Unchanged and stopped: start it again, on its own
					// writable layer, as compose does.
					if _, _, err := container.Start(s.store, old.ID, false, stdio()); err != nil {
						return err
					}
					fmt.Println(old.ID)
					return nil
				}
				// The file changed: the old container makes way.
				if _, err := container.Stop(s.store, old.ID, -1); err != nil {
					return err
				}
				if _, err := container.RemoveRef(s.store, old.ID, false); err != nil {
					return fmt.Errorf("replacing container %s: %w", old.Name, err)
				}
			} else if !errors.Is(err, container.ErrNotFound) {
				return err
			}
			io := stdio()
			io.Pull = f.pull.options(s, false)
			c, _, err := container.Run(s.store, cfg, io)
			if err != nil {
				return err
			}
			fmt.Println(c.ID)
			return nil
		},
	}
}

func downCommand() *command {
	var timeout int
	return &command{
		name:         "down",
		usage:        "[-t SECONDS] FILE",
		summary:      "Stop and remove the container a launch file's `up` started.",
		flags:        func(fs *pflag.FlagSet) { stopTimeoutFlag(fs, &timeout) },
		interspersed: true,
		run: func(fs *pflag.FlagSet, args []string) error {
			if len(args) != 1 {
				return &usageError{lookup("down"), errors.New("down needs the launch FILE given to up")}
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			f := &runFlags{file: args[0], defaultName: upName(args[0])}
			app, err := f.launch(pflag.NewFlagSet("down", pflag.ContinueOnError), s.user, "", nil)
			if err != nil {
				return err
			}
			name := app.Name
			c, err := container.FindName(s.store, name)
			if err != nil {
				return err
			}
			if abs, _ := filepath.Abs(args[0]); c.Config.LaunchFile != abs {
				return fmt.Errorf("container %s was not started by `sandbox up %s`: left alone (remove it with sandbox rm)", name, args[0])
			}
			if _, err := container.Stop(s.store, c.ID, stopTimeout(timeout)); err != nil {
				return err
			}
			if _, err := container.RemoveRef(s.store, c.ID, false); err != nil {
				return err
			}
			fmt.Println(c.Name)
			return nil
		},
	}
}
