package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/config"
)

func TestMakePlan(t *testing.T) {
	delegated := System{Version: 2, Route: RouteDelegated, Base: "/u/app.slice", Controllers: []string{"cpu", "memory", "pids"}}
	v1 := System{Version: 1, Reason: "the system uses cgroup v1", Fix: "boot with v2"}
	limits := config.Resources{Memory: 64 << 20, CPUs: 0.5, Pids: 64, IO: []config.IOLimit{{Device: "/dev/vda", WriteBPS: 1 << 20}}}

	p, err := delegated.MakePlan(config.Resources{}, "")
	if err != nil || !p.Use || len(p.Warnings) != 0 {
		t.Errorf("no limits, delegated: %+v, %v; want a cgroup, no warning", p, err)
	}
	p, err = v1.MakePlan(config.Resources{}, "")
	if err != nil || p.Use {
		t.Errorf("no limits, v1: %+v, %v; want no cgroup, no error", p, err)
	}

	_, err = delegated.MakePlan(limits, "required")
	if !errors.Is(err, ErrUnenforceable) {
		t.Fatalf("io without the io controller: %v, want ErrUnenforceable", err)
	}
	for _, want := range []string{"io /dev/vda", "the io controller is not delegated", "delegated: cpu memory pids", "Delegate=pids memory cpu io", "delegate.conf", "best-effort"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "memory 64MiB") {
		t.Errorf("error %q names a limit that can be enforced", err)
	}

	p, err = delegated.MakePlan(limits, "best-effort")
	if err != nil || !p.Use || len(p.Warnings) != 1 || p.Resources.IO != nil || p.Resources.Memory != 64<<20 {
		t.Errorf("best-effort: %+v, %v; want io dropped with one warning, the rest kept", p, err)
	}

	_, err = v1.MakePlan(config.Resources{Memory: 64 << 20}, "")
	if err == nil || !strings.Contains(err.Error(), "cgroup v2 memory is not available") || !strings.Contains(err.Error(), "boot with v2") {
		t.Errorf("memory on v1: %v; want it to say cgroup v2 memory is not available, and the fix", err)
	}
	p, err = v1.MakePlan(config.Resources{Memory: 64 << 20}, "best-effort")
	if err != nil || p.Use || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "memory 64MiB: not enforced") {
		t.Errorf("memory on v1, best-effort: %+v, %v", p, err)
	}
	p, err = delegated.MakePlan(limits, "off")
	if err != nil || p.Use || len(p.Warnings) != 4 {
		t.Errorf("off: %+v, %v; want no cgroup and a warning per limit", p, err)
	}
}

