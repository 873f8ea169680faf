package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/sandbox-dev/sandbox/build"
	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/runtime"
)

func buildCommand() *command {
	var (
		file, target, network, timestamp string
		tags, buildArgs                  []string
		noCache, quiet                   bool
		pull                             pullFlags
	)
	return &command{
		name:    "build",
		long:    true,
		usage:   "[-f FILE] [-t NAME[:TAG]]... [--build-arg K=V]... [--target STAGE] [--no-cache] [--net host|none|slirp] [--timestamp SECONDS] CONTEXT",
		summary: "Build an image from a Containerfile (or Dockerfile) and a context directory.",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVarP(&file, "file", "f", "", "the Containerfile (default: Containerfile, then Dockerfile, in CONTEXT)")
			stringArrayVarP(fs, &tags, "tag", "t", "name the image (repeatable)")
			stringArrayVarP(fs, &buildArgs, "build-arg", "", "KEY=VALUE for an ARG (KEY alone: from the environment)")
			fs.StringVar(&target, "target", "", "build this stage (default: the last)")
			fs.BoolVar(&noCache, "no-cache", false, "run every step again")
			fs.StringVar(&network, "net", "host", "RUN's network: host, none or slirp")
			fs.StringVar(&network, "network", "host", "same as --net")
			fs.StringVar(&timestamp, "timestamp", "", "seconds since the epoch for every created time and new file mtime: the same input gives the same image ID (default: $SOURCE_DATE_EPOCH if set)")
			fs.BoolVarP(&quiet, "quiet", "q", false, "print only the image ID")
			pull.add(fs)
		},
		interspersed: true,
		args:         exactly(1, "needs one CONTEXT directory"),
		run: func(fs *pflag.FlagSet, args []string) error {
			u := lookup("build")
			o := build.Options{Context: args[0], File: file, Tags: tags, Target: target, NoCache: noCache, Quiet: quiet,
				Network: network, Out: os.Stdout, Warn: warn, BuildArgs: map[string]string{}}
			for _, kv := range buildArgs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					if v, ok = os.LookupEnv(k); !ok {
						continue
					}
				}
				if k == "" {
					return &usageError{u, fmt.Errorf("--build-arg %q: want KEY=VALUE", kv)}
				}
				o.BuildArgs[k] = v
			}
			if !fs.Changed("timestamp") {
				timestamp = os.Getenv("SOURCE_DATE_EPOCH")
			}
			if timestamp != "" {
				sec, err := strconv.ParseInt(timestamp, 10, 64)
				if err != nil || sec < 0 {
					return &usageError{u, fmt.Errorf("--timestamp %q: want seconds since the epoch, like 0", timestamp)}
				}
				t := time.Unix(sec, 0).UTC()
				o.Timestamp = &t
			}
			net := config.Lookup("network")
			if _, err := net.CheckString(network, ""); err != nil {
				return &usageError{u, net.FlagError(network, err)}
			}
			for _, t := range tags {
				if _, err := config.Lookup("image").CheckString(t, ""); err != nil {
					return &usageError{u, fmt.Errorf("-t %q: %w", t, err)}
				}
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			o.Pull = *pull.options(s, quiet)
			// RUN starts from config.toml's launch defaults, as run does.
			o.Run = container.FromApp(config.Merge(config.Defaults(), s.user.Defaults))
			o.Run.StorageDriver = fuseoverlay.Driver(s.user.StorageDriver)
			o.Run.Cgroups = s.user.Cgroups
			o.Run.StopTimeout = nil
			img, err := build.Build(s.store, o)
			var se *build.StepError
			switch {
			case errors.As(err, &se):
				return &runtime.Error{Code: se.Code, Msg: se.Error(), Err: se}
			case err != nil:
				return err
			}
			fmt.Println(strings.TrimPrefix(img.ID, "sha256:"))
			return nil
		},
	}
}
