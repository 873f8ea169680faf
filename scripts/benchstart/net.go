package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// transferSize is what the throughput measurement sends.
const transferSize = 256 << 20

// benchNet measures what a private network costs: start-to-exit of
// `run --rm bb true` with --net host, pasta and slirp4netns next to
// podman's default network, then the time to send 256 MiB through a
// published port to a sink inside (tests/testdata/netprobe) next to the
// same sink on the host's loopback and inside podman.
func benchNet(sandbox, work, tarball string, n int) {
	// A private store, so the user's own is left alone.
	os.Setenv("XDG_DATA_HOME", filepath.Join(work, "data"))
	os.Setenv("XDG_CONFIG_HOME", filepath.Join(work, "config"))
	if out, err := exec.Command(sandbox, "import", tarball, "bb").CombinedOutput(); err != nil {
		fail("sandbox import: %v: %s", err, out)
	}
	waitTextStage(nil, nil, sandbox)
	probeBin := filepath.Join(work, "netprobe")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", probeBin, "./tests/testdata/netprobe")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fail("building netprobe: %v: %s", err, out)
	}

	tools := []*tool{{name: "host", argv: []string{sandbox, "run", "--rm", "--net", "host", "bb", "true"}}}
	for _, h := range []string{"pasta", "slirp4netns"} {
		if _, err := exec.LookPath(h); err == nil {
			tools = append(tools, &tool{name: h, argv: []string{sandbox, "run", "--rm", "--net", h, "bb", "true"}})
		}
	}
	podman, _ := exec.LookPath("podman")
	podmanImage := "localhost/sandbox-bench-bb"
	var podmanArgs []string
	if podman != "" {
		if out, err := exec.Command(podman, "import", tarball, podmanImage).CombinedOutput(); err != nil {
			fmt.Printf("podman: import failed: %v: %s\n", err, firstLine(out))
			podman = ""
		} else {
			defer exec.Command(podman, "rmi", "-f", podmanImage).Run()
			podmanArgs = []string{podman}
			if probe([]string{podman, "run", "--rm", podmanImage, "true"}) != nil {
				podmanArgs = append(podmanArgs, "--runtime", "runc")
			}
			// Its default network (slirp4netns on Debian 12's podman 4.3).
			tools = append(tools, &tool{name: "podman", argv: append(append([]string{}, podmanArgs...), "run", "--rm", podmanImage, "true")})
		}
	}
	ok := working(tools)
	rounds(ok, n, timeRun)
	fmt.Printf("\nstart-to-exit of `run --rm bb true`, median of %d rounds (%s)\n", n, time.Now().Format(time.RFC3339))
	var host time.Duration
	for _, t := range ok {
		m := median(t.times)
		if t.name == "host" {
			host = m
		}
		fmt.Printf("  %-12s %8.2f ms   (p10 %.2f, p90 %.2f)\n", t.name, ms(m), ms(pct(t.times, 10)), ms(pct(t.times, 90)))
	}
	for _, t := range ok {
		if t.name != "host" && host > 0 {
			fmt.Printf("  %s / sandbox --net host: %.2f\n", t.name, float64(median(t.times))/float64(host))
		}
	}
	for _, t := range ok {
		if t.name != "podman" && t.name != "host" {
			for _, p := range ok {
				if p.name == "podman" {
					fmt.Printf("  sandbox --net %s / podman: %.2f\n", t.name, float64(median(t.times))/float64(median(p.times)))
				}
			}
		}
	}

	fmt.Printf("\nthroughput: %d MiB sent to a sink through a published port (best of 3)\n", transferSize>>20)
	results := map[string]float64{}
	// The same sink on the host's loopback: what no helper costs.
	port := freePort()
	sink := exec.Command(probeBin, "tcp-sink", strconv.Itoa(port))
	sinkOut, err := sink.StdoutPipe()
	check(err)
	check(sink.Start())
	// Connect only once it listens: dialing an ephemeral port nobody
	// listens on can connect the socket to itself.
	line := make([]byte, 10)
	io.ReadFull(sinkOut, line)
	results["loopback"], err = bestOf3(port)
	sink.Process.Kill()
	sink.Wait()
	check(err)
	for _, t := range ok {
		if t.name == "host" || t.name == "podman" {
			continue
		}
		port := freePort()
		name := "bench-net-" + t.name
		out, err := exec.Command(sandbox, "run", "-d", "--name", name, "--net", t.name, "-p", fmt.Sprintf("127.0.0.1:%d:9000", port),
			"-v", probeBin+":/probe:ro", "bb", "/probe", "tcp-sink", "9000").CombinedOutput()
		if err != nil {
			fmt.Printf("  %s: %v: %s\n", t.name, err, out)
			continue
		}
		// Measured, then removed whatever happened: a failed measurement
		// must not leave a container (and its helper) running.
		rate, err := bestOf3(port)
		exec.Command(sandbox, "rm", "-f", name).Run()
		if err != nil {
			fmt.Printf("  sandbox %s: %v\n", t.name, err)
			continue
		}
		results["sandbox "+t.name] = rate
	}
	if podman != "" {
		port := freePort()
		args := append(append([]string{}, podmanArgs...), "run", "-d", "--rm", "--name", "sandbox-bench-net", "-p", fmt.Sprintf("127.0.0.1:%d:9000", port),
			"-v", probeBin+":/probe:ro", podmanImage, "/probe", "tcp-sink", "9000")
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			fmt.Printf("  podman: %v: %s\n", err, firstLine(out))
		} else {
			rate, err := bestOf3(port)
			exec.Command(podman, "rm", "-f", "sandbox-bench-net").Run()
			if err != nil {
				fmt.Printf("  podman: %v\n", err)
			} else {
				results["podman"] = rate
			}
		}
	}
	for _, k := range []string{"loopback", "sandbox pasta", "sandbox slirp4netns", "podman"} {
		if v, ok := results[k]; ok {
			fmt.Printf("  %-20s %8.1f MiB/s", k, v)
			if lo := results["loopback"]; k != "loopback" && lo > 0 {
				fmt.Printf("   (%.2f of loopback", v/lo)
				if p := results["podman"]; p > 0 && k != "podman" {
					fmt.Printf(", %.2f× podman", v/p)
				}
				fmt.Print(")")
			}
			fmt.Println()
		}
	}
}

// bestOf3 sends transferSize bytes to 127.0.0.1:port until three sends
// were counted in full by the sink, and returns the best rate in MiB/s.
// Failures are retried for 30 s: a helper accepts connections before the
// sink inside listens, and then closes them.
func bestOf3(port int) (float64, error) {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	best, good := 0.0, 0
	var lastErr error
	for deadline := time.Now().Add(30 * time.Second); good < 3; {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("sending %d MiB to %s: %v", transferSize>>20, addr, lastErr)
		}
		d, err := send(addr)
		if err != nil {
			lastErr = err
			time.Sleep(100 * time.Millisecond)
			continue
		}
		good++
		if r := float64(transferSize>>20) / d.Seconds(); r > best {
			best = r
		}
	}
	return best, nil
}

// send sends transferSize bytes and checks the count the sink answers.
func send(addr string) (time.Duration, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	start := time.Now()
	for sent := 0; sent < transferSize; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			return 0, err
		}
	}
	c.(*net.TCPConn).CloseWrite()
	reply, err := io.ReadAll(c)
	d := time.Since(start)
	if got := strings.TrimSpace(string(reply)); err != nil || got != strconv.Itoa(transferSize) {
		return 0, fmt.Errorf("the sink counted %q bytes, want %d (%v)", got, transferSize, err)
	}
	return d, nil
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
