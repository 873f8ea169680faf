package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// relaySize is what the stdio relay measurement sends through `cat`.
const relaySize = 1 << 30

// benchSeal measures what sealing the sandbox costs, in the same run:
//
//   - start-to-exit of `run --rm bb true` with the default seccomp filter
//     next to --security-opt seccomp=unconfined (target: ≤ 0.5 ms more);
//   - 1 GiB from stdin to stdout through `run --rm -i bb cat`, whose
//     payload gets pipes the CLI relays, next to bwrap running the same cat
//     on the descriptors themselves, the same cat between two host cats
//     (pipes on both sides, no sandbox), and podman (conmon relays too)
//     (target: ≥ 1 GiB/s).
func benchSeal(sandbox, work, rootfs, tarball string, n int) {
	os.Setenv("XDG_DATA_HOME", filepath.Join(work, "data"))
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(work, "config"))
	if out, err := exec.Command(sandbox, "import", tarball, "bb").CombinedOutput(); err != nil {
		fail("sandbox import: %v: %s", err, out)
	}
	waitTextStage(nil, nil, sandbox)
	tools := []*tool{
		{name: "default", argv: []string{sandbox, "run", "--rm", "bb", "true"}},
		{name: "unconfined", argv: []string{sandbox, "run", "--rm", "--security-opt", "seccomp=unconfined", "bb", "true"}},
	}
	if len(working(tools)) != len(tools) {
		fail("sandbox does not run here")
	}
	rounds(tools, n, timeRun)
	fmt.Printf("\nstart-to-exit of `run --rm bb true`, median of %d rounds (%s)\n", n, time.Now().Format(time.RFC3339))
	for _, t := range tools {
		fmt.Printf("  %-10s %8.2f ms   (p10 %.2f, p90 %.2f)\n", t.name, ms(median(t.times)), ms(pct(t.times, 10)), ms(pct(t.times, 90)))
	}
	// The machine's drift between rounds is larger than the filter's
	// cost: compare the two runs of each round, then take the median.
	diffs := make([]time.Duration, n)
	for i := range diffs {
		diffs[i] = tools[0].times[i] - tools[1].times[i]
	}
	fmt.Printf("  the filter costs %.2f ms, median of the rounds' differences (p25 %.2f, p75 %.2f; target ≤ 0.5)\n",
		ms(median(diffs)), ms(pct(diffs, 25)), ms(pct(diffs, 75)))

	// The input is a file in memory where there is one, so that the disk
	// is not what is measured.
	dir := "/dev/shm"
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		dir = work
	}
	in, err := os.CreateTemp(dir, "sandbox-bench-relay-")
	check(err)
	defer os.Remove(in.Name())
	chunk := make([]byte, 1<<20)
	for i := 0; i < relaySize/len(chunk); i++ {
		_, err := in.Write(chunk)
		check(err)
	}
	in.Close()
	cats := []*tool{{name: "sandbox", argv: []string{sandbox, "run", "--rm", "-i", "bb", "cat"}}}
	if p, err := exec.LookPath("bwrap"); err == nil {
		cats = append(cats, &tool{name: "bwrap", argv: bwrapArgv(p, rootfs, "/bin/cat")})
	}
	// The same cat between two relays and no sandbox: what pipes on both
	// sides cost busybox's cat, which reads a file with sendfile but a pipe
	// 64 KiB at a time.
	cats = append(cats, &tool{name: "pipes", argv: []string{"sh", "-c", "cat | " + filepath.Join(rootfs, "bin/cat") + " | cat"}})
	if p, err := exec.LookPath("podman"); err == nil {
		image := "localhost/sandbox-bench-bb"
		if out, err := exec.Command(p, "import", tarball, image).CombinedOutput(); err == nil {
			defer exec.Command(p, "rmi", "-f", image).Run()
			argv := []string{p, "run", "--rm", "-i", "--network=host", image, "cat"}
			if probe([]string{p, "run", "--rm", "--network=host", image, "true"}) != nil {
				argv = []string{p, "--runtime", "runc", "run", "--rm", "-i", "--network=host", image, "cat"}
			}
			cats = append(cats, &tool{name: "podman", argv: argv})
		} else {
			fmt.Printf("podman: import failed: %v: %s\n", err, firstLine(out))
		}
	}
	catRounds := max(3, n/10)
	rounds(cats, catRounds, func(argv []string, _ int) (time.Duration, error) { return timeCat(argv, in.Name()) })
	fmt.Printf("\n1 GiB from stdin to stdout through cat, median of %d rounds\n", catRounds)
	for _, t := range cats {
		fmt.Printf("  %-8s %6.2f GiB/s  (%.0f ms)\n", t.name, gibPerSec(median(t.times)), ms(median(t.times)))
	}
	fmt.Println("  sandbox relays through pipes (target ≥ 1 GiB/s); bwrap hands cat the descriptors themselves;")
	fmt.Println("  pipes is `cat | busybox cat | cat` on the host: the same data path with no sandbox")
}

// timeCat runs argv with the file as stdin and a pipe as stdout, read to
// the end here, and returns how long that took.
func timeCat(argv []string, input string) (time.Duration, error) {
	f, err := os.Open(input)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = f
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	buf := make([]byte, 1<<20)
	var got int64
	for {
		n, err := out.Read(buf)
		got += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	if err := cmd.Wait(); err != nil {
		return 0, err
	}
	d := time.Since(start)
	if got != relaySize {
		return 0, fmt.Errorf("got %d bytes, want %d", got, relaySize)
	}
	return d, nil
}

func gibPerSec(d time.Duration) float64 { return float64(relaySize) / float64(1<<30) / d.Seconds() }
