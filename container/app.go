package container

import (
	"strconv"

	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/runtime"
)

// FromApp turns merged launch settings into a container config (the
// per-invocation choices, like --rm or -d, are the caller's to add). An
// env_file's variables come under the env table's.
func FromApp(a *config.App) Config {
	c := Config{
		Image: a.Image, Name: a.Name, Cmd: a.Command, Workdir: a.Workdir, User: a.User,
		Hostname: a.Hostname, ReadOnly: a.ReadOnly, Network: a.Network, Ports: a.Ports,
		Resources: a.Resources, Security: a.Security, Restart: a.Restart, StopTimeout: &a.StopTimeout,
	}
	c.Entrypoint, c.EntrypointSet = a.Entrypoint, a.EntrypointSet
	if a.EnvFile != "" {
		env, _ := ReadEnvFile(a.EnvFile) // checked when the file was loaded
		c.Env = append(c.Env, env...)
	}
	c.Env = append(c.Env, a.EnvList()...)
	for _, m := range a.Mounts {
		rm := runtime.Mount{Type: m.Type, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
		if m.Type == "tmpfs" && m.Size > 0 {
			rm.Options = "size=" + strconv.FormatInt(m.Size, 10)
		}
		c.Volumes = append(c.Volumes, rm)
	}
	return c
}
