package cgroups

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/config"
)

// Policies for limits that cannot be enforced (config.toml's cgroups).
const (
	PolicyRequired   = "required"    // an error (the default)
	PolicyBestEffort = "best-effort" // a warning per dropped limit
	PolicyOff        = "off"         // cgroups are never used; limits warn
)

// Limit is one limit asked for, and the controller that enforces it.
type Limit struct {
	Name       string // for messages: "memory 64MiB"
	Controller string // "memory", "cpu", "pids" or "io"
}

// Requested lists the limits in r.
func Requested(r config.Resources) []Limit {
	var out []Limit
	if r.Memory != 0 {
		out = append(out, Limit{"memory " + config.FormatBytes(r.Memory), "memory"})
	}
	if r.MemorySwap != 0 {
		out = append(out, Limit{"memory+swap " + config.FormatBytes(r.MemorySwap), "memory"})
	}
	if r.CPUs != 0 {
		out = append(out, Limit{fmt.Sprintf("cpus %v", r.CPUs), "cpu"})
	}
	if r.Pids != 0 {
		out = append(out, Limit{fmt.Sprintf("pids %d", r.Pids), "pids"})
	}
	for _, l := range r.IO {
		out = append(out, Limit{"io " + l.Device, "io"})
	}
	return out
}

// Plan is what a container's cgroup will enforce.
type Plan struct {
	// Use says a cgroup is made for the container.
	Use bool
	// Resources are the limits that will be enforced (those that cannot
	// be are dropped under the best-effort policy).
	Resources config.Resources
	// Warnings name each dropped limit and why.
	Warnings []string
}

// ErrUnenforceable is returned when a limit asked for cannot be enforced
// and the policy is "required".
var ErrUnenforceable = errors.New("cannot enforce")

// MakePlan decides, before anything starts, which limits s can enforce.
// Under PolicyRequired (or ""), a limit it cannot enforce is an error that
// names what is missing and how to get it. Without limits, a cgroup is
// still made where that costs nothing (RouteDelegated), so that stats and
// OOM reports work.
func (s System) MakePlan(r config.Resources, policy string) (Plan, error) {
	asked := Requested(r)
	if policy == PolicyOff {
		p := Plan{}
		for _, l := range asked {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s: not enforced (cgroups = \"off\" in config.toml)", l.Name))
		}
		return p, nil
	}
	if len(asked) == 0 {
		return Plan{Use: s.Route == RouteDelegated}, nil
	}
	var missing []Limit
	if s.Route == "" {
		missing = asked
	} else {
		for _, l := range asked {
			if !s.Has(l.Controller) {
				missing = append(missing, l)
			}
		}
	}
	if len(missing) > 0 && policy != PolicyBestEffort {
		return Plan{}, s.unenforceable(missing)
	}
	p := Plan{Use: s.Route != "", Resources: r}
	for _, l := range missing {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%s: not enforced (%s; cgroups = \"best-effort\" in config.toml)", l.Name, s.why(l)))
		p.Resources = drop(p.Resources, l.Controller)
	}
	return p, nil
}

// why is the short reason a limit cannot be enforced.
func (s System) why(l Limit) string {
	if s.Route == "" {
		return s.Reason
	}
	return fmt.Sprintf("the %s controller is not delegated to you", l.Controller)
}

