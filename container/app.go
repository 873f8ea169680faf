package container

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/runtime"
)

// FromApp turns merged launch settings into a container config (the
// per-invocation choices, like --rm or -d, are the caller's to add).
// Mounts are sorted by target, so a mount inside another comes after it.
func FromApp(a *config.App) Config {
	c := Config{
		Image: a.Image, Name: a.Name, Cmd: a.Command, Workdir: a.Workdir, User: a.User,
		Hostname: a.Hostname, Pod: a.Pod, ReadOnly: a.ReadOnly, Network: a.Network, NetworkAliases: a.NetworkAliases, Ports: a.Ports,
		DNS: a.DNS, AddHosts: a.AddHosts, Devices: a.Devices, ShmSize: a.ShmSize, Labels: a.Labels, CIDFile: a.CIDFile, Pull: a.Pull, Ulimits: a.Ulimits, Sysctls: a.Sysctls,
		Resources: a.Resources, Security: a.Security, Restart: a.Restart, StopTimeout: &a.StopTimeout,
	}
	c.Entrypoint, c.EntrypointSet = a.Entrypoint, a.EntrypointSet
	c.Health, c.NoHealthcheck, c.GroupAdd, c.UserNS = healthFromApp(a), a.NoHealthcheck, a.GroupAdd, a.UserNS
	if a.Privileged {
		// As Docker's --privileged, within what a user namespace gives.
		c.Privileged = true
		c.Security.CapAdd, c.Security.CapDrop = []string{"ALL"}, nil
		c.Security.Seccomp, c.Security.NoNewPrivileges = "unconfined", false
		off := false
		c.Security.FakeRoot = &off // its filter too: no seccomp filter at all
	}
	c.Env = a.EnvList() // env_file's variables are in it (config.LoadApp)
	for _, m := range a.Mounts {
		rm := runtime.Mount{Type: m.Type, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
		var opts []string
		if m.Type == "tmpfs" && m.Size > 0 {
			opts = append(opts, "size="+strconv.FormatInt(m.Size, 10))
		}
		if m.Type == "tmpfs" && m.Mode != 0 {
			opts = append(opts, "mode="+strconv.FormatUint(uint64(m.Mode), 8))
		}
		rm.Options = strings.Join(opts, ",")
		c.Volumes = append(c.Volumes, rm)
	}
	sort.SliceStable(c.Volumes, func(i, j int) bool { return c.Volumes[i].Target < c.Volumes[j].Target })
	return c
}

// healthFromApp is the health check the launch asks for: a command, or
// only timings for the image's (nil: neither). Durations were checked.
func healthFromApp(a *config.App) *runtime.HealthCheck {
	if a.HealthCmd == "" && a.HealthInterval == "" && a.HealthTimeout == "" && a.HealthStartPeriod == "" && a.HealthRetries == 0 {
		return nil
	}
	h := &runtime.HealthCheck{Retries: a.HealthRetries}
	if a.HealthCmd != "" {
		h.Test = []string{"/bin/sh", "-c", a.HealthCmd}
	}
	h.Interval, _ = time.ParseDuration(a.HealthInterval)
	h.Timeout, _ = time.ParseDuration(a.HealthTimeout)
	h.StartPeriod, _ = time.ParseDuration(a.HealthStartPeriod)
	return h
}

// healthCheck is the container's health check: the launch's, with what it
// leaves out taken from the image's HEALTHCHECK, then Docker's defaults;
// nil for none (no test, NONE, or --no-healthcheck).
func healthCheck(cfg Config, img *image.Image) *runtime.HealthCheck {
	if cfg.NoHealthcheck {
		return nil
	}
	h := runtime.HealthCheck{}
	if cfg.Health != nil {
		h = *cfg.Health
	}
	if ih := img.Config.Config.Healthcheck; ih != nil {
		if len(h.Test) == 0 && len(ih.Test) > 0 {
			switch ih.Test[0] {
			case "CMD":
				h.Test = ih.Test[1:]
			case "CMD-SHELL":
				if len(ih.Test) > 1 {
					h.Test = []string{"/bin/sh", "-c", ih.Test[1]}
				}
			}
		}
		if h.Interval == 0 {
			h.Interval = ih.Interval
		}
		if h.Timeout == 0 {
			h.Timeout = ih.Timeout
		}
		if h.StartPeriod == 0 {
			h.StartPeriod = ih.StartPeriod
		}
		if h.Retries == 0 || (cfg.Health == nil && ih.Retries > 0) {
			h.Retries = ih.Retries
		}
	}
	if len(h.Test) == 0 {
		return nil
	}
	if h.Interval == 0 {
		h.Interval = 30 * time.Second
	}
	if h.Timeout == 0 {
		h.Timeout = 30 * time.Second
	}
	if h.Retries == 0 {
		h.Retries = 3
	}
	return &h
}

// ErrNoHealthcheck is a container without a health check.
var ErrNoHealthcheck = errors.New("container has no health check")

// HealthcheckRun runs container ref's health check once, records it, and
// returns the result.
func HealthcheckRun(s *image.Store, ref string) (runtime.HealthLog, error) {
	c, err := Find(s, ref)
	if err != nil {
		return runtime.HealthLog{}, err
	}
	if c.Config.Health == nil {
		return runtime.HealthLog{}, fmt.Errorf("%w: %s (give one with --health-cmd, or an image with HEALTHCHECK)", ErrNoHealthcheck, c.Name)
	}
	st := CurrentState(s, c.ID)
	if st.Status != Running {
		return runtime.HealthLog{}, fmt.Errorf("%w: %s", ErrNotRunning, c.Name)
	}
	inStart := time.Since(st.StartedAt) < c.Config.Health.StartPeriod
	return runtime.RunHealthCheck(execSocket(liveDir(s, c)), Dir(s, c.ID), *c.Config.Health, inStart), nil
}

// HealthOf is a running container's health (nil: no check, or not running).
func HealthOf(s *image.Store, c *Container, st State) *runtime.Health {
	if c.Config.Health == nil || st.Status != Running {
		return nil
	}
	return runtime.ReadHealth(Dir(s, c.ID))
}

// ApplyUser gives a config the user's config.toml choices that are not
// launch keys: the storage driver (unless one was asked for), the cgroups
// policy, the CDI spec directories.
func ApplyUser(cfg *Config, user config.User) {
	if cfg.StorageDriver == "" {
		cfg.StorageDriver = fuseoverlay.Driver(user.StorageDriver)
	}
	cfg.Cgroups = user.Cgroups
	cfg.CDISpecDirs = user.CDISpecDirs
}
