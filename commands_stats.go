package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/container"
)

func statsCommand() *command {
	var noStream bool
	var format string
	return &command{
		name:    "stats",
		usage:   "[--no-stream] [--format json] [CONTAINER...]",
		summary: "Show containers' CPU, memory, process and block I/O use, live (default: every running container).",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&noStream, "no-stream", false, "print one reading and exit")
			fs.StringVar(&format, "format", "", `"json" for a JSON array (one per reading)`)
		},
		interspersed: true,
		run: func(fs *pflag.FlagSet, args []string) error {
			if format != "" && format != "json" {
				return &usageError{lookup("stats"), fmt.Errorf("--format %q: only json is supported", format)}
			}
			s, err := openSetup()
			if err != nil {
				return err
			}
			cs, err := container.StatsTargets(s.store, args)
			if err != nil {
				return err
			}
			if len(cs) == 0 && len(args) == 0 && noStream {
				return printStats(nil, format, false)
			}
			prev := container.Sample(s.store, cs)
			// CPU use is a rate: the first reading needs a second one.
			interval := time.Second
			if noStream {
				interval = 500 * time.Millisecond
			}
			for {
				time.Sleep(interval)
				cur := container.Sample(s.store, cs)
				var rows []container.Stats
				for _, c := range cs {
					rows = append(rows, container.StatsOf(c, prev, cur))
				}
				if err := printStats(rows, format, !noStream && format == ""); err != nil {
					return err
				}
				if noStream {
					return nil
				}
				prev = cur
			}
		},
	}
}

func printStats(rows []container.Stats, format string, clear bool) error {
	if format == "json" {
		if rows == nil {
			rows = []container.Stats{}
		}
		return printJSON(rows)
	}
	if clear {
		fmt.Print("\033[H\033[2J")
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(w, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tPIDS\tBLOCK I/O")
	for _, r := range rows {
		if r.NoCgroup {
			fmt.Fprintf(w, "%s\t%s\t--\t-- / --\t--\t--\t--\n", r.ID[:12], r.Name)
			continue
		}
		memPct := 0.0
		if r.MemoryLimit > 0 {
			memPct = float64(r.MemoryUsage) / float64(r.MemoryLimit) * 100
		}
		pids := fmt.Sprint(r.Pids)
		if r.PidsLimit > 0 {
			pids += fmt.Sprintf(" / %d", r.PidsLimit)
		}
		fmt.Fprintf(w, "%s\t%s\t%.2f%%\t%s / %s\t%.2f%%\t%s\t%s / %s\n", r.ID[:12], r.Name, r.CPUPercent,
			size(r.MemoryUsage), size(r.MemoryLimit), memPct, pids, size(r.BlockRead), size(r.BlockWrite))
	}
	return w.Flush()
}

func size(n uint64) string { return config.FormatBytes(int64(n)) }
