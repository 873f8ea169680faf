package main

import (
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/fuseoverlay"
	"github.com/sandbox-dev/sandbox/image"
)

// Shell completion (`sandbox completion bash|zsh|fish`, cobra's scripts)
// of what exists now: containers, images, launch files, and the fixed
// values of flags. It only reads: the store's lock is never taken and
// nothing is pulled.

// argCompletions says, per command, what its arguments are.
var argCompletions = map[string]cobra.CompletionFunc{
	"exec": firstArg(runningContainers), "stop": runningContainers, "kill": runningContainers,
	"stats": runningContainers, "port": firstArg(allContainers),
	"rm": allContainers, "start": allContainers, "logs": firstArg(allContainers), "wait": allContainers,
	"restart": allContainers, "rename": firstArg(allContainers), "commit": firstArg(allContainers),
	"inspect": containersAndImages,
	"run":     firstArg(images), "shell": firstArg(images), "create": firstArg(images),
	"rmi": images, "push": firstArg(images), "save": images, "tag": firstArg(images), "history": firstArg(images),
	"up": tomlFiles, "down": tomlFiles, "kube play": yamlFiles, "kube down": yamlFiles, "kube generate": allContainers,
	"pod rm": podNames, "pod start": podNames, "pod stop": podNames, "pod inspect": podNames,
	"volume rm": volumeNames, "volume inspect": volumeNames,
	"build": dirs,
}

// flagCompletions are the values of flags, whichever command has them.
var flagCompletions = map[string]cobra.CompletionFunc{
	"net":            fixed(config.NetworkModes...),
	"network":        fixed(config.NetworkModes...),
	"restart":        fixed(config.RestartPolicies...),
	"storage-driver": fixed(string(fuseoverlay.Overlay), string(fuseoverlay.FuseOverlayfs), string(fuseoverlay.VFS)),
	"config":         tomlFiles,
}

// addCompletions sets them on cmd, which runs c.
func addCompletions(cmd *cobra.Command, c *command) {
	if f, ok := argCompletions[c.name]; ok {
		cmd.ValidArgsFunction = f
	}
	for name, f := range flagCompletions {
		if cmd.Flags().Lookup(name) != nil {
			cmd.RegisterFlagCompletionFunc(name, f)
		}
	}
	if fl := cmd.Flags().Lookup("format"); fl != nil && strings.Contains(fl.Usage, "json") {
		cmd.RegisterFlagCompletionFunc("format", fixed("json", "table"))
	}
}

func fixed(values ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// firstArg completes only the first argument with f; after it, files.
func firstArg(f cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveDefault
		}
		return f(cmd, args, toComplete)
	}
}

func dirs(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterDirs
}

func tomlFiles(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return []string{"toml"}, cobra.ShellCompDirectiveFilterFileExt
}

func yamlFiles(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

func volumeNames(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	s, err := openSetup()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	vols, _ := container.Volumes(s.store)
	var names []string
	for _, v := range vols {
		names = append(names, v.Name)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// podNames are the pods' names (their infra containers say them).
func podNames(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	s, err := openSetup()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	rows, _ := container.PS(s.store, true, nil)
	var names []string
	for _, r := range rows {
		if r.Pod != "" && r.Name == container.InfraName(r.Pod) {
			names = append(names, r.Pod)
		}
	}
	sort.Strings(names)
	return names, cobra.ShellCompDirectiveNoFileComp
}

func runningContainers(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return containerNames(true), cobra.ShellCompDirectiveNoFileComp
}

func allContainers(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return containerNames(false), cobra.ShellCompDirectiveNoFileComp
}

func images(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return imageNames(), cobra.ShellCompDirectiveNoFileComp
}

func containersAndImages(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return append(containerNames(false), imageNames()...), cobra.ShellCompDirectiveNoFileComp
}

// containerNames lists containers by name (running ones only, or all).
func containerNames(running bool) []string {
	s, err := openSetup()
	if err != nil {
		return nil
	}
	rows, err := container.PS(s.store, !running, nil)
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range rows {
		out = append(out, r.Name)
	}
	sort.Strings(out)
	return out
}

// imageNames lists images by name[:tag] (and the built-in host image).
func imageNames() []string {
	s, err := openSetup()
	if err != nil {
		return nil
	}
	list, err := s.store.List()
	if err != nil {
		return nil
	}
	out := []string{image.HostName}
	for _, r := range list {
		if r.Repository != "<none>" && r.Repository != "" {
			out = append(out, r.Repository+":"+r.Tag)
		}
	}
	sort.Strings(out)
	return out
}
