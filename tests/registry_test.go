package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestRegistryPullDebian: a Debian image another tool pushed pulls and
// runs, and its image ID is the digest of the config blob the registry
// serves.
func TestRegistryPullDebian(t *testing.T) {
	reg := startRegistry(t)
	forEachUser(t, func(t *testing.T, u *user) {
		debian := reg.debianImage(t)
		s := u.newStore(t, "pull-debian")
		s.pull(t, debian)

		r := s.mustRun(t, "run", "--rm", debian, "cat", "/etc/debian_version")
		if !regexp.MustCompile(`^12\.[0-9]+\n$`).MatchString(r.stdout) {
			t.Fatalf("/etc/debian_version is %q, want 12.x:\n%s", r.stdout, r)
		}

		// The image ID is the digest of the config blob as served.
		m := reg.imageManifest(t, "debian", "bookworm")
		cfg := reg.blob(t, "debian", m.Config.Digest)
		sum := sha256.Sum256(cfg)
		if got := "sha256:" + hex.EncodeToString(sum[:]); got != m.Config.Digest {
			t.Fatalf("the registry serves config %s with digest %s", m.Config.Digest, got)
		}
		r = s.mustRun(t, "images")
		row := ""
		for _, line := range strings.Split(r.stdout, "\n") {
			if f := strings.Fields(line); len(f) >= 3 && f[0] == reg.host+"/debian" && f[1] == "bookworm" {
				row = line
				if f[2] != shortHex(m.Config.Digest) {
					t.Errorf("images shows IMAGE ID %s for debian:bookworm, want %s (the config digest %s):\n%s", f[2], shortHex(m.Config.Digest), m.Config.Digest, r)
				}
			}
		}
		if row == "" {
			t.Fatalf("images lacks %s/debian bookworm:\n%s", reg.host, r)
		}
		if id := s.imageID(t, debian); id != m.Config.Digest {
			t.Errorf("inspect: Id is %s, want the config digest %s", id, m.Config.Digest)
		}
		// The manifest digest is the registry's.
		_, manifestDigest := reg.manifest(t, "debian", "bookworm")
		r = s.mustRun(t, "images", "--digests")
		if !strings.Contains(r.stdout, manifestDigest) {
			t.Errorf("images --digests lacks the manifest digest %s:\n%s", manifestDigest, r)
		}
	})
}

// TestRegistryLayerSharing: Debian and a child of it share the Debian
// layer on disk, and the child's whiteouts and opaque directory apply.
func TestRegistryLayerSharing(t *testing.T) {
	reg := startRegistry(t)
	forEachUser(t, func(t *testing.T, u *user) {
		child := reg.debianChildImage(t)
		debian := reg.debianImage(t)
		s := u.newStore(t, "sharing")
		s.pull(t, debian)
		r := s.pull(t, child)

		if got := s.layers(t); len(got) != 2 {
			t.Errorf("layers/ holds %d layers after pulling Debian and its child, want 2 (the Debian layer once, the child's): %v", len(got), got)
		}
		rootfs := debianRootfsKB(t)
		childKB := int64(len(childLayerB))/1024 + 4*8
		storeKB := duKB(t, s.root)
		limit := (rootfs + childKB) * 11 / 10
		t.Logf("store: %d KiB; Debian rootfs %d KiB + child layer %d KiB; limit %d KiB", storeKB, rootfs, childKB, limit)
		if storeKB >= limit {
			t.Errorf("the store takes %d KiB (du -sk %s), want < %d KiB: 1.1 × (Debian rootfs %d KiB + child layer %d KiB); is the Debian layer stored twice?\n%s",
				storeKB, s.root, limit, rootfs, childKB, r)
		}

		r = s.mustRun(t, "run", "--rm", child, "sh", "-c", `
			cat /child-marker
			test -e /etc/motd && echo "motd present"
			ls -A /usr/share/doc
			cat /usr/share/doc/child-note`)
		wantStdout(t, r, "child\nchild-note\n"+childNote)

		// The parent is unchanged by its child.
		r = s.mustRun(t, "run", "--rm", debian, "sh", "-c", `
			test -e /child-marker && echo "marker present"
			test -f /etc/motd && echo "motd present"
			test -d /usr/share/doc/base-files && echo "doc present"`)
		wantStdout(t, r, "motd present\ndoc present\n")
	})
}

