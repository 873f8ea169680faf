package container

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sandbox-dev/sandbox/container/containertypes"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/runtime"
)

// A pod is containers that share a network (with its helper and its
// published ports), IPC and a hostname: a web app and its sidecar reach
// each other on localhost. Its infra container, POD-infra, holds the
// namespaces: its init runs nothing of the user's and starts each
// member's init in them (runtime/pod.go). Members are ordinary containers
// otherwise (records, logs, exec, ps), with Config.Pod set.

// ErrNoPod is a pod that does not exist.
var ErrNoPod = containertypes.ErrNoPod

var errPodPorts = errors.New("ports are the pod's: publish them with `sandbox pod create -p`")

// InfraName is the name of pod's infra container.
func InfraName(pod string) string { return pod + "-infra" }

// CreatePod makes pod name and starts its infra with cfg's network, ports
// and hostname (a private network unless cfg says otherwise).
func CreatePod(s *image.Store, name string, cfg Config, stdio IO) (*Container, error) {
	if err := checkKey("name", name); err != nil {
		return nil, err
	}
	if _, err := FindPod(s, name); err == nil {
		return nil, fmt.Errorf("%w: pod %q exists", ErrNameInUse, name)
	}
	cfg.Image, cfg.Name, cfg.Pod, cfg.PodInfra, cfg.Detach = "host", InfraName(name), name, true, true
	if cfg.Network == "" {
		cfg.Network = "slirp"
	}
	c, _, err := Run(s, cfg, stdio)
	return c, err
}

// FindPod returns the infra container of pod name.
func FindPod(s *image.Store, name string) (*Container, error) {
	c, err := FindName(s, InfraName(name))
	if err != nil || !c.Config.PodInfra || c.Config.Pod != name {
		return nil, fmt.Errorf("%w: %q (see `sandbox pod ps`)", ErrNoPod, name)
	}
	return c, nil
}

// PodMembers are the containers of pod name, the infra first.
func PodMembers(s *image.Store, name string) ([]*Container, error) {
	all, err := List(s)
	if err != nil {
		return nil, err
	}
	var infra, members []*Container
	// In the order they were made.
	sort.SliceStable(all, func(i, j int) bool { return all[i].Created.Before(all[j].Created) })
	for _, c := range all {
		switch {
		case c.Config.Pod != name:
		case c.Config.PodInfra:
			infra = append(infra, c)
		default:
			members = append(members, c)
		}
	}
	return append(infra, members...), nil
}

// memberErrors are what a member of a pod may not set whatever its pod:
// the pod's ports, hostname and (for now) limits.
func memberErrors(cfg Config) []error {
	var errs []error
	if len(cfg.Ports) > 0 {
		errs = append(errs, errPodPorts)
	}
	if cfg.Hostname != "" {
		errs = append(errs, errors.New("the hostname is the pod's: set it with `sandbox pod create --hostname`"))
	}
	if cfg.Resources.Memory > 0 || cfg.Resources.CPUs > 0 || cfg.Resources.Pids > 0 || len(cfg.Resources.IO) > 0 {
		errs = append(errs, errors.New("limits on a member of a pod are not supported yet"))
	}
	return errs
}

// CheckMember refuses what joinPod would refuse of cfg whatever its pod,
// for a caller that makes a pod and its members (kube play) to check each
// member before it makes anything.
func CheckMember(cfg Config) error {
	if err := errors.Join(memberErrors(cfg)...); err != nil {
		return fmt.Errorf("--pod %s: %w", cfg.Pod, err)
	}
	return nil
}

// joinPod makes cfg a member of its pod: the pod's network and hostname,
// nothing of its own there. With running, the pod must run.
func joinPod(s *image.Store, cfg *Config, running bool) (*Container, error) {
	infra, err := FindPod(s, cfg.Pod)
	if err != nil {
		return nil, err
	}
	if CurrentState(s, infra.ID).Status != Running {
		return nil, fmt.Errorf("%w: pod %s is not running (sandbox pod start %s)", ErrNotRunning, cfg.Pod, cfg.Pod)
	}
	errs := memberErrors(*cfg)
	// "host" is also every launch's default: only another choice is one.
	if cfg.Network != "" && cfg.Network != "host" && cfg.Network != infra.Config.Network {
		errs = append(errs, fmt.Errorf("network %q: a member has the pod's network (%s)", cfg.Network, infra.Config.Network))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("--pod %s: %w", cfg.Pod, err)
	}
	cfg.Network = infra.Config.Network
	cfg.Hostname = infra.Config.Hostname
	if cfg.Hostname == "" {
		cfg.Hostname = infra.ID[:12] // the infra's own default
	}
	return infra, nil
}

