package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// benchPull measures pull+unpack from a local registry: sandbox pull into
// a fresh store, podman pull (rootless, same registry) and skopeo copy +
// umoci unpack --rootless, each with its wall time and peak RSS.
// For Debian it returns sandbox's and podman's medians and the median of
// the rounds' ratios (0: podman not measured).
func benchPull(sandbox, work string, n int, debianTar string) (sbDebian, podmanDebian time.Duration, ratio float64, sbMemory treeMemory) {
	reg, stop := startRegistry(work)
	defer stop()
	images := map[string]string{}
	if debianTar != "" {
		ref := reg + "/debian:bookworm"
		check(pushTarImage(ref, []string{debianTar}))
		images["debian"] = ref
	} else {
		fmt.Println("debian: not measured (give -debian-rootfs FILE.tar, e.g. a debootstrap'd minbase tarred)")
	}
	var layers []string
	for i := 0; i < 3 && current == nil; i++ { // -all measures Debian only
		p := filepath.Join(work, fmt.Sprintf("big%d.tar", i))
		check(bigLayer(p, 200<<20, int64(i)))
		layers = append(layers, p)
	}
	if len(layers) > 0 {
		ref := reg + "/big:3x200"
		check(pushTarImage(ref, layers))
		images["3x200MB"] = ref
	}
	for _, p := range layers {
		os.Remove(p)
	}

	for _, label := range []string{"debian", "3x200MB"} {
		ref, ok := images[label]
		if !ok {
			continue
		}
		fmt.Printf("\npull+unpack of %s (%s), median of %d\n", label, ref, n)
		tools := []struct {
			name string
			run  func(i int) (time.Duration, int64, error)
		}{
			{"sandbox", func(i int) (time.Duration, int64, error) {
				store := filepath.Join(work, fmt.Sprintf("sb-%d", i))
				defer os.RemoveAll(store)
				return measure(nil, []string{"XDG_DATA_HOME=" + store}, sandbox, "pull", "-q", "--tls-verify=false", ref)
			}},
		}
		if p, err := exec.LookPath("podman"); err == nil {
			tools = append(tools, struct {
				name string
				run  func(i int) (time.Duration, int64, error)
			}{"podman", func(i int) (time.Duration, int64, error) {
				// A fresh storage each time, as sandbox gets a fresh store:
				// layers left from an earlier pull would make it a no-op.
				// Short: podman refuses a runroot over 50 characters.
				root := fmt.Sprintf("/tmp/bp-%d-%d", os.Getpid(), i)
				defer func() {
					current.command(p, "unshare", "rm", "-rf", root).Run()
					os.RemoveAll(root)
				}()
				return measure(nil, nil, p, "--root", filepath.Join(root, "storage"), "--runroot", filepath.Join(root, "run"),
					"pull", "-q", "--tls-verify=false", ref)
			}})
		}
		if sk, err := exec.LookPath("skopeo"); err == nil {
			if um, err := exec.LookPath("umoci"); err == nil {
				tools = append(tools, struct {
					name string
					run  func(i int) (time.Duration, int64, error)
				}{"skopeo+umoci", func(i int) (time.Duration, int64, error) {
					dir := filepath.Join(work, fmt.Sprintf("oci-%d", i))
					bundle := filepath.Join(work, fmt.Sprintf("bundle-%d", i))
					defer os.RemoveAll(dir)
					defer os.RemoveAll(bundle)
					d1, r1, err := measure(nil, nil, sk, "copy", "--quiet", "--src-tls-verify=false", "docker://"+ref, "oci:"+dir+":x")
					if err != nil {
						return 0, 0, err
					}
					d2, r2, err := measure(nil, nil, um, "unpack", "--rootless", "--image", dir+":x", bundle)
					return d1 + d2, max(r1, r2), err
				}})
			}
		}
		// Turn by turn: round i runs every tool once, so that the machine's
		// drift over the minutes this takes weighs on each alike; the
		// ratio is the median of each round's own ratio.
		ds := make([][]time.Duration, len(tools))
		rss := make([]int64, len(tools))
		failed := make([]string, len(tools))
		for i := 0; i < n; i++ {
			for k, t := range tools {
				if failed[k] != "" {
					continue
				}
				d, r, err := t.run(i)
				if err != nil {
					failed[k] = err.Error()
					continue
				}
				ds[k] = append(ds[k], d)
				rss[k] = max(rss[k], r)
			}
		}
		for k, t := range tools {
			if failed[k] != "" {
				fmt.Printf("  %-13s not measured: %s\n", t.name, firstLine([]byte(failed[k])))
				continue
			}
			m := median(ds[k])
			if label == "debian" && t.name == "sandbox" {
				sbDebian, sbMemory.peak = m, rss[k]
			}
			shown := ""
			if k > 0 && failed[0] == "" && len(ds[k]) == len(ds[0]) {
				r := pairedRatio(ds[0], ds[k])
				shown = fmt.Sprintf("   sandbox/%s = %.2f (median of %d rounds' ratios)", t.name, r, len(ds[k]))
				if label == "debian" && t.name == "podman" {
					podmanDebian, ratio = m, r
				}
			}
			fmt.Printf("  %-13s %8.2f s   peak RSS %4d MiB%s\n", t.name, m.Seconds(), rss[k]>>10, shown)
		}
		// One more round, untimed, sampling each tool's processes: what of
		// the peak RSS is the command's own memory, and what its code.
		fmt.Println("  memory, sampled every 2 ms on an untimed round:")
		for k, t := range tools {
			if failed[k] != "" {
				continue
			}
			var m treeMemory
			sampled = &m
			_, _, err := t.run(n)
			sampled = nil
			if err != nil {
				fmt.Printf("  %-13s not sampled: %v\n", t.name, err)
				continue
			}
			fmt.Printf("  %-13s %v\n", t.name, m)
			if label == "debian" && t.name == "sandbox" {
				m.peak = sbMemory.peak // from the timed rounds
				sbMemory = m
			}
		}
	}
	fmt.Println("\ntarget: sandbox ≤ 0.5× podman's time; its RSS independent of layer size")
	return sbDebian, podmanDebian, ratio, sbMemory
}