// TestRegistryPullKilled: a pull killed (SIGKILL) at any point leaves no
// image behind and no broken store; the next pull completes it and leaves
// tmp/ empty.
func TestRegistryPullKilled(t *testing.T) {
	reg := startRegistry(t)
	forEachUser(t, func(t *testing.T, u *user) {
		big, dataSHA := reg.bigImage(t)
		s := u.newStore(t, "killed")
		// The store exists, with an image, before the first kill.
		s.pull(t, reg.busyboxImage(t))

		points := []struct {
			name string
			// when returns true once the pull has reached the point.
			// (old is what tmp/ held before the pull started: leftovers
			// of the previous kill do not count.)
			when func(p *proc, old map[string]bool) bool
			// staged: the kill must land while tmp/ holds the pull's work.
			staged bool
		}{
			{"after 100ms", func(p *proc, _ map[string]bool) bool { return time.Since(p.started) >= 100*time.Millisecond }, false},
			{"staging created", func(_ *proc, old map[string]bool) bool { return len(newEntries(s.tmpEntries(t), old)) > 0 }, true},
			{"50 MB unpacked", func(_ *proc, old map[string]bool) bool { return s.stagedBytes(old) >= 50<<20 }, true},
			{"170 MB unpacked", func(_ *proc, old map[string]bool) bool { return s.stagedBytes(old) >= 170<<20 }, true},
		}
		for _, pt := range points {
			old := map[string]bool{}
			for _, e := range s.tmpEntries(t) {
				old[e] = true
			}
			p := s.start(t, "pull", "--tls-verify=false", big)
			reached := false
			for !reached {
				select {
				case <-p.done:
					t.Fatalf("kill point %q: the pull ended before it was reached (this machine is too fast for the point; tmp/ held %d new bytes):\n%s", pt.name, s.stagedBytes(old), p.res)
				default:
				}
				reached = pt.when(p, old)
				if !reached {
					time.Sleep(2 * time.Millisecond)
				}
			}
			staged := newEntries(s.tmpEntries(t), old)
			var tree []procInfo
			for _, q := range listProcs() {
				if descendantOf(q.pid, p.pid) {
					tree = append(tree, q)
				}
			}
			syscall.Kill(p.pid, syscall.SIGKILL)
			res, _ := p.wait(30 * time.Second)
			if res.signal != "killed" && !(res.code == 0 && pt.name == points[len(points)-1].name) {
				t.Fatalf("kill point %q: the pull was not killed by SIGKILL (it ended first?):\n%s", pt.name, res)
			}
			if res.signal != "killed" {
				// The last point is near the pull's end: on a fast run the
				// pull may finish before the signal lands. Its image is
				// then checked whole below, like one the kill came too
				// late for.
				t.Logf("kill point %q: the pull ended (0) before the kill", pt.name)
			}
			t.Logf("kill point %q: killed after %v; new in tmp/: %v", pt.name, res.elapsed.Round(time.Millisecond), staged)
			if pt.staged && len(staged) == 0 {
				t.Errorf("kill point %q: tmp/ was empty at the kill", pt.name)
			}
			// Whatever the pull had started (its unpack task) goes with it.
			if !waitFor(10*time.Second, func() bool {
				for _, q := range tree {
					if alive(q) {
						return false
					}
				}
				return true
			}) {
				for _, q := range tree {
					if alive(q) {
						t.Errorf("kill point %q: process %d (%s) the killed pull started still runs 10 s later", pt.name, q.pid, q.cmdline)
						syscall.Kill(q.pid, syscall.SIGKILL)
					}
				}
			}

			r := s.mustRun(t, "images")
			if strings.Contains(r.stdout, reg.host+"/big") {
				// The kill may land after the image's record was written
				// (the pull was done, the process not yet gone): then the
				// image must be whole, never half.
				got := s.run(t, "run", "--rm", big, "sha256sum", "/big/data")
				if got.stdout != dataSHA+"  /big/data\n" {
					t.Fatalf("kill point %q: images lists an image that is not whole:\n%s\n%s", pt.name, r, got)
				}
				t.Logf("kill point %q: the kill came after the pull's end; the image is whole", pt.name)
				s.mustRun(t, "rmi", big)
			}
			for _, rel := range s.layers(t) {
				if _, err := os.Stat(filepath.Join(s.root, "layers", rel, "layer.json")); err != nil {
					t.Errorf("kill point %q: layers/%s is incomplete (no layer.json): %v", pt.name, rel, err)
				}
			}
		}

		s.pull(t, big)
		if left := s.leftEntries(t); len(left) != 0 {
			t.Errorf("tmp/ is not empty after the pull that followed the kills: %v", left)
		}
		r := s.mustRun(t, "run", "--rm", big, "sha256sum", "/big/data")
		wantStdout(t, r, dataSHA+"  /big/data\n")
		// The run's own container goes with its init, just after it returns.
		if left := settledEntries(t, filepath.Join(s.root, "tmp")); len(left) != 0 {
			t.Errorf("tmp/ is not empty after run: %v", left)
		}
	})
}