// podOptions sets the runtime options of a pod's infra or member.
func podOptions(s *image.Store, cfg Config, opts *runtime.Options) error {
	switch {
	case cfg.PodInfra:
		opts.PodInfra = true
	case cfg.Pod != "":
		infra, err := FindPod(s, cfg.Pod)
		if err != nil {
			return err
		}
		opts.PodSocket = execSocket(liveDir(s, infra))
	}
	return nil
}

// RemovePod removes pod name: its members and its infra. Without force a
// running pod is refused.
func RemovePod(s *image.Store, name string, force bool) ([]*Container, error) {
	all, err := PodMembers(s, name)
	if err != nil {
		return nil, err
	}
	// Members whose infra was removed on its own are still the pod's.
	if len(all) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNoPod, name)
	}
	if !force {
		for _, c := range all {
			if CurrentState(s, c.ID).Status == Running {
				return nil, fmt.Errorf("%w: pod %s has running containers: stop it first (sandbox pod stop %s) or use pod rm -f", ErrRunning, name, name)
			}
		}
	}
	// Members first: the infra holds their namespaces.
	var removed []*Container
	var errs []error
	for i := len(all) - 1; i >= 0; i-- {
		if _, err := RemoveRef(s, all[i].ID, force, true); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, all[i])
	}
	return removed, errors.Join(errs...)
}

// StopPod stops pod name's members, then its infra.
func StopPod(s *image.Store, name string, timeout time.Duration) error {
	all, err := PodMembers(s, name)
	if err != nil {
		return err
	}
	if len(all) == 0 || !all[0].Config.PodInfra {
		return fmt.Errorf("%w: %q", ErrNoPod, name)
	}
	var errs []error
	for i := len(all) - 1; i >= 0; i-- {
		if CurrentState(s, all[i].ID).Status != Running {
			continue
		}
		if _, err := Stop(s, all[i].ID, timeout); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// StartPod starts pod name's infra, then its members, detached.
func StartPod(s *image.Store, name string, stdio IO) error {
	all, err := PodMembers(s, name)
	if err != nil {
		return err
	}
	if len(all) == 0 || !all[0].Config.PodInfra {
		return fmt.Errorf("%w: %q", ErrNoPod, name)
	}
	var errs []error
	for _, c := range all {
		if CurrentState(s, c.ID).Status == Running {
			continue
		}
		if _, _, err := Start(s, c.ID, false, stdio); err != nil {
			errs = append(errs, err)
			if c.Config.PodInfra {
				break // members cannot start without it
			}
		}
	}
	return errors.Join(errs...)
}

// PodInfo is what `pod inspect` shows.
type PodInfo struct {
	ID         string         `json:"Id"`
	Name       string         `json:"Name"`
	Created    time.Time      `json:"Created"`
	State      string         `json:"State"`
	Hostname   string         `json:"Hostname"`
	Network    string         `json:"Network"`
	Ports      []string       `json:"Ports"`
	Containers []PodContainer `json:"Containers"`
}

// PodContainer is a container of a pod in PodInfo.
type PodContainer struct {
	ID    string `json:"Id"`
	Name  string `json:"Name"`
	State string `json:"State"`
	Infra bool   `json:"Infra,omitempty"`
}

// InspectPod describes pod name.
func InspectPod(s *image.Store, name string) (PodInfo, error) {
	all, err := PodMembers(s, name)
	if err != nil {
		return PodInfo{}, err
	}
	if len(all) == 0 || !all[0].Config.PodInfra {
		return PodInfo{}, fmt.Errorf("%w: %q", ErrNoPod, name)
	}
	infra := all[0]
	info := PodInfo{ID: infra.ID, Name: name, Created: infra.Created, State: string(CurrentState(s, infra.ID).Status),
		Hostname: infra.Config.Hostname, Network: infra.Config.Network, Ports: infra.Config.Ports}
	if info.Hostname == "" {
		info.Hostname = infra.ID[:12]
	}
	for _, c := range all {
		info.Containers = append(info.Containers, PodContainer{ID: c.ID, Name: c.Name, State: string(CurrentState(s, c.ID).Status), Infra: c.Config.PodInfra})
	}
	return info, nil
}