// pairedRatio is the median of a[i]/b[i].
func pairedRatio(a, b []time.Duration) float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = float64(a[i]) / float64(b[i])
	}
	sort.Float64s(r)
	if len(r)%2 == 1 {
		return r[len(r)/2]
	}
	return (r[len(r)/2-1] + r[len(r)/2]) / 2
}

// sampled, when set, receives what sampling saw of the next command
// measure runs (an untimed round).
var sampled *treeMemory

// measure runs a command and returns its wall time and peak RSS (KiB, the
// largest of the command and the children it waited for).
//
// The peak comes from GNU time, which forks the command. The rusage of a
// child this program started itself would not do: Go starts a child with
// vfork, and the kernel keeps in the child's peak the parent's as the
// child executes (exec_mmap), so it would read this program's own peak
// (16–18 MiB after pushing the test images) wherever the command's was
// lower.
func measure(stdin io.Reader, env []string, argv0 string, args ...string) (time.Duration, int64, error) {
	gnuTime, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		fail("GNU time not installed (apt-get install time): the bench reads each command's peak RSS from it")
	}
	// GNU time writes the file as the command's user: in a directory of
	// that user's, made by GNU time itself (a file of ours in /tmp would
	// be refused to it, fs.protected_regular).
	dir := os.TempDir()
	if current != nil {
		dir = current.dir
	}
	out := filepath.Join(dir, fmt.Sprintf("benchstart-time-%d-%d", os.Getpid(), rand.Int63()))
	defer os.Remove(out)
	cmd := current.command(append([]string{gnuTime, "-q", "-f", "%M", "-o", out, argv0}, args...)...)
	cmd.Env = append(cmd.Environ(), env...)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &output, &output, stdin
	start := time.Now()
	err = cmd.Start()
	if err == nil {
		var s *memSampler
		if sampled != nil {
			s = sampleTree(cmd.Process.Pid)
		}
		err = cmd.Wait()
		if s != nil {
			*sampled = s.Stop()
		}
	}
	d := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("%s %s: %v: %s", argv0, strings.Join(args, " "), err, output.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return 0, 0, err
	}
	lines := strings.Fields(string(b))
	if len(lines) == 0 {
		return 0, 0, fmt.Errorf("GNU time wrote no peak RSS for %s", argv0)
	}
	rss, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("GNU time's peak RSS for %s: %w", argv0, err)
	}
	return d, rss, nil
}

func startRegistry(work string) (string, func()) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		fail("docker-registry not installed (apt-get install docker-registry)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	addr := l.Addr().String()
	l.Close()
	cfg := filepath.Join(work, "registry.yml")
	check(os.WriteFile(cfg, []byte(fmt.Sprintf("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(work, "registry"), addr)), 0o644))
	cmd := exec.Command(bin, "serve", cfg)
	check(cmd.Start())
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return addr, func() { cmd.Process.Kill(); cmd.Wait() }
}

// pushTarImage pushes an image whose layers are the given tarballs.
func pushTarImage(ref string, tars []string) error {
	img := empty.Image
	for _, t := range tars {
		l, err := tarball.LayerFromFile(t)
		if err != nil {
			return err
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = []string{"/bin/sh"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return err
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	return remote.Write(r, img)
}

// bigLayer writes a layer tar with one file of size bytes of text-like data
// that gzip shrinks about as much as real binaries (≈ 2.5×).
func bigLayer(path string, size int64, seed int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("data%d.bin", seed), Mode: 0o644, Size: size, ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	rnd := rand.New(rand.NewSource(seed))
	words := make([][]byte, 4096)
	for i := range words {
		w := make([]byte, 3+rnd.Intn(8))
		rnd.Read(w)
		words[i] = w
	}
	buf := make([]byte, 0, 1<<20)
	var written int64
	for written < size {
		buf = buf[:0]
		for len(buf) < cap(buf)-16 {
			buf = append(buf, words[rnd.Intn(len(words))]...)
		}
		if rest := size - written; int64(len(buf)) > rest {
			buf = buf[:rest]
		}
		n, err := tw.Write(buf)
		written += int64(n)
		if err != nil {
			return err
		}
	}
	return tw.Close()
}
