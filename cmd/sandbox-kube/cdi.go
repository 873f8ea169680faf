package main

import (
	"fmt"
	"sort"

	cdilib "tags.cncf.io/container-device-interface/pkg/cdi"
	cdispecs "tags.cncf.io/container-device-interface/specs-go"

	"github.com/sandbox-dev/sandbox/cdi"
)

// resolveCDI answers a CDI request from the specs in its directories.
func resolveCDI(req cdi.Request) (cdi.Answer, error) {
	cache, err := cdilib.NewCache(cdilib.WithSpecDirs(req.Dirs...), cdilib.WithAutoRefresh(false))
	if cache == nil {
		return cdi.Answer{}, fmt.Errorf("reading CDI specs: %w", err)
	}
	ans := cdi.Answer{Known: cache.ListDevices()}
	sort.Strings(ans.Known)
	for file, errs := range cache.GetErrors() {
		for _, e := range errs {
			ans.SpecErrors = append(ans.SpecErrors, cdi.SpecError{File: file, Error: e.Error()})
		}
	}
	sort.Slice(ans.SpecErrors, func(i, j int) bool { return ans.SpecErrors[i].File < ans.SpecErrors[j].File })
	specsDone := map[string]bool{}
	for _, name := range req.Names {
		d := cache.GetDevice(name)
		if d == nil {
			ans.Unknown = append(ans.Unknown, name)
			continue
		}
		spec := d.GetSpec()
		// The spec's own edits apply once, with its first device.
		if !specsDone[spec.GetPath()] {
			specsDone[spec.GetPath()] = true
			addEdits(&ans.Edits, spec.Spec.ContainerEdits, spec.GetPath())
		}
		addEdits(&ans.Edits, d.Device.ContainerEdits, spec.GetPath())
	}
	return ans, nil
}

func addEdits(e *cdi.Edits, ce cdiEdits, file string) {
	e.Env = append(e.Env, ce.Env...)
	for _, n := range ce.DeviceNodes {
		e.Nodes = append(e.Nodes, cdi.Node{Path: n.Path, HostPath: n.HostPath, Spec: file})
	}
	for _, m := range ce.Mounts {
		e.Mounts = append(e.Mounts, cdi.Mount{HostPath: m.HostPath, ContainerPath: m.ContainerPath, Options: m.Options, Spec: file})
	}
	for _, h := range ce.Hooks {
		e.Hooks = append(e.Hooks, cdi.Hook{HookName: h.HookName, Path: h.Path, Args: h.Args, Env: h.Env, Timeout: h.Timeout, Spec: file})
	}
}

type cdiEdits = cdispecs.ContainerEdits