func (s System) unenforceable(missing []Limit) error {
	var names []string
	ctrls := map[string]bool{}
	for _, l := range missing {
		names = append(names, l.Name)
		ctrls[l.Controller] = true
	}
	what := strings.Join(names, ", ")
	keep := "sandbox never runs without a limit you asked for; to run anyway, with a warning per limit, set cgroups = \"best-effort\" in config.toml"
	if s.Route == "" {
		reason := s.Reason
		if s.Version == 1 && ctrls["memory"] {
			reason = "cgroup v2 memory is not available here: " + reason
		}
		if s.Fix != "" {
			reason += "; to fix: " + s.Fix
		}
		return fmt.Errorf("%w: %s: %s; %s", ErrUnenforceable, what, reason, keep)
	}
	var need []string
	for _, c := range []string{"memory", "cpu", "pids", "io"} {
		if ctrls[c] {
			need = append(need, c)
		}
	}
	delegated := strings.Join(s.Controllers, " ")
	if delegated == "" {
		delegated = "none"
	}
	all := []string{"pids", "memory", "cpu", "io"}
	return fmt.Errorf("%w: %s: the %s controller%s not delegated to you (delegated: %s); to delegate %s, as root: mkdir -p /etc/systemd/system/user@.service.d && printf '[Service]\\nDelegate=%s\\n' > /etc/systemd/system/user@.service.d/delegate.conf && systemctl daemon-reload, then log in again; %s",
		ErrUnenforceable, what, strings.Join(need, " and "), plural(len(need), " is", "s are"), delegated, strings.Join(need, " and "), strings.Join(all, " "), keep)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func drop(r config.Resources, controller string) config.Resources {
	switch controller {
	case "memory":
		r.Memory, r.MemorySwap = 0, 0
	case "cpu":
		r.CPUs = 0
	case "pids":
		r.Pids = 0
	case "io":
		r.IO = nil
	}
	return r
}

// CPUPeriod is the cpu.max period: cpus × period is the quota.
const CPUPeriod = 100000

// setting is one interface file of a cgroup and the value written to it.
type setting struct{ file, value string }

// controllersOf are the controllers settings need, in the order their
// files are written.
func controllersOf(settings []setting) []string {
	var out []string
	seen := map[string]bool{}
	for _, st := range settings {
		c, _, _ := strings.Cut(st.file, ".")
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// settings turns limits into the interface files to write, in order.
// Memory without memory_swap gets no swap: swap would otherwise hide the
// limit (docker would allow as much swap again).
func settings(r config.Resources, swapAccounted bool) ([]setting, error) {
	var out []setting
	if r.CPUs != 0 {
		out = append(out, setting{"cpu.max", fmt.Sprintf("%d %d", int64(r.CPUs*CPUPeriod), CPUPeriod)})
	}
	if r.Memory != 0 || r.MemorySwap != 0 {
		if swapAccounted {
			swap := int64(0)
			if r.MemorySwap > r.Memory && r.Memory != 0 {
				swap = r.MemorySwap - r.Memory
			}
			out = append(out, setting{"memory.swap.max", strconv.FormatInt(swap, 10)})
		}
		if r.Memory != 0 {
			out = append(out, setting{"memory.max", strconv.FormatInt(r.Memory, 10)})
		}
	}
	if r.Pids != 0 {
		out = append(out, setting{"pids.max", strconv.FormatInt(r.Pids, 10)})
	}
	for _, l := range r.IO {
		var st unix.Stat_t
		if err := unix.Stat(l.Device, &st); err != nil {
			return nil, fmt.Errorf("io limit on %q: %w", l.Device, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFBLK {
			return nil, fmt.Errorf("io limit on %q: not a block device", l.Device)
		}
		for _, e := range []struct {
			key string
			v   int64
		}{{"rbps", l.ReadBPS}, {"wbps", l.WriteBPS}, {"riops", l.ReadIOPS}, {"wiops", l.WriteIOPS}} {
			if e.v != 0 {
				out = append(out, setting{"io.max", fmt.Sprintf("%d:%d %s=%d", unix.Major(st.Rdev), unix.Minor(st.Rdev), e.key, e.v)})
			}
		}
	}
	return out, nil
}

// hasSwapAccounting reports whether the kernel accounts swap (memory.swap.max
// exists).
func hasSwapAccounting() bool {
	own, err := OwnCgroup()
	if err != nil {
		return false
	}
	for dir := own; dir != "/"; dir = parentOf(dir) {
		if _, err := os.Stat(Mount + dir + "/memory.swap.max"); err == nil {
			return true
		}
	}
	return false
}

func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}
