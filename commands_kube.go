package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
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
		usage: "[--type pod|deployment|job] [-f FILE] (CONTAINER... | POD | --config FILE.toml)",
		summary: "Write Kubernetes YAML for containers (one pod holding them all), a pod or a launch file; " +
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
			var podName string
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
					if len(args) == 1 {
						// A pod: its members, its network, ports and hostname.
						if infra, err := container.FindPod(s.store, ref); err == nil {
							podName = ref
							members, err := container.PodMembers(s.store, ref)
							if err != nil {
								return err
							}
							for i, m := range members[1:] {
								cfg := m.Config
								if i == 0 {
									// The pod's own, not the default a
									// member was given.
									cfg.Ports, cfg.Hostname = infra.Config.Ports, infra.Config.Hostname
								}
								cfgs, names = append(cfgs, cfg), append(names, m.Name)
							}
							if len(cfgs) == 0 {
								return fmt.Errorf("pod %s has no containers to describe", ref)
							}
							break
						}
					}
					c, err := container.Find(s.store, ref)
					if err != nil {
						return err
					}
					cfgs, names = append(cfgs, c.Config), append(names, c.Name)
				}
			}
			if podName == "" {
				podName = names[0] + "-pod"
			}
			pod, err := container.KubePod(podName, cfgs, names)
			if err != nil {
				return err
			}
			yaml, notes, err := container.KubeGenerate(config.DefaultPaths().Runtime, pod, kind)
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

// kubeDataDir is where the pods `kube play` of file makes keep their own
// volumes (emptyDir, ConfigMap files): one directory per YAML file.
func kubeDataDir(s *setup, abs string) string {
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(s.store.Root, "kube", hex.EncodeToString(sum[:8]))
}

func kubePlayCommand() *command {
	start := true
	return &command{
		name:  "kube play",
		usage: "[--start=false] FILE.yaml",
		summary: "Run the Pods, Deployments (one replica) and Jobs of Kubernetes YAML, with its ConfigMaps, " +
			"as detached containers; what sandbox cannot honour is listed with its line.",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&start, "start", true, "start the containers (false: only create them)")
		},
		interspersed: true,
		args:         exactly(1, "needs one YAML FILE"),
		run: func(fs *pflag.FlagSet, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			plan, err := container.KubeParse(config.DefaultPaths().Runtime, b)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			for _, u := range plan.Unsupported {
				msg := fmt.Sprintf("kube play: %s:%d: %s (%s) is not honoured", args[0], u.Line, u.Field, u.Object)
				if u.Why != "" {
					msg += ": " + u.Why
				}
				warn(msg)
			}
			abs, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			dataDir := kubeDataDir(s, abs)
			apps, pods, err := container.KubePlay(plan, abs, dataDir)
			if err != nil {
				return err
			}
			// The pods' own volumes exist before the check, which wants
			// every mount's source; a failed check takes them away again.
			_, statErr := os.Stat(dataDir)
			if err := container.WriteKubeVolumes(plan, dataDir); err != nil {
				return err
			}
			// Every container is made and checked as `up` makes its
			// own, before any runs: a mistake starts nothing.
			var cfgs []container.Config
			for _, app := range apps {
				cfg, err := kubeConfig(s, app, abs)
				if err == nil && cfg.Pod != "" {
					if err = container.CheckMember(cfg); err != nil {
						err = fmt.Errorf("%s: %w", cfg.Name, err)
					}
				}
				if err != nil {
					if os.IsNotExist(statErr) {
						os.RemoveAll(dataDir)
					}
					return err
				}
				cfgs = append(cfgs, cfg)
			}
			io := stdio()
			io.Pull = (&pullFlags{tlsVerify: true}).options(s, false)
			// What fails to start (an image without a command, a port
			// taken) is found only now: then everything this play made
			// goes, and the store is as it was.
			var made []string
			var madePods []string
			undo := func(err error) error {
				for i := len(made) - 1; i >= 0; i-- {
					container.RemoveRef(s.store, made[i], true, true)
				}
				for _, p := range madePods {
					container.RemovePod(s.store, p, true)
				}
				if os.IsNotExist(statErr) {
					os.RemoveAll(dataDir)
				}
				return err
			}
			// Pods of several containers first: their members join them.
			// The IDs are printed once all is made: a play that fails
			// midway removes what it made, and says nothing of it.
			var ids []string
			for _, p := range pods {
				p.Config.Cgroups = s.user.Cgroups
				c, err := container.CreatePod(s.store, p.Name, p.Config, io)
				if err != nil {
					return undo(err)
				}
				madePods = append(madePods, p.Name)
				ids = append(ids, c.ID)
			}
			for _, cfg := range cfgs {
				var c *container.Container
				var err error
				if start {
					c, _, err = container.Run(s.store, cfg, io)
				} else {
					var lock *os.File
					if c, lock, err = container.Create(s.store, cfg, io); err == nil {
						lock.Close()
					}
				}
				if err != nil {
					if c != nil {
						made = append(made, c.ID)
					}
					return undo(err)
				}
				made = append(made, c.ID)
				ids = append(ids, c.ID)
			}
			for _, id := range ids {
				fmt.Println(id)
			}
			return nil
		},
	}
}

// kubeConfig lays a container's launch layer over the defaults and
// config.toml, as up does with a file, and checks it as run does.
func kubeConfig(s *setup, app *config.App, abs string) (container.Config, error) {
	merged := config.Merge(config.Defaults(), s.user.Defaults, app)
	if err := merged.Check(); err != nil {
		return container.Config{}, err
	}
	f := &runFlags{detach: true}
	cfg := f.containerConfig(merged, s.user)
	cfg.LaunchFile = abs
	if err := cfg.ValidateRun(); err != nil {
		return container.Config{}, err
	}
	return cfg, container.CheckLimits(&cfg)
}

func kubeDownCommand() *command {
	var timeout int
	return &command{
		name:         "kube down",
		usage:        "[-t SECONDS] FILE.yaml",
		summary:      "Stop and remove the containers `kube play FILE` started, and their pods' volumes.",
		flags:        func(fs *pflag.FlagSet) { stopTimeoutFlag(fs, &timeout) },
		interspersed: true,
		args:         exactly(1, "needs the YAML FILE given to kube play"),
		run: func(fs *pflag.FlagSet, args []string) error {
			abs, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			done, err := container.KubeDown(s.store, abs, kubeDataDir(s, abs), stopTimeout(timeout))
			for _, c := range done {
				fmt.Println(c.Name)
			}
			return err
		},
	}
}