func TestSettings(t *testing.T) {
	str := func(sets []setting) string {
		var b []string
		for _, st := range sets {
			b = append(b, st.file+"="+st.value)
		}
		return strings.Join(b, " ")
	}
	dev, devNum := blockDevice(t)
	for _, tc := range []struct {
		name     string
		r        config.Resources
		noSwap   bool   // the kernel does not account swap
		needsDev bool   // r names dev, a real block device
		want     string // file=value, in the order written
		ctrls    string // the controllers enabled, in that order
	}{
		{name: "none", want: "", ctrls: ""},
		{name: "memory, cpus, pids: memory without memory_swap gets no swap",
			r:    config.Resources{Memory: 64 << 20, CPUs: 1.5, Pids: 100},
			want: "cpu.max=150000 100000 memory.swap.max=0 memory.max=67108864 pids.max=100", ctrls: "cpu memory pids"},
		{name: "memory_swap over memory: swap is the difference",
			r:    config.Resources{Memory: 64 << 20, MemorySwap: 96 << 20},
			want: "memory.swap.max=33554432 memory.max=67108864", ctrls: "memory"},
		{name: "memory_swap equal to memory: no swap",
			r:    config.Resources{Memory: 64 << 20, MemorySwap: 64 << 20},
			want: "memory.swap.max=0 memory.max=67108864", ctrls: "memory"},
		{name: "memory_swap alone: no swap, memory unlimited",
			r:    config.Resources{MemorySwap: 96 << 20},
			want: "memory.swap.max=0", ctrls: "memory"},
		{name: "without swap accounting: no memory.swap.max",
			r: config.Resources{Memory: 64 << 20, MemorySwap: 96 << 20}, noSwap: true,
			want: "memory.max=67108864", ctrls: "memory"},
		{name: "cpus below one: quota out of the same period",
			r:    config.Resources{CPUs: 0.25},
			want: "cpu.max=25000 100000", ctrls: "cpu"},
		{name: "whole cpus",
			r:    config.Resources{CPUs: 2},
			want: "cpu.max=200000 100000", ctrls: "cpu"},
		{name: "io: one io.max line per rate, rbps wbps riops wiops, zero rates left out",
			r:        config.Resources{IO: []config.IOLimit{{Device: dev, ReadBPS: 1 << 20, WriteBPS: 2 << 20, WriteIOPS: 50}}},
			needsDev: true,
			want:     "io.max=" + devNum + " rbps=1048576 io.max=" + devNum + " wbps=2097152 io.max=" + devNum + " wiops=50", ctrls: "io"},
		{name: "everything: cpu, memory, pids, io",
			r:        config.Resources{Memory: 1 << 30, MemorySwap: 2 << 30, CPUs: 0.5, Pids: 64, IO: []config.IOLimit{{Device: dev, ReadIOPS: 10}}},
			needsDev: true,
			want:     "cpu.max=50000 100000 memory.swap.max=1073741824 memory.max=1073741824 pids.max=64 io.max=" + devNum + " riops=10", ctrls: "cpu memory pids io"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needsDev && dev == "" {
				t.Skip("no block device in /dev to point an io limit at")
			}
			sets, err := settings(tc.r, !tc.noSwap)
			if err != nil {
				t.Fatal(err)
			}
			if got := str(sets); got != tc.want {
				t.Errorf("settings = %q, want %q", got, tc.want)
			}
			if got := strings.Join(controllersOf(sets), " "); got != tc.ctrls {
				t.Errorf("controllers = %q, want %q", got, tc.ctrls)
			}
		})
	}

	for _, tc := range []struct{ device, want string }{
		{"/dev/null", `io limit on "/dev/null": not a block device`},
		{"/dev/sandbox-test-no-such-device", `io limit on "/dev/sandbox-test-no-such-device": `},
	} {
		sets, err := settings(config.Resources{Memory: 1 << 20, IO: []config.IOLimit{{Device: tc.device, WriteBPS: 1}}}, true)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || sets != nil {
			t.Errorf("io on %s: %v, %v; want no settings and an error starting %q", tc.device, sets, err, tc.want)
		}
	}
}

// blockDevice is a block device under /dev and its "MAJ:MIN" (read
// independently of settings, from /sys/class/block), or "" when there
// is none.
func blockDevice(t *testing.T) (path, majMin string) {
	entries, _ := os.ReadDir("/sys/class/block")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/sys/class/block", e.Name(), "dev"))
		if err != nil {
			continue
		}
		p := filepath.Join("/dev", e.Name())
		if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0 {
			return p, strings.TrimSpace(string(b))
		}
	}
	return "", ""
}

func TestMakeGroup(t *testing.T) {
	// A directory standing in for a cgroup: the interface files that
	// exist are written, a missing one names its controller.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pids.max"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeSetting(dir, setting{"pids.max", "64"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "pids.max")); string(b) != "64" {
		t.Errorf("pids.max holds %q, want 64", b)
	}
	err := writeSetting(dir, setting{"memory.max", "1"})
	if err == nil || !strings.Contains(err.Error(), "the memory controller is not enabled there") {
		t.Errorf("writing a missing memory.max: %v", err)
	}
	if _, serr := os.Stat(filepath.Join(dir, "memory.max")); serr == nil {
		t.Error("writing a missing interface file created it")
	}
}
