package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/sandbox-dev/sandbox/container"
)

func healthcheckRunCommand() *command {
	return &command{
		name:    "healthcheck run",
		usage:   "CONTAINER",
		summary: "Run a container's health check now: exit 0 when it passes, 1 when it fails (recorded as the periodic ones are).",
		args:    exactly(1, "needs a CONTAINER"),
		run: func(fs *pflag.FlagSet, args []string) error {
			s, err := openSetup()
			if err != nil {
				return err
			}
			res, err := container.HealthcheckRun(s.store, args[0])
			if err != nil {
				return err
			}
			if res.ExitCode != 0 {
				fmt.Println("unhealthy")
				return exitCode(1)
			}
			fmt.Println("healthy")
			return nil
		},
	}
}
