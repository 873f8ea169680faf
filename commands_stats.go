package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/format"
)

func statsCommand() *command {
	var noStream bool
	var spec string
	return &command{
		name:    "stats",
		usage:   "[--no-stream] [--format json|TEMPLATE] [CONTAINER...]",
		summary: "Show containers' CPU, memory, process and block I/O use, live (default: every running container).",
		flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&noStream, "no-stream", false, "print one reading and exit")
			fs.StringVar(&spec, "format", "", `"json" for a JSON array (one per reading), or a Go template: ID, Container, Name, CPUPerc, MemUsage, MemPerc, PIDs, BlockIO`)
		},
		interspersed: true,
		run: func(fs *pflag.FlagSet, args []string) error {
			out, err := listFormat(spec, statsTable, statsRow{}, "stats")
			if err != nil {
				return err
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
				return printStats(nil, out, false)
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
				if err := printStats(rows, out, !noStream && spec == ""); err != nil {
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

// printStats prints one reading: a JSON array when out is nil.
func printStats(rows []container.Stats, out *format.Template, clear bool) error {
	if out == nil {
		if rows == nil {
			rows = []container.Stats{}
		}
		return printJSON(rows)
	}
	if clear {
		fmt.Print("\033[H\033[2J")
	}
	return out.Execute(os.Stdout, statsRows(rows), statsColumns)
}
