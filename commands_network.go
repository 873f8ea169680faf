package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/sandbox-dev/sandbox/container"
)

func networkCreateCommand() *command {
	var o container.NetworkOptions
	var labels []string
	var driver string
	return &command{
		name:    "network create",
		usage:   "[--subnet CIDR] [--gateway IP] [--label KEY=VALUE] NAME",
		summary: "Make a network: containers run with --network NAME reach each other by name (docs/networks.md).",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&o.Subnet, "subnet", "", "the network's IPv4 subnet (default: the first free 10.89.N.0/24)")
			fs.StringVar(&o.Gateway, "gateway", "", "the address the network's DNS answers on (default: the subnet's first)")
			stringArrayVarP(fs, &labels, "label", "", "a KEY=VALUE label")
			fs.StringVarP(&driver, "driver", "d", "bridge", "the driver: bridge, the only one")
		},
		args: exactly(1, "needs a network NAME"),
		run: func(fs *pflag.FlagSet, args []string) error {
			if driver != "bridge" {
				return fmt.Errorf("--driver %q: bridge is the only driver (a switch of the user's, docs/networks.md)", driver)
			}
			for _, l := range labels {
				k, v, _ := strings.Cut(l, "=")
				if k == "" {
					return fmt.Errorf("--label %q: want KEY=VALUE", l)
				}
				if o.Labels == nil {
					o.Labels = map[string]string{}
				}
				o.Labels[k] = v
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			n, err := container.CreateNetwork(s.store, args[0], o)
			if err != nil {
				return err
			}
			fmt.Println(n.Name)
			return nil
		},
	}
}

func networkLsCommand() *command {
	var quiet bool
	return &command{
		name:    "network ls",
		usage:   "[-q]",
		summary: "List networks.",
		flags:   func(fs *pflag.FlagSet) { fs.BoolVarP(&quiet, "quiet", "q", false, "print only names") },
		args:    exactly(0, "takes no arguments"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			nets, err := container.Networks(s.store)
			if err != nil {
				return err
			}
			if quiet {
				for _, n := range nets {
					fmt.Println(n.Name)
				}
				return nil
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "NETWORK ID\tNAME\tDRIVER\tSUBNET")
			for _, n := range nets {
				subnet := ""
				if len(n.Subnets) > 0 {
					subnet = n.Subnets[0].Subnet
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", n.ID[:12], n.Name, n.Driver, subnet)
			}
			return w.Flush()
		},
	}
}

func networkInspectCommand() *command {
	return &command{
		name:    "network inspect",
		usage:   "NAME...",
		summary: "Show networks as JSON.",
		args:    atLeast(1, "needs a network NAME"),
		run: func(fs *pflag.FlagSet, args []string) error {
			return inspectEach(args, container.InspectNetwork)
		},
	}
}

func networkRmCommand() *command {
	return &command{
		name:    "network rm",
		usage:   "NAME...",
		summary: "Remove networks; one a container is on is refused, naming it.",
		args:    atLeast(1, "needs a network NAME"),
		run: func(fs *pflag.FlagSet, args []string) error {
			return eachName(args, container.RemoveNetwork)
		},
	}
}

func networkPruneCommand() *command {
	return &command{
		name:    "network prune",
		usage:   "",
		summary: "Remove every network no container is on.",
		args:    exactly(0, "takes no arguments"),
		run: func(fs *pflag.FlagSet, args []string) error {
			return prune(container.PruneNetworks)
		},
	}
}

func networkConnectCommand() *command {
	var aliases []string
	return &command{
		name:    "network connect",
		usage:   "[--alias NAME] NETWORK CONTAINER",
		summary: "Put a container on a network: a running one with a network of its own at once, a stopped one from its next start.",
		flags: func(fs *pflag.FlagSet) {
			stringArrayVarP(fs, &aliases, "alias", "", "another name for it on its networks")
		},
		args: exactly(2, "needs a NETWORK and a CONTAINER"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			return container.ConnectNetwork(s.store, args[0], args[1], aliases)
		},
	}
}

func networkDisconnectCommand() *command {
	return &command{
		name:    "network disconnect",
		usage:   "NETWORK CONTAINER",
		summary: "Take a container off a network: a running one at once, a stopped one from its next start.",
		args:    exactly(2, "needs a NETWORK and a CONTAINER"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			return container.DisconnectNetwork(s.store, args[0], args[1])
		},
	}
}
