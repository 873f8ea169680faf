package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/format"
	"github.com/sandbox-dev/sandbox/network"
	"github.com/sandbox-dev/sandbox/runtime"
)

func createCommand() *command {
	f := &runFlags{}
	return &command{
		name:    "create",
		usage:   "[FLAGS] IMAGE [COMMAND [ARG...]]",
		summary: "Create a container without starting it; print its ID.",
		flags:   func(fs *pflag.FlagSet) { f.add(fs, true) },
		run: func(fs *pflag.FlagSet, args []string) error {
			img, cmd, err := f.positional("create", fs, args)
			if err != nil {
				return err
			}
			f.validate = (*container.Config).Validate
			s, cfg, io, err := f.ready(fs, img, cmd)
			if err != nil {
				return err
			}
			c, lock, err := container.Create(s.store, cfg, io)
			if err != nil {
				return err
			}
			lock.Close()
			fmt.Println(c.ID)
			return nil
		},
	}
}

func startCommand() *command {
	var attach, interactive bool
	return &command{
		name:    "start",
		usage:   "[-a] [-i] CONTAINER...",
		summary: "Start created or stopped containers (on their own writable layer).",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVarP(&attach, "attach", "a", false, "run in the foreground and return its exit code")
			fs.BoolVarP(&interactive, "interactive", "i", false, "with -a: pass standard input")
		},
		interspersed: true,
		args:         atLeast(1, "needs a CONTAINER"),
		run: func(fs *pflag.FlagSet, args []string) error {
			if attach && len(args) > 1 {
				return &usageError{lookup("start"), errors.New("start -a takes one CONTAINER")}
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			io := stdio()
			if !interactive {
				io.Stdin = nil
			}
			var errs []error
			for _, a := range args {
				c, code, err := container.Start(s.store, a, attach, io)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if attach {
					return exitCode(code)
				}
				fmt.Println(c.Name)
			}
			return errors.Join(errs...)
		},
	}
}

func stopCommand() *command {
	var timeout int
	return &command{
		name:         "stop",
		usage:        "[-t SECONDS] CONTAINER...",
		summary:      "Stop containers: SIGTERM (or the image's stop signal), then SIGKILL after the timeout.",
		flags:        func(fs *pflag.FlagSet) { stopTimeoutFlag(fs, &timeout) },
		interspersed: true,
		run: func(fs *pflag.FlagSet, args []string) error {
			return eachContainer("stop", args, func(s *setup, ref string) error {
				c, err := container.Stop(s.store, ref, stopTimeout(timeout))
				if err == nil {
					fmt.Println(c.Name)
				}
				return err
			})
		},
	}
}

func killCommand() *command {
	var sig string
	return &command{
		name:         "kill",
		usage:        "[-s SIGNAL] CONTAINER...",
		summary:      "Send a signal (default SIGKILL) to containers.",
		flags:        func(fs *pflag.FlagSet) { fs.StringVarP(&sig, "signal", "s", "KILL", "the signal: name or number") },
		interspersed: true,
		run: func(fs *pflag.FlagSet, args []string) error {
			n, err := container.ParseSignal(sig)
			if err != nil {
				return &usageError{lookup("kill"), err}
			}
			return eachContainer("kill", args, func(s *setup, ref string) error {
				c, err := container.Kill(s.store, ref, n)
				if err == nil {
					fmt.Println(c.Name)
				}
				return err
			})
		},
	}
}

func waitCommand() *command {
	return &command{
		name:         "wait",
		usage:        "CONTAINER...",
		summary:      "Wait for containers to exit and print their exit codes.",
		interspersed: true,
		run: func(fs *pflag.FlagSet, args []string) error {
			return eachContainer("wait", args, func(s *setup, ref string) error {
				code, err := container.Wait(s.store, ref)
				if err == nil {
					fmt.Println(code)
				}
				return err
			})
		},
	}
}

func restartCommand() *command {
	var timeout int
	return &command{
		name:         "restart",
		usage:        "[-t SECONDS] CONTAINER...",
		summary:      "Stop and start containers again.",
		flags:        func(fs *pflag.FlagSet) { stopTimeoutFlag(fs, &timeout) },
		interspersed: true,
		run: func(fs *pflag.FlagSet, args []string) error {
			return eachContainer("restart", args, func(s *setup, ref string) error {
				if _, err := container.Stop(s.store, ref, stopTimeout(timeout)); err != nil {
					return err
				}
				c, _, err := container.Start(s.store, ref, false, stdio())
				if err == nil {
					fmt.Println(c.Name)
				}
				return err
			})
		},
	}
}

