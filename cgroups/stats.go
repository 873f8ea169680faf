package cgroups

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/cgroups/cgrouptypes"
)

// Usage is one reading of a container's cgroup (package cgrouptypes).
type Usage = cgrouptypes.Usage

// Usage reads the cgroup's counters. A controller that is not enabled
// there reads as zero.
func (c *Cgroup) Usage() (Usage, error) {
	dir := c.Dir()
	if _, err := os.Stat(dir); err != nil {
		return Usage{}, err
	}
	u := Usage{At: time.Now()}
	cpu := filepath.Join(dir, "cpu.stat")
	u.CPUUsec = keyed(cpu, "usage_usec")
	u.NrPeriods = keyed(cpu, "nr_periods")
	u.NrThrottled = keyed(cpu, "nr_throttled")
	u.Memory = number(filepath.Join(dir, "memory.current"))
	u.MemoryLimit = number(filepath.Join(dir, "memory.max"))
	u.Pids = number(filepath.Join(dir, "pids.current"))
	u.PidsLimit = number(filepath.Join(dir, "pids.max"))
	if b, err := os.ReadFile(filepath.Join(dir, "io.stat")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			for _, f := range strings.Fields(line) {
				k, v, _ := strings.Cut(f, "=")
				n, _ := strconv.ParseUint(v, 10, 64)
				switch k {
				case "rbytes":
					u.IORead += n
				case "wbytes":
					u.IOWrite += n
				}
			}
		}
	}
	return u, nil
}

// number reads a one-number file; "max" and a missing file read as 0.
func number(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// CPUPercent is the CPU used between two readings, in percent of one CPU.
func CPUPercent(prev, cur Usage) float64 {
	wall := cur.At.Sub(prev.At).Microseconds()
	if wall <= 0 || cur.CPUUsec < prev.CPUUsec {
		return 0
	}
	return float64(cur.CPUUsec-prev.CPUUsec) / float64(wall) * 100
}
