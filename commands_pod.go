package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/format"
	"github.com/sandbox-dev/sandbox/image"
)

func podCreateCommand() *command {
	var name, net, hostname string
	var ports []string
	return &command{
		name:    "pod create",
		usage:   "--name NAME [-p [IP:]HOST:CTR[/udp]]... [--net slirp|host|none] [--hostname NAME]",
		summary: "Make a pod: containers run in it (run --pod NAME) share its network, published ports, IPC and hostname.",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&name, "name", "", "the pod's name")
			stringArrayVarP(fs, &ports, "publish", "p", "publish a port of the pod on the host")
			fs.StringVar(&net, "net", "", "the pod's network: slirp (private, the default), host or none")
			fs.StringVar(&hostname, "hostname", "", "the pod's hostname (default: its short ID)")
		},
		interspersed: true,
		args:         exactly(0, "takes no arguments (name the pod with --name)"),
		run: func(fs *pflag.FlagSet, args []string) error {
			if name == "" {
				return &usageError{lookup("pod create"), fmt.Errorf("needs --name NAME")}
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			cfg := container.Config{Network: net, Ports: ports, Hostname: hostname, Cgroups: s.user.Cgroups}
			io := stdio()
			c, err := container.CreatePod(s.store, name, cfg, io)
			if err != nil {
				return err
			}
			fmt.Println(c.ID)
			return nil
		},
	}
}

func podPsCommand() *command {
	return &command{
		name:    "pod ps",
		usage:   "",
		summary: "List pods: their infra's state and how many of their containers run.",
		args:    exactly(0, "takes no arguments"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			all, err := container.List(s.store)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "POD ID\tNAME\tSTATUS\tCREATED\tCONTAINERS\tRUNNING")
			for _, infra := range all {
				if !infra.Config.PodInfra {
					continue
				}
				members, err := container.PodMembers(s.store, infra.Config.Pod)
				if err != nil {
					return err
				}
				running := 0
				for _, m := range members[1:] {
					if container.CurrentState(s.store, m.ID).Status == container.Running {
						running++
					}
				}
				status := "Exited"
				if container.CurrentState(s.store, infra.ID).Status == container.Running {
					status = "Running"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\n", infra.ID[:12], infra.Config.Pod, status, format.Ago(infra.Created), len(members)-1, running)
			}
			return w.Flush()
		},
	}
}

func podRmCommand() *command {
	var force bool
	return &command{
		name:         "pod rm",
		usage:        "[-f] POD...",
		summary:      "Remove pods with their containers; -f stops them first.",
		flags:        func(fs *pflag.FlagSet) { fs.BoolVarP(&force, "force", "f", false, "stop running pods first") },
		interspersed: true,
		args:         atLeast(1, "needs a POD"),
		run: func(fs *pflag.FlagSet, args []string) error {
			return eachName(args, func(st *image.Store, name string) error {
				_, err := container.RemovePod(st, name, force)
				return err
			})
		},
	}
}

func podStopCommand() *command {
	var timeout int
	return &command{
		name:         "pod stop",
		usage:        "[-t SECONDS] POD...",
		summary:      "Stop pods: their containers, then the infra.",
		flags:        func(fs *pflag.FlagSet) { stopTimeoutFlag(fs, &timeout) },
		interspersed: true,
		args:         atLeast(1, "needs a POD"),
		run: func(fs *pflag.FlagSet, args []string) error {
			return eachName(args, func(st *image.Store, name string) error {
				return container.StopPod(st, name, stopTimeout(timeout))
			})
		},
	}
}

func podStartCommand() *command {
	return &command{
		name:    "pod start",
		usage:   "POD...",
		summary: "Start pods: the infra, then their containers, detached.",
		args:    atLeast(1, "needs a POD"),
		run: func(fs *pflag.FlagSet, args []string) error {
			return eachName(args, func(st *image.Store, name string) error {
				return container.StartPod(st, name, stdio())
			})
		},
	}
}

func podInspectCommand() *command {
	return &command{
		name:    "pod inspect",
		usage:   "POD...",
		summary: "Show pods as JSON: network, ports, hostname and containers.",
		args:    atLeast(1, "needs a POD"),
		run: func(fs *pflag.FlagSet, args []string) error {
			return inspectEach(args, container.InspectPod)
		},
	}
}