func rmCommand() *command {
	var force, volumes bool
	return &command{
		name:    "rm",
		usage:   "[-f] CONTAINER...",
		summary: "Remove containers (their writable layer and records; never a volume's host directory).",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVarP(&force, "force", "f", false, "stop a running container first")
			fs.BoolVarP(&volumes, "volumes", "v", false, "remove its anonymous volumes too (-v /path, the image's VOLUME); named volumes never")
		},
		interspersed: true,
		run: func(fs *pflag.FlagSet, args []string) error {
			return eachContainer("rm", args, func(s *setup, ref string) error {
				c, err := container.RemoveRef(s.store, ref, force, volumes)
				if err == nil {
					fmt.Println(c.Name)
				}
				return err
			})
		},
	}
}

// eachContainer runs fn for each argument, going on past failures.
func eachContainer(name string, args []string, fn func(s *setup, ref string) error) error {
	if len(args) == 0 {
		return &usageError{lookup(name), fmt.Errorf("%s needs a CONTAINER", name)}
	}
	s, err := openSetup()
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range args {
		errs = append(errs, fn(s, a))
	}
	return errors.Join(errs...)
}

func renameCommand() *command {
	return &command{
		name:         "rename",
		usage:        "CONTAINER NEW-NAME",
		summary:      "Rename a container.",
		interspersed: true,
		args:         exactly(2, "needs a CONTAINER and a NEW-NAME"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			return container.Rename(s.store, args[0], args[1])
		},
	}
}

func logsCommand() *command {
	var o container.LogOptions
	var tail string
	return &command{
		name:    "logs",
		usage:   "[-f] [--tail N] [-t] CONTAINER",
		summary: "Print what a detached container wrote.",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVarP(&o.Follow, "follow", "f", false, "keep printing until the container exits")
			fs.StringVar(&tail, "tail", "all", "print only the last N lines")
			fs.BoolVarP(&o.Timestamps, "timestamps", "t", false, "prefix each line with its time")
		},
		interspersed: true,
		args:         exactly(1, "needs one CONTAINER"),
		run: func(fs *pflag.FlagSet, args []string) error {
			o.Tail = -1
			if tail != "all" {
				if _, err := fmt.Sscanf(tail, "%d", &o.Tail); err != nil || o.Tail < 0 {
					return &usageError{lookup("logs"), fmt.Errorf("--tail %q: want a number of lines or all", tail)}
				}
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			return container.Logs(s.store, args[0], o, os.Stdout, os.Stderr)
		},
	}
}

func execCommand() *command {
	var interactive, tty bool
	var env []string
	var workdir, user string
	return &command{
		name:    "exec",
		usage:   "[FLAGS] CONTAINER COMMAND [ARG...]",
		summary: "Run a command in a running container.",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVarP(&interactive, "interactive", "i", false, "keep standard input open")
			fs.BoolVarP(&tty, "tty", "t", false, "give the command a terminal")
			stringArrayVarP(fs, &env, "env", "e", "set an environment variable")
			fs.StringVarP(&workdir, "workdir", "w", "", "working directory")
			fs.StringVarP(&user, "user", "u", "", "user to run as")
		},
		args: atLeast(2, "needs a CONTAINER and a COMMAND"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			io := stdio()
			if !interactive {
				io.Stdin = nil
			}
			req := runtime.ExecRequest{Args: args[1:], Env: container.ParseEnv(env), Cwd: workdir, User: user, TTY: tty}
			code, err := container.Exec(s.store, args[0], req, io)
			if err != nil {
				return err
			}
			return exitCode(code)
		},
	}
}

func psCommand() *command {
	var all, quiet, pod bool
	var spec string
	var filters []string
	return &command{
		name:    "ps",
		usage:   "[-a] [-q] [--format json|TEMPLATE] [--filter KEY=VALUE]",
		summary: "List running containers (-a: all).",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVarP(&all, "all", "a", false, "list stopped containers too")
			fs.BoolVarP(&quiet, "quiet", "q", false, "print only IDs")
			fs.StringVar(&spec, "format", "", `"json" for a JSON array, or a Go template ("table {{.Names}}\t{{.Status}}"): ID, Image, Command, CreatedAt, RunningFor, Status, State, Ports, Names, PodName`)
			stringArrayVarP(fs, &filters, "filter", "f", "status=created|running|exited, name=SUBSTRING, id=PREFIX, ancestor=IMAGE, pod=NAME, label=KEY[=VALUE]")
			fs.BoolVar(&pod, "pod", false, "add the pod's name (PODNAME) to the table")
		},
		interspersed: true,
		args:         exactly(0, "takes no arguments"),
		run: func(fs *pflag.FlagSet, args []string) error {
			table := psTable
			if pod {
				table = psPodTable
			}
			out, err := listFormat(spec, table, psRow{}, "ps")
			if err != nil {
				return err
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			rows, err := container.PS(s.store, all, filters)
			if err != nil {
				return &usageError{lookup("ps"), err}
			}
			switch {
			case quiet:
				for _, r := range rows {
					fmt.Println(r.ID[:12])
				}
				return nil
			case out == nil:
				return printJSON(rows)
			}
			return out.Execute(os.Stdout, psRows(rows), psColumns)
		},
	}
}

