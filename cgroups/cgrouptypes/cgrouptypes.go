package cgrouptypes

import "time"

// Usage is one reading of a container's cgroup.
type Usage struct {
	At          time.Time
	CPUUsec     uint64 // cpu.stat usage_usec
	NrPeriods   uint64 // cpu.stat nr_periods
	NrThrottled uint64 // cpu.stat nr_throttled
	Memory      uint64 // memory.current
	MemoryLimit uint64 // memory.max; 0: none
	Pids        uint64 // pids.current
	PidsLimit   uint64 // pids.max; 0: none
	IORead      uint64 // io.stat rbytes, all devices
	IOWrite     uint64 // io.stat wbytes, all devices
}
