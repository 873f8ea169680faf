package cgroups

import (
	"errors"
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

func TestResources(t *testing.T) {
	r, err := resources(config.Resources{Memory: 64 << 20, CPUs: 1.5, Pids: 100}, true)
	if err != nil {
		t.Fatal(err)
	}
	if *r.Memory.Max != 64<<20 || *r.Memory.Swap != 0 {
		t.Errorf("memory without memory_swap: max %d swap %d, want 64MiB and no swap", *r.Memory.Max, *r.Memory.Swap)
	}
	if got := string(r.CPU.Max); got != "150000 100000" {
		t.Errorf("cpu.max = %q, want \"150000 100000\"", got)
	}
	if r.Pids.Max != 100 {
		t.Errorf("pids.max = %d", r.Pids.Max)
	}
	r, _ = resources(config.Resources{Memory: 64 << 20, MemorySwap: 96 << 20}, true)
	if *r.Memory.Swap != 32<<20 {
		t.Errorf("memory_swap 96MiB over memory 64MiB: swap.max %d, want 32MiB", *r.Memory.Swap)
	}
	r, _ = resources(config.Resources{Memory: 64 << 20}, false)
	if r.Memory.Swap != nil {
		t.Error("swap.max set on a kernel without swap accounting")
	}
	if _, err := resources(config.Resources{IO: []config.IOLimit{{Device: "/dev/null", WriteBPS: 1}}}, true); err == nil || !strings.Contains(err.Error(), "not a block device") {
		t.Errorf("io on /dev/null: %v, want 'not a block device'", err)
	}
}