// listFormat parses a list command's --format: nil for "json", the
// default table for "". A mistake is a usage error naming the fields.
func listFormat(spec, table string, row any, cmd string) (*format.Template, error) {
	if spec == format.JSON {
		return nil, nil
	}
	if spec == "" {
		spec = table
	}
	t, err := format.Parse(spec, row)
	if err != nil {
		return nil, &usageError{lookup(cmd), err}
	}
	return t, nil
}

// containerCommand holds `container prune` (and `container ls`).
// containerPruneCommand is `container prune`.
func containerPruneCommand() *command {
	return &command{
		name:         "container prune",
		usage:        "",
		summary:      "Remove every container that is not running.",
		interspersed: true,
		args:         exactly(0, "takes no arguments"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			removed, err := container.Prune(s.store)
			for _, c := range removed {
				fmt.Printf("Deleted: %s\n", c.ID)
			}
			return err
		},
	}
}

// stopTimeoutFlag is -t of stop and restart; without it, the container's
// stop_timeout applies.
func stopTimeoutFlag(fs *pflag.FlagSet, timeout *int) {
	fs.IntVarP(timeout, "time", "t", -1, "seconds to wait before killing (default: the container's stop_timeout, 10 unless set)")
}

func stopTimeout(seconds int) time.Duration {
	if seconds < 0 {
		return -1
	}
	return time.Duration(seconds) * time.Second
}

func portCommand() *command {
	var spec string
	return &command{
		name:    "port",
		usage:   "[--format json|TEMPLATE] CONTAINER [PORT[/PROTO]]",
		summary: "List a container's published ports (or where one port is published).",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&spec, "format", "", `"json" for a JSON array, or a Go template: ContainerPort, Protocol, HostIP, HostPort`)
		},
		interspersed: true,
		args:         between(1, 2, "needs a CONTAINER, and optionally one of its ports"),
		run: func(fs *pflag.FlagSet, args []string) error {
			var out *format.Template
			if spec != "" {
				var err error
				if out, err = listFormat(spec, "", portRow{}, "port"); err != nil {
					return err
				}
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			c, err := container.Find(s.store, args[0])
			if err != nil {
				return err
			}
			ports := container.Ports(c)
			if len(args) == 2 {
				num, proto, _ := strings.Cut(args[1], "/")
				if proto == "" {
					proto = "tcp"
				}
				want, err := strconv.Atoi(num)
				if err != nil || (proto != "tcp" && proto != "udp") {
					return &usageError{lookup("port"), fmt.Errorf("invalid port %q: want a number, optionally with /tcp or /udp", args[1])}
				}
				var match []network.Port
				for _, p := range ports {
					if p.ContainerPort == want && p.Proto == proto {
						match = append(match, p)
					}
				}
				if len(match) == 0 {
					return fmt.Errorf("container %s does not publish port %d/%s", c.Name, want, proto)
				}
				if spec == "" {
					// Docker's form for one port: only where it is published.
					for _, p := range match {
						fmt.Println(net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort)))
					}
					return nil
				}
				ports = match
			}
			rows := []portRow{}
			for _, p := range ports {
				rows = append(rows, portRow{ContainerPort: p.ContainerPort, Protocol: p.Proto, HostIP: p.HostIP, HostPort: p.HostPort})
			}
			switch {
			case spec == format.JSON:
				return printJSON(rows)
			case out != nil:
				return out.Execute(os.Stdout, rows, portColumns)
			}
			// Docker's and Podman's form: "80/tcp -> 127.0.0.1:8080".
			for _, p := range rows {
				fmt.Printf("%d/%s -> %s\n", p.ContainerPort, p.Protocol, net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort)))
			}
			return nil
		},
	}
}
