package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/sandbox-dev/sandbox/container"
)

func volumeCreateCommand() *command {
	return &command{
		name:    "volume create",
		usage:   "[NAME]",
		summary: "Make a named volume (a random name without NAME); run -v NAME:/path makes one on first use too.",
		args:    between(0, 1, "takes at most one NAME"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			v, err := container.CreateVolume(s.store, name)
			if err != nil {
				return err
			}
			fmt.Println(v.Name)
			return nil
		},
	}
}

func volumeLsCommand() *command {
	var quiet bool
	return &command{
		name:    "volume ls",
		usage:   "[-q]",
		summary: "List named volumes.",
		flags:   func(fs *pflag.FlagSet) { fs.BoolVarP(&quiet, "quiet", "q", false, "print only names") },
		args:    exactly(0, "takes no arguments"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			vols, err := container.Volumes(s.store)
			if err != nil {
				return err
			}
			if quiet {
				for _, v := range vols {
					fmt.Println(v.Name)
				}
				return nil
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "DRIVER\tVOLUME NAME")
			for _, v := range vols {
				fmt.Fprintf(w, "%s\t%s\n", v.Driver, v.Name)
			}
			return w.Flush()
		},
	}
}

func volumeInspectCommand() *command {
	return &command{
		name:    "volume inspect",
		usage:   "NAME...",
		summary: "Show named volumes as JSON.",
		args:    atLeast(1, "needs a volume NAME"),
		run: func(fs *pflag.FlagSet, args []string) error {
			return inspectEach(args, container.InspectVolume)
		},
	}
}

func volumeRmCommand() *command {
	return &command{
		name:    "volume rm",
		usage:   "NAME...",
		summary: "Remove named volumes and their data; one a container mounts is refused.",
		args:    atLeast(1, "needs a volume NAME"),
		run: func(fs *pflag.FlagSet, args []string) error {
			return eachName(args, container.RemoveVolume)
		},
	}
}

func volumePruneCommand() *command {
	return &command{
		name:    "volume prune",
		usage:   "",
		summary: "Remove every named volume no container mounts.",
		args:    exactly(0, "takes no arguments"),
		run: func(fs *pflag.FlagSet, args []string) error {
			return prune(container.PruneVolumes)
		},
	}
}
