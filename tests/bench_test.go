package tests

import (
	"testing"
)

// Benchmarks of the start path, as each test user, with the built binary:
//
//	go test -run '^$' -bench . -benchtime 30x ./tests/
//
// They time and assert nothing about time (the machines are shared and
// noisy); benchstat over two runs shows a regression. scripts/benchstart
// compares the same operations with bwrap and podman in one run.

// benchEachUser runs fn as a sub-benchmark per test user, with a fresh
// store holding the busybox image as "bb".
func benchEachUser(b *testing.B, name string, fn func(b *testing.B, s *store)) {
	for _, u := range users {
		b.Run(u.mode, func(b *testing.B) {
			if u.skip != "" {
				b.Skip(u.skip)
			}
			fn(b, u.lcStore(b, name))
		})
	}
}

// BenchmarkRunTrue: `run --rm bb true`, start to exit.
func BenchmarkRunTrue(b *testing.B) {
	benchEachUser(b, "bench-run", func(b *testing.B, s *store) {
		for b.Loop() {
			r := s.u.runWith(b, s.opts, "run", "--rm", "bb", "true")
			wantCode(b, r, 0)
		}
	})
}

// BenchmarkRunTrueGoInit: BenchmarkRunTrue with the Go init instead of
// a raw start (SANDBOX_NO_RAW=1): what the raw start saves, and a run
// that the raw start does not take (a volume, a terminal, a pod) costs.
func BenchmarkRunTrueGoInit(b *testing.B) {
	benchEachUser(b, "bench-goinit", func(b *testing.B, s *store) {
		o := s.opts
		o.env = append(append([]string{}, o.env...), "SANDBOX_NO_RAW=1")
		for b.Loop() {
			r := s.u.runWith(b, o, "run", "--rm", "bb", "true")
			wantCode(b, r, 0)
		}
	})
}

// BenchmarkRunTrueFullStore: `run --rm bb true` with 50 stopped
// containers in the store: every run passes over the store under its
// lock (sweeping dead --rm containers, and for a unique name), so a cost
// per container shows here and not in BenchmarkRunTrue.
func BenchmarkRunTrueFullStore(b *testing.B) {
	benchEachUser(b, "bench-full", func(b *testing.B, s *store) {
		for range 50 {
			wantCode(b, s.u.runWith(b, s.opts, "create", "bb", "true"), 0)
		}
		for b.Loop() {
			r := s.u.runWith(b, s.opts, "run", "--rm", "bb", "true")
			wantCode(b, r, 0)
		}
	})
}

// BenchmarkExecTrue: `exec CTR true` into a running detached container.
func BenchmarkExecTrue(b *testing.B) {
	benchEachUser(b, "bench-exec", func(b *testing.B, s *store) {
		wantCode(b, s.u.runWith(b, s.opts, "run", "-d", "--name", "target", "bb", "sleep", "1000"), 0)
		for b.Loop() {
			r := s.u.runWith(b, s.opts, "exec", "target", "true")
			wantCode(b, r, 0)
		}
	})
}
