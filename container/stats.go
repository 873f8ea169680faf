package container

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"github.com/sandbox-dev/sandbox/cgroups"
	"github.com/sandbox-dev/sandbox/image"
)

// Stats is one line of `sandbox stats`: docker's columns.
type Stats struct {
	ID          string
	Name        string
	CPUPercent  float64 // of one CPU
	MemoryUsage uint64
	MemoryLimit uint64 // the container's limit, or the machine's memory
	Pids        uint64
	PidsLimit   uint64 // 0: none
	BlockRead   uint64
	BlockWrite  uint64
	// NoCgroup says the container runs without a cgroup of its own, so
	// nothing can be measured (no cgroup v2 here, say).
	NoCgroup bool `json:",omitempty"`
}

// StatsTargets are the containers refs name, or every running one.
func StatsTargets(s *image.Store, refs []string) ([]*Container, error) {
	if len(refs) > 0 {
		var out []*Container
		for _, r := range refs {
			c, err := Find(s, r)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	}
	all, err := List(s)
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, c := range all {
		if CurrentState(s, c.ID).Status == Running {
			out = append(out, c)
		}
	}
	return out, nil
}

// Sample reads the usage of each container's cgroup (none for one that is
// not running or has no cgroup).
func Sample(s *image.Store, cs []*Container) map[string]cgroups.Usage {
	out := map[string]cgroups.Usage{}
	for _, c := range cs {
		st := CurrentState(s, c.ID)
		if st.Status != Running || st.Cgroup == "" {
			continue
		}
		if u, err := cgroups.Open(st.Cgroup).Usage(); err == nil {
			out[c.ID] = u
		}
	}
	return out
}

// StatsOf computes c's line from two samples.
func StatsOf(c *Container, prev, cur map[string]cgroups.Usage) Stats {
	st := Stats{ID: c.ID, Name: c.Name}
	u, ok := cur[c.ID]
	if !ok {
		st.NoCgroup = true
		return st
	}
	if p, ok := prev[c.ID]; ok {
		st.CPUPercent = cgroups.CPUPercent(p, u)
	}
	st.MemoryUsage, st.MemoryLimit = u.Memory, u.MemoryLimit
	if st.MemoryLimit == 0 {
		st.MemoryLimit = memTotal()
	}
	st.Pids, st.PidsLimit = u.Pids, u.PidsLimit
	st.BlockRead, st.BlockWrite = u.IORead, u.IOWrite
	return st
}

// memTotal is the machine's memory, docker's limit for an unlimited
// container.
func memTotal() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
