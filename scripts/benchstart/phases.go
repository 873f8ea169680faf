package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// benchPhases runs `sandbox run --rm bb true` n times with SANDBOX_TRACE=1
// and prints each phase mark's median time from the moment the command
// was started, in the order of those medians, with the step from the one
// before: where a start's time goes (docs/ARCHITECTURE.md). The marks of
// the CLI and of the init ([1]) share the monotonic clock. The last line
// is the CLI's exit as its parent sees it. Tracing costs time of its own
// (a write per mark), so the total is above benchstart's untraced median.
func benchPhases(sandbox, work, tarball string, n int) {
	env := append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(work, "data"), "XDG_CONFIG_HOME="+filepath.Join(work, "config"))
	imp := exec.Command(sandbox, "import", tarball, "bb")
	imp.Env = env
	if out, err := imp.CombinedOutput(); err != nil {
		fail("sandbox import: %v: %s", err, out)
	}
	waitTextStage(nil, env, sandbox)
	env = append(env, "SANDBOX_TRACE=1")
	marks := map[string][]float64{}
	for i := 0; i < n+1; i++ {
		// A file, not a pipe: the init writes its marks there too, and
		// the CLI's exit, not the init's, ends the wait.
		f, err := os.CreateTemp(work, "trace-")
		check(err)
		cmd := exec.Command(sandbox, "run", "--rm", "bb", "true")
		cmd.Env, cmd.Stderr = env, f
		// As the timed rounds do: the last run's leftovers (in subid
		// mode the maker of the next spare, 5–10 ms of newuidmap and
		// newgidmap after the command's exit) would otherwise run beside
		// this run and show as its phases.
		time.Sleep(settle)
		start := monotonicMs()
		err = cmd.Run()
		end := monotonicMs()
		if err != nil {
			fail("sandbox run: %v", err)
		}
		f.Seek(0, 0)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// trace MS [PID] FAULTS faults: NAME
			fields := strings.SplitN(sc.Text(), " faults: ", 2)
			head := strings.Fields(fields[0])
			if len(fields) != 2 || len(head) < 2 || head[0] != "trace" {
				continue
			}
			t, err := strconv.ParseFloat(head[1], 64)
			if err != nil || i == 0 { // the first run warms up
				continue
			}
			marks[fields[1]] = append(marks[fields[1]], t-start)
		}
		f.Close()
		os.Remove(f.Name())
		if i > 0 {
			marks["(the CLI has exited)"] = append(marks["(the CLI has exited)"], end-start)
		}
	}
	type row struct {
		name string
		med  float64
	}
	var rows []row
	for name, ts := range marks {
		sort.Float64s(ts)
		rows = append(rows, row{name, ts[len(ts)/2]})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].med < rows[j].med })
	fmt.Printf("phases of `sandbox run --rm bb true`, traced, median of %d runs, ms from the command's start\n", n)
	prev := 0.0
	for _, r := range rows {
		fmt.Printf("  %7.2f  +%5.2f  %s\n", r.med, r.med-prev, r.name)
		prev = r.med
	}
}

// monotonicMs is CLOCK_MONOTONIC in milliseconds, the clock of the marks.
func monotonicMs() float64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return float64(ts.Sec)*1000 + float64(ts.Nsec)/1e6
}