// TestRegistryPullCorruptBlob: a layer blob the registry serves with wrong
// bytes fails the pull with its digest named, and changes nothing in the
// store.
func TestRegistryPullCorruptBlob(t *testing.T) {
	reg := startRegistry(t)
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.newStore(t, "corrupt")
		bb := reg.busyboxImage(t)
		s.pull(t, bb)
		for _, kind := range []string{"gz", "tar"} {
			t.Run(kind, func(t *testing.T) {
				ref, digest := reg.corruptImage(t, kind)
				index := filepath.Join(s.root, "images.json")
				before, err := os.ReadFile(index)
				if err != nil {
					t.Fatal(err)
				}
				layersBefore := s.layers(t)

				r := s.run(t, "pull", "--tls-verify=false", ref)
				wantFailure(t, r)
				if !strings.Contains(r.stderr, digest) {
					t.Errorf("the failed pull does not name the corrupt blob %s:\n%s", digest, r)
				}
				t.Logf("refused (exit %d): %s", r.code, strings.TrimSpace(r.stderr))

				after, err := os.ReadFile(index)
				if err != nil {
					t.Fatal(err)
				}
				if string(after) != string(before) {
					t.Errorf("images.json changed by the failed pull:\nbefore: %s\nafter: %s", before, after)
				}
				if got := s.layers(t); !slices.Equal(got, layersBefore) {
					t.Errorf("layers/ changed by the failed pull: before %v, after %v", layersBefore, got)
				}
				if left := s.leftEntries(t); len(left) != 0 {
					t.Errorf("tmp/ is not empty after the failed pull: %v", left)
				}
				r = s.mustRun(t, "images")
				if strings.Contains(r.stdout, "corrupt") {
					t.Errorf("images lists the corrupt image:\n%s", r)
				}
				s.mustRun(t, "run", "--rm", bb, "true")
			})
		}
	})
}

// TestRegistryConcurrentPulls: ten pulls of overlapping images into one
// store at once all succeed, each layer is stored once, and every image
// runs.
func TestRegistryConcurrentPulls(t *testing.T) {
	reg := startRegistry(t)
	forEachUser(t, func(t *testing.T, u *user) {
		bb := reg.busyboxImage(t)
		extra := reg.busyboxExtraImage(t)
		debian := reg.debianImage(t)
		child := reg.debianChildImage(t)
		s := u.newStore(t, "concurrent")

		refs := []string{bb, debian, child, extra, debian, child, bb, child, debian, extra}
		var wg sync.WaitGroup
		results := make([]result, len(refs))
		procs := make([]*proc, len(refs))
		for i, ref := range refs {
			procs[i] = s.start(t, "pull", "--tls-verify=false", ref)
		}
		for i, p := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, ok := p.wait(pullTimeout)
				if !ok {
					r.stderr += fmt.Sprintf("\n(timed out after %v, killed)", pullTimeout)
				}
				results[i] = r
			}()
		}
		wg.Wait()
		for _, r := range results {
			if r.code != 0 || r.signal != "" {
				t.Errorf("a concurrent pull failed:\n%s", r)
			}
		}
		if t.Failed() {
			return
		}

		// busybox, /extra, Debian, the child's: four layers.
		if got := s.layers(t); len(got) != 4 {
			t.Errorf("layers/ holds %d layers, want 4: %v", len(got), got)
		}
		if left := s.leftEntries(t); len(left) != 0 {
			t.Errorf("tmp/ is not empty after the pulls: %v", left)
		}
		rows := s.imagesJSON(t)
		for _, want := range []string{bb, extra, debian, child} {
			found := false
			for _, row := range rows {
				if row.Repository+":"+row.Tag == want {
					found = true
				}
			}
			if !found {
				t.Errorf("images lacks %s: %+v", want, rows)
			}
		}

		wantStdout(t, s.mustRun(t, "run", "--rm", bb, "cat", "/etc/motd"), motdText)
		wantStdout(t, s.mustRun(t, "run", "--rm", extra, "cat", "/extra"), extraText)
		r := s.mustRun(t, "run", "--rm", debian, "cat", "/etc/debian_version")
		if !strings.HasPrefix(r.stdout, "12.") {
			t.Errorf("debian: /etc/debian_version is %q:\n%s", r.stdout, r)
		}
		wantStdout(t, s.mustRun(t, "run", "--rm", child, "cat", "/child-marker"), "child\n")
	})
}
