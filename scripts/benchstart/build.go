package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// benchBuild times a six-step build (busybox base, COPY, RUN ×3, CMD) with
// sandbox and with podman, turn by turn: cold (--no-cache: every step
// runs) and cached (nothing changed: every step from the cache).
func benchBuild(sandbox, work, tarball string, n int) {
	ctx := filepath.Join(work, "build-context")
	check(os.MkdirAll(ctx, 0o755))
	check(os.WriteFile(filepath.Join(ctx, "app.txt"), []byte("app\n"), 0o644))
	check(os.WriteFile(filepath.Join(ctx, "Containerfile"), []byte("FROM bb\n"+
		"COPY app.txt /app/\n"+
		"RUN echo one > /one\n"+
		"RUN echo two > /two\n"+
		"RUN echo three > /three\n"+
		"CMD [\"cat\", \"/app/app.txt\"]\n"), 0o644))
	env := append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(work, "data"), "XDG_CONFIG_HOME="+filepath.Join(work, "config"))
	imp := exec.Command(sandbox, "import", tarball, "bb")
	imp.Env = env
	if out, err := imp.CombinedOutput(); err != nil {
		fail("sandbox import: %v: %s", err, out)
	}
	waitTextStage(nil, env, sandbox)
	type builder struct {
		name         string
		cold, cached []string
		env          []string
		tc, tk       []time.Duration
	}
	bs := []*builder{{name: "sandbox", env: env,
		cold:   []string{sandbox, "build", "-q", "--no-cache", "-t", "bench-built", ctx},
		cached: []string{sandbox, "build", "-q", "-t", "bench-built", ctx}}}
	if p, err := exec.LookPath("podman"); err == nil {
		// Its own store in the work directory, and FROM bb naming the
		// same busybox.
		pctx := filepath.Join(work, "podman-context")
		check(os.MkdirAll(pctx, 0o755))
		data, _ := os.ReadFile(filepath.Join(ctx, "Containerfile"))
		check(os.WriteFile(filepath.Join(pctx, "Containerfile"), append([]byte("FROM localhost/sandbox-bench-bb\n"), data[len("FROM bb\n"):]...), 0o644))
		check(os.WriteFile(filepath.Join(pctx, "app.txt"), []byte("app\n"), 0o644))
		global := []string{p, "--root", filepath.Join(work, "podman-root")}
		imp := append(append([]string{}, global...), "import", tarball, "localhost/sandbox-bench-bb")
		if out, err := exec.Command(imp[0], imp[1:]...).CombinedOutput(); err != nil {
			fmt.Printf("podman: import failed: %v: %s\n", err, firstLine(out))
		} else {
			run := append(append([]string{}, global...), "build", "-q", "--no-cache", "-t", "bench-built", pctx)
			if probe(run) != nil {
				// crun refuses cgroup v1/hybrid hosts; runc copes.
				global = append(global, "--runtime", "runc")
			}
			bs = append(bs, &builder{name: "podman", env: os.Environ(),
				cold:   append(append([]string{}, global...), "build", "-q", "--no-cache", "-t", "bench-built", pctx),
				cached: append(append([]string{}, global...), "build", "-q", "-t", "bench-built", pctx)})
		}
	} else {
		fmt.Println("podman: not installed (apt-get install podman)")
	}
	timeIt := func(b *builder, argv []string) time.Duration {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = b.env
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			fail("%s: %v: %s", b.name, err, out)
		}
		return time.Since(start)
	}
	for _, b := range bs {
		timeIt(b, b.cold) // warm the page cache, and fill the step cache
	}
	for i := 0; i < n; i++ {
		for _, b := range bs {
			b.tc = append(b.tc, timeIt(b, b.cold))
			b.tk = append(b.tk, timeIt(b, b.cached))
		}
	}
	fmt.Printf("\na six-step build (FROM busybox, COPY, RUN ×3, CMD), median of %d rounds (%s)\n", n, time.Now().Format(time.RFC3339))
	for _, b := range bs {
		fmt.Printf("  %-8s cold %8.1f ms   cached %7.1f ms\n", b.name, ms(median(b.tc)), ms(median(b.tk)))
	}
	if len(bs) > 1 {
		fmt.Printf("\nratios (sandbox / podman; targets: cold ≤ 0.5, cached ≤ 0.2)\n  cold   %.2f\n  cached %.2f\n",
			float64(median(bs[0].tc))/float64(median(bs[1].tc)), float64(median(bs[0].tk))/float64(median(bs[1].tk)))
	}
}
