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
			fs.String("name", "", "the container's name (default: the file's name key, or its base name)")
			fs.MarkHidden("config") // the file is the argument
		},
		args: exactly(1, "needs one launch FILE (see docs/config.md)"),
		run: func(fs *pflag.FlagSet, args []string) error {
			if fs.Changed("config") {
				return &usageError{lookup("up"), errors.New("give the launch file as the argument, not with --config")}
			}
			f.file, f.detach, f.defaultName = args[0], true, upName(args[0])
			s, cfg, io, err := f.ready(fs, "", nil)
			if err != nil {
				return err
			}
			cfg.LaunchFile, _ = filepath.Abs(f.file)
			res, err := container.Up(s.store, cfg, f.file, io)
			if err != nil {
				return err
			}
			if res.UpToDate {
				fmt.Printf("%s is up to date\n", res.Container.Name)
				return nil
			}
			fmt.Println(res.Container.ID)
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
		args:         exactly(1, "needs the launch FILE given to up"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			f := &runFlags{file: args[0], defaultName: upName(args[0])}
			app, err := f.launch(pflag.NewFlagSet("down", pflag.ContinueOnError), s.user, "", nil)
			if err != nil {
				return err
			}
			abs, _ := filepath.Abs(args[0])
			c, err := container.Down(s.store, app.Name, abs, args[0], stopTimeout(timeout))
			if err != nil {
				return err
			}
			fmt.Println(c.Name)
			return nil
		},
	}
}
