package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sandbox-dev/sandbox/cdi"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/kube/kubebin"
	"github.com/sandbox-dev/sandbox/runtime"
)

// expandCDI resolves the CDI names among cfg's devices (vendor/class=name)
// with the specs in cfg.CDISpecDirs, once, when the container is made (as
// Podman does): their nodes go to cfg.CDINodes, their mounts to
// cfg.Volumes, their env to cfg.Env (under the user's own), their hooks to
// cfg.Hooks; the names stay in cfg.Devices. An unknown name, or a node the
// user cannot open, is refused naming the spec file: nothing is made.
func expandCDI(s *image.Store, cfg *Config) error {
	var names, nodes []string
	for _, d := range cfg.Devices {
		if cdi.IsName(d) {
			names = append(names, d)
		}
	}
	if len(names) == 0 {
		return nil
	}
	dirs := cfg.CDISpecDirs
	if len(dirs) == 0 {
		dirs = cdi.DefaultDirs
	}
	ans, err := ResolveCDI(s.RunDir, cdi.Request{Dirs: dirs, Names: names})
	if err != nil {
		return fmt.Errorf("--device %s: %w", strings.Join(names, ", "), err)
	}
	if len(ans.Unknown) > 0 {
		known := "none"
		if len(ans.Known) > 0 {
			known = strings.Join(ans.Known, ", ")
		}
		msg := fmt.Sprintf("--device: unknown CDI device %s (the specs in %s define: %s)", strings.Join(ans.Unknown, ", "), strings.Join(dirs, ", "), known)
		for _, e := range ans.SpecErrors {
			msg += fmt.Sprintf("; spec %s: %s", e.File, e.Error)
		}
		return errors.New(msg)
	}
	for _, n := range ans.Edits.Nodes {
		host := n.HostPath
		if host == "" {
			host = n.Path
		}
		d := host + ":" + n.Path
		if _, err := devices([]string{d}); err != nil {
			return fmt.Errorf("CDI spec %s: %w", n.Spec, err)
		}
		nodes = append(nodes, d)
	}
	for _, m := range ans.Edits.Mounts {
		cfg.Volumes = append(cfg.Volumes, runtime.Mount{Type: "bind", Source: m.HostPath, Target: m.ContainerPath,
			ReadOnly: slices.Contains(m.Options, "ro")})
	}
	for _, h := range ans.Edits.Hooks {
		if !slices.Contains(hookStages, h.HookName) {
			return fmt.Errorf("CDI spec %s: a %s hook (%s) is not supported: sandbox runs %s hooks", h.Spec, h.HookName, h.Path, strings.Join(hookStages, ", "))
		}
	}
	cfg.Env = append(append([]string{}, ans.Edits.Env...), cfg.Env...)
	cfg.Hooks = ans.Edits.Hooks
	cfg.CDINodes = nodes
	return nil
}

// ResolveCDI asks the helper program what the CDI specs say.
func ResolveCDI(runDir string, req cdi.Request) (cdi.Answer, error) {
	out, _, err := kubebin.Run(runDir, []string{"cdi"}, mustJSON(req))
	if err != nil {
		return cdi.Answer{}, err
	}
	var ans cdi.Answer
	if err := json.Unmarshal(out, &ans); err != nil {
		return cdi.Answer{}, fmt.Errorf("reading the CDI answer: %w", err)
	}
	return ans, nil
}
