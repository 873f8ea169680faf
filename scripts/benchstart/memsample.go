package main

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// treeMemory is what a sampler saw of a command's process tree: the
// largest resident size any one process had, split into anonymous and
// file-backed memory (KiB), and the largest sum of anonymous memory over
// the tree at once, and the largest resident size of each process name
// (the CLI, a task it started, …).
// A peak RSS (ru_maxrss) counts a process's mapped file pages too, which
// for a Go program are mostly its own code: page cache that every
// process running that binary shares, in 2 MiB folios for sandbox's
// (package textpages), so mapped whole. The anonymous part is what the
// command itself costs the machine.
type treeMemory struct {
	anon, file, treeAnon int64
	peak                 int64 // ru_maxrss over the timed rounds, when known
	byName               map[string]split
}

// split is one process's resident size: anonymous and file-backed (KiB).
// hwm is its VmHWM, the peak resident size the kernel kept (shared
// memory, such as a memfd's pages, included), which a peak between two
// samples still shows.
type split struct{ anon, file, hwm int64 }

func (m treeMemory) String() string {
	names := slices.Sorted(maps.Keys(m.byName))
	var each []string
	for _, n := range names {
		b := m.byName[n]
		each = append(each, fmt.Sprintf("%s %.1f (%.1f+%.1f; VmHWM %.1f)", n, float64(b.anon+b.file)/1024, float64(b.anon)/1024, float64(b.file)/1024, float64(b.hwm)/1024))
	}
	return fmt.Sprintf("largest process: %.1f MiB anonymous + %.1f MiB file-backed (code); whole tree at once: %.1f MiB anonymous; largest of each name (MiB: anonymous+file): %s",
		float64(m.anon)/1024, float64(m.file)/1024, float64(m.treeAnon)/1024, strings.Join(each, ", "))
}

// memSampler samples a process tree every few milliseconds until stopped.
// Sampling costs CPU, so it runs only on rounds that are not timed.
type memSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	got  treeMemory
}

func sampleTree(pid int) *memSampler {
	s := &memSampler{stop: make(chan struct{}), got: treeMemory{byName: map[string]split{}}}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			s.sample(pid)
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends the sampling and returns what it saw.
func (s *memSampler) Stop() treeMemory {
	close(s.stop)
	s.done.Wait()
	return s.got
}

func (s *memSampler) sample(root int) {
	var sum int64
	for _, pid := range tree(root) {
		anon, file, hwm, name, ok := rss(pid)
		if !ok {
			continue
		}
		b := s.got.byName[name]
		if anon+file > b.anon+b.file {
			b.anon, b.file = anon, file
		}
		b.hwm = max(b.hwm, hwm)
		s.got.byName[name] = b
		sum += anon
		if anon+file > s.got.anon+s.got.file {
			s.got.anon, s.got.file = anon, file
		}
	}
	s.got.treeAnon = max(s.got.treeAnon, sum)
}

// tree is root and its descendants, from each task's children list.
func tree(root int) []int {
	out := []int{root}
	for i := 0; i < len(out); i++ {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", out[i]))
		for _, t := range tasks {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", out[i], t.Name()))
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// rss reads a process's RssAnon, RssFile and VmHWM (KiB) and its name.
func rss(pid int) (anon, file, hwm int64, name string, ok bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0, "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "RssAnon":
			anon, ok = n, true
		case "RssFile":
			file = n
		case "VmHWM":
			hwm = n
		case "Name":
			name = strings.TrimSpace(v)
		}
	}
	return anon, file, hwm, name, ok
}
