package container

import (
	"fmt"

	"github.com/sandbox-dev/sandbox/cgroups"
	"github.com/sandbox-dev/sandbox/config"
)

// ProcessLimit bounds the processes (threads, for the kernel) of each id
// in a sandbox that has no pids limit of its cgroup (--pids-limit): its
// RLIMIT_NPROC, which the kernel counts per user namespace, so the user's
// processes outside do not count. It is podman's default pids limit.
const ProcessLimit = 2048

// CheckLimits reports, before anything is created, a limit in cfg that
// cannot be enforced here (unless the user's policy lets it go with a
// warning). It only reads the system.
func CheckLimits(cfg *Config) error {
	_, err := cgroups.Detect().MakePlan(cfg.Resources, cfg.Cgroups)
	return err
}

// containerCgroup makes the cgroup a run of c starts in, by the plan for
// its limits; nil when it gets none. Each limit dropped by the user's
// best-effort policy is warned about.
func containerCgroup(c *Container, warn func(string)) (*cgroups.Cgroup, error) {
	sys := cgroups.Detect()
	plan, err := sys.MakePlan(c.Config.Resources, c.Config.Cgroups)
	if err != nil {
		return nil, err
	}
	say(warn, plan.Warnings...)
	if !plan.Use {
		return nil, nil
	}
	cg, err := cgroups.Create(sys, c.ID, plan.Resources)
	if err != nil {
		if len(cgroups.Requested(plan.Resources)) > 0 && c.Config.Cgroups != cgroups.PolicyBestEffort {
			return nil, err
		}
		// Nothing asked for depends on it (it was for stats), or the
		// user accepts running without.
		for _, l := range cgroups.Requested(plan.Resources) {
			say(warn, fmt.Sprintf("%s: not enforced (%v; cgroups = \"best-effort\" in config.toml)", l.Name, err))
		}
		return nil, nil
	}
	return cg, nil
}

// endCgroup reads why the container ended, then removes its cgroup. It
// reports an OOM kill.
func endCgroup(cg *cgroups.Cgroup, code int, warn func(string)) (oomKilled bool) {
	ev := cg.Events()
	if ev.OOMKills > 0 {
		limit := "no memory limit: the system ran out"
		if cg.Limits.Memory != 0 {
			limit = "limit " + config.FormatBytes(cg.Limits.Memory)
		}
		if code == 137 {
			say(warn, fmt.Sprintf("killed: out of memory (%s)", limit))
		} else {
			say(warn, fmt.Sprintf("the out-of-memory killer ended %d process(es) in the container (%s)", ev.OOMKills, limit))
		}
	}
	if ev.PidsMax > 0 {
		say(warn, fmt.Sprintf("%d fork(s) refused: the container reached its pids limit (%d)", ev.PidsMax, cg.Limits.Pids))
	}
	if err := cg.Remove(); err != nil {
		say(warn, err.Error())
	}
	return ev.OOMKills > 0
}

func say(warn func(string), msgs ...string) {
	if warn == nil {
		return
	}
	for _, m := range msgs {
		warn(m)
	}
}
