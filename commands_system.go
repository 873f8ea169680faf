package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/format"
)

func systemDfCommand() *command {
	var spec string
	return &command{
		name:    "system df",
		usage:   "[--format json|TEMPLATE]",
		summary: "Show the disk space images, layers, containers and volumes use (shared layers counted once).",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&spec, "format", "", `"json" for a JSON array, or a Go template: Type, TotalCount, Active, Size, Shared`)
		},
		interspersed: true,
		args:         exactly(0, "takes no arguments"),
		run: func(fs *pflag.FlagSet, args []string) error {
			out, err := listFormat(spec, dfTable, dfRow{}, "system df")
			if err != nil {
				return err
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			u, err := s.store.DiskUsage()
			if err != nil {
				return err
			}
			cu, err := container.DiskUsage(s.store)
			if err != nil {
				return err
			}
			users, _ := container.UsersOf(s.store)
			active := 0
			for id := range u.PerImage {
				if len(users[id]) > 0 {
					active++
				}
			}
			rows := []dfRow{
				{Type: "Images", TotalCount: u.Images, Active: active, Size: format.Size(u.Size), Shared: format.Size(u.Shared)},
				{Type: "Layers", TotalCount: u.Layers, Active: u.Layers, Size: format.Size(u.Size), Shared: format.Size(u.Shared)},
				{Type: "Containers", TotalCount: cu.Count, Active: cu.Count, Size: format.Size(cu.Size), Shared: "-"},
			}
			vn, va, vs, err := container.VolumeUsage(s.store)
			if err != nil {
				return err
			}
			rows = append(rows, dfRow{Type: "Local Volumes", TotalCount: vn, Active: va, Size: format.Size(vs), Shared: "-"})
			if out == nil {
				return printJSON(rows)
			}
			return out.Execute(os.Stdout, rows, dfColumns)
		},
	}
}

// errProblems ends a `system check` that found problems: exit 1, as
// Podman's does, after the report.
var errProblems = exitCode(1)

func systemCheckCommand() *command {
	var repair bool
	return &command{
		name:    "system check",
		usage:   "[--repair]",
		summary: "Check every layer, image, blob and container of the store; with --repair, remove what is damaged and what depends on it.",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&repair, "repair", false, "remove what is damaged and what depends on it (never what a running container uses)")
		},
		interspersed: true,
		args:         exactly(0, "takes no arguments"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			r, err := container.CheckStore(s.store, repair)
			if err != nil {
				return err
			}
			for _, p := range r.Problems {
				fmt.Println(p)
			}
			fmt.Printf("checked %d images, %d layers, %d blobs, %d containers in %s: ", r.Images, r.Layers, r.Blobs, r.Containers, s.store.Root)
			switch {
			case len(r.Problems) == 0:
				fmt.Println("no problems")
				return nil
			case r.Repaired:
				fmt.Printf("%d problems, %d repaired\n", len(r.Problems), len(r.Problems)-r.Remaining)
				if r.Remaining == 0 {
					return nil
				}
			default:
				fmt.Printf("%d problems; run sandbox system check --repair to remove what is damaged\n", len(r.Problems))
			}
			return errProblems
		},
	}
}

func systemResetCommand() *command {
	var force bool
	return &command{
		name:    "system reset",
		usage:   "[--force]",
		summary: "Remove every container and image and the whole store (config.toml and login credentials stay).",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVarP(&force, "force", "f", false, "do not ask for confirmation")
		},
		interspersed: true,
		args:         exactly(0, "takes no arguments"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			if !force {
				fmt.Printf("This removes every container (running ones are stopped) and every image in %s.\nAre you sure? [y/N] ", s.store.Root)
				line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
				if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
					fmt.Println("nothing removed")
					return nil
				}
			}
			return container.Reset(s.store)
		},
	}
}
