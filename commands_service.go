package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/sandbox-dev/sandbox/api/backend"
	"github.com/sandbox-dev/sandbox/api/calls"
	"github.com/sandbox-dev/sandbox/api/service"
	"github.com/sandbox-dev/sandbox/config"
)

// serviceSocket is where `system service` listens by default.
func serviceSocket(paths config.Paths) string {
	return "unix://" + filepath.Join(paths.Runtime, "sandbox.sock")
}

func systemServiceCommand() *command {
	var idle int
	return &command{
		name:  "system service",
		usage: "[--time SECONDS] [unix:///PATH]",
		summary: "Serve the Docker Engine API (" + calls.Version + ") on a socket only you can use, for the docker CLI, Compose and the like " +
			"(DOCKER_HOST=unix://$XDG_RUNTIME_DIR/sandbox/sandbox.sock; docs/api.md).",
		flags: func(fs *pflag.FlagSet) {
			fs.IntVarP(&idle, "time", "t", 5, "exit after this many seconds without a request (0: never)")
		},
		args: between(0, 1, "takes at most one URI"),
		run: func(fs *pflag.FlagSet, args []string) error {
			if idle < 0 {
				return &usageError{lookup("system service"), fmt.Errorf("--time %d: give 0 (never) or more seconds", idle)}
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			uri := serviceSocket(s.paths)
			if len(args) == 1 {
				uri = args[0]
			}
			// Socket activation (a systemd user socket unit) first.
			l, err := service.Activated()
			if err != nil {
				return err
			}
			where := fmt.Sprintf("%s (export DOCKER_HOST=%s)", uri, uri)
			o := service.Options{Idle: time.Duration(idle) * time.Second, Version: version, RunDir: s.paths.Runtime}
			if l != nil {
				where = "the socket systemd passed"
			} else if l, o.Unlink, err = service.Listen(uri); err != nil {
				return err
			}
			o.Backend = &backend.Backend{Store: s.store, User: s.user, Warn: warn, PullOptions: *(&pullFlags{tlsVerify: true}).options(s, true)}
			o.Backend.PullOptions.InsecureLoopback = true // as Docker's daemon: 127.0.0.0/8 may be plain HTTP
			fmt.Fprintf(os.Stderr, "sandbox: serving the Docker API %s on %s\n", calls.Version, where)
			return service.Run(l, o)
		},
	}
}
