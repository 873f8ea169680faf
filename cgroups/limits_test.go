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
	sets, err := settings(config.Resources{Memory: 64 << 20, CPUs: 1.5, Pids: 100}, true)
	if err != nil {
		t.Fatal(err)
	}
	// Memory without memory_swap: no swap at all.
	if got, want := str(sets), "cpu.max=150000 100000 memory.swap.max=0 memory.max=67108864 pids.max=100"; got != want {
		t.Errorf("settings = %q, want %q", got, want)
	}
	if got := strings.Join(controllersOf(sets), " "); got != "cpu memory pids" {
		t.Errorf("controllers = %q, want cpu memory pids", got)
	}
	sets, _ = settings(config.Resources{Memory: 64 << 20, MemorySwap: 96 << 20}, true)
	if got, want := str(sets), "memory.swap.max=33554432 memory.max=67108864"; got != want {
		t.Errorf("memory_swap 96MiB over memory 64MiB: %q, want %q", got, want)
	}
	sets, _ = settings(config.Resources{Memory: 64 << 20}, false)
	if got, want := str(sets), "memory.max=67108864"; got != want {
		t.Errorf("without swap accounting: %q, want %q", got, want)
	}
	if _, err := settings(config.Resources{IO: []config.IOLimit{{Device: "/dev/null", WriteBPS: 1}}}, true); err == nil || !strings.Contains(err.Error(), "not a block device") {
		t.Errorf("io on /dev/null: %v, want 'not a block device'", err)
	}
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
