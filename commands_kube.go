package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/kube"
)

func kubeGenerateCommand() *command {
	var kind, file, out string
	return &command{
		name:  "kube generate",
		usage: "[--type pod|deployment|job] [-f FILE] (CONTAINER... | --config FILE.toml)",
		summary: "Write Kubernetes YAML for containers (one pod holding them all) or for a launch file; " +
			"what Kubernetes cannot say is noted on stderr.",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&kind, "type", "pod", "the object to write: "+strings.Join(kube.Kinds, ", "))
			fs.StringVar(&file, "config", "", "a launch file (docs/config.md) instead of containers")
			fs.StringVarP(&out, "filename", "f", "", "write the YAML to FILE instead of stdout")
		},
		interspersed: true,
		run: func(fs *pflag.FlagSet, args []string) error {
			if !slices.Contains(kube.Kinds, kind) {
				return &usageError{lookup("kube generate"), fmt.Errorf("--type %q: valid types are %s", kind, strings.Join(kube.Kinds, ", "))}
			}
			var cfgs []container.Config
			var names []string
			switch {
			case file != "" && len(args) > 0:
				return &usageError{lookup("kube generate"), fmt.Errorf("give containers or --config FILE, not both")}
			case file != "":
				cfg, err := launchConfig(file)
				if err != nil {
					return err
				}
				cfgs, names = append(cfgs, cfg), append(names, cfg.Name)
			case len(args) == 0:
				return &usageError{lookup("kube generate"), fmt.Errorf("needs a CONTAINER or --config FILE")}
			default:
				s, err := openSetup()
				if err != nil {
					return err
				}
				for _, ref := range args {
					c, err := container.Find(s.store, ref)
					if err != nil {
						return err
					}
					cfgs, names = append(cfgs, c.Config), append(names, c.Name)
				}
			}
			pod, err := container.KubePod(names[0]+"-pod", cfgs, names)
			if err != nil {
				return err
			}
			yaml, notes, err := container.KubeGenerate(pod, kind)
			if err != nil {
				return err
			}
			for _, n := range notes {
				warn("kube generate: " + n)
			}
			if out != "" {
				return os.WriteFile(out, yaml, 0o644)
			}
			_, err = os.Stdout.Write(yaml)
			return err
		},
	}
}

// launchConfig is what `up FILE` would run, made and checked the same way
// but without its limits checked against this machine: the YAML is for
// elsewhere.
func launchConfig(file string) (container.Config, error) {
	f := &runFlags{}
	fs := pflag.NewFlagSet("launch", pflag.ContinueOnError)
	f.add(fs, false) // registering sets every field to its default
	f.file, f.detach, f.defaultName = file, true, upName(file)
	user, err := config.Load(config.DefaultPaths().Config)
	if err != nil {
		return container.Config{}, err
	}
	app, err := f.launch(fs, user, "", nil)
	if err != nil {
		return container.Config{}, err
	}
	cfg := f.containerConfig(app, user)
	if err := cfg.ValidateRun(); err != nil {
		return container.Config{}, err
	}
	return cfg, nil
}
