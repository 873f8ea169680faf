package tests

import (
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// inspectLayers is an image's layer diff IDs, from inspect's RootFS.Layers.
func (s *store) inspectLayers(t *testing.T, ref string) []string {
	t.Helper()
	r := s.must(t, "image", "inspect", ref) // not a container whose ID begins with ref
	var d []struct{ RootFS struct{ Layers []string } }
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || len(d) != 1 || len(d[0].RootFS.Layers) == 0 {
		t.Fatalf("inspect %s: want one image with RootFS.Layers (%v):\n%s", ref, err, r)
	}
	return d[0].RootFS.Layers
}

// wantLine fails unless one line of out contains every part.
func wantLine(t *testing.T, out string, parts ...string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return
		}
	}
	t.Errorf("no line holds all of %q:\n%s", parts, out)
}

// TestSystemCheck damages a store the ways the issue lists — a byte of a
// layer's file flipped, an image's blob deleted, commands killed at
// random points — and checks that `system check` names each problem and
// exits 1, that --repair leaves a store it passes, and that what was not
// damaged still runs.
func TestSystemCheck(t *testing.T) {
	reg := startRegistry(t)
	forEachUser(t, func(t *testing.T, u *user) {
		big, _ := reg.bigImage(t)
		s := u.lcStore(t, "check")
		r := s.must(t, "system", "check")
		wantStdoutContains(t, r, "no problems")

		// bb2 and bb3 are bb plus a layer of their own (commits).
		s.must(t, "run", "--name", "m2", "bb", "sh", "-c", "echo two > /two")
		s.must(t, "commit", "m2", "bb2")
		s.must(t, "run", "--name", "m3", "bb", "sh", "-c", "echo three > /three")
		s.must(t, "commit", "m3", "bb3")
		s.must(t, "rm", "m2", "m3")
		s.mustID(t, "create", "--name", "c1", "bb", "true")
		s.mustID(t, "create", "--name", "c2", "bb2", "cat", "/two")
		s.mustID(t, "create", "--name", "c3", "bb3", "cat", "/three")
		r = s.must(t, "system", "check")
		wantStdoutContains(t, r, "no problems")

		// A byte flipped in bb2's own layer.
		l2 := s.inspectLayers(t, "bb2")
		top := strings.TrimPrefix(l2[len(l2)-1], "sha256:")
		file := filepath.Join(s.root, "layers", top, "diff", "two")
		if err := os.WriteFile(file, []byte("twO\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// bb3's config blob deleted.
		id3 := s.imageID(t, "bb3")
		if err := os.Remove(filepath.Join(s.root, "blobs", "sha256", strings.TrimPrefix(id3, "sha256:"))); err != nil {
			t.Fatal(err)
		}

		// Commands killed at random points: a commit, a run, an rm, and
		// a pull once its staging exists.
		rng := rand.New(rand.NewSource(time.Now().UnixNano()))
		s.mustID(t, "create", "--name", "k1", "bb", "true")
		s.mustID(t, "create", "--name", "k2", "bb", "true")
		for _, args := range [][]string{
			{"commit", "k1", "bb:killed"},
			{"run", "--name", "k3", "bb", "sleep", "5"},
			{"rm", "-f", "k2"},
		} {
			p := s.start(t, args...)
			time.Sleep(time.Duration(rng.Intn(60)) * time.Millisecond)
			syscall.Kill(p.pid, syscall.SIGKILL)
			p.wait(30 * time.Second)
			t.Logf("killed %v", args)
		}
		p := s.start(t, "pull", "--tls-verify=false", big)
		if !waitFor(2*time.Minute, func() bool { return len(s.tmpEntries(t)) > 0 }) {
			t.Fatal("the pull made no staging in 2 minutes")
		}
		syscall.Kill(p.pid, syscall.SIGKILL)
		p.wait(30 * time.Second)
		// Whatever the killed commands started ends with them; give the
		// run's payload its parent-death signal.
		time.Sleep(200 * time.Millisecond)

		r = s.do(t, "system", "check")
		t.Logf("check after the damage:\n%s", r.stdout)
		wantCode(t, r, 1)
		wantLine(t, r.stdout, "layer "+top[:12], "changed since it was stored")
		wantLine(t, r.stdout, "image "+strings.TrimPrefix(s.imageID(t, "bb2"), "sha256:")[:12], "bb2:latest", "damaged")
		wantLine(t, r.stdout, "(c2)", "is damaged")
		wantLine(t, r.stdout, "image "+strings.TrimPrefix(id3, "sha256:")[:12], "bb3:latest", "config blob", "missing")
		wantLine(t, r.stdout, "(c3)", "is damaged")
		wantLine(t, r.stdout, "staging tmp/", "killed command")
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			if !strings.HasPrefix(line, "checked ") && !strings.Contains(line, "; --repair: ") {
				t.Errorf("a problem line does not say what --repair does: %q", line)
			}
		}
		if strings.Contains(r.stdout, "(c1)") {
			t.Errorf("check names c1, which nothing damaged:\n%s", r.stdout)
		}
		// check itself changes nothing.
		if _, err := os.Stat(file); err != nil {
			t.Errorf("check removed the damaged layer's file: %v", err)
		}

		r = s.do(t, "system", "check", "--repair")
		wantCode(t, r, 0)
		r = s.do(t, "system", "check")
		wantCode(t, r, 0)
		wantStdoutContains(t, r, "no problems")
		if left := s.leftEntries(t); len(left) != 0 {
			t.Errorf("tmp/ after --repair: %v", left)
		}

		// What was not damaged is still there and runs.
		r = s.must(t, "images", "--format", "{{.Repository}}")
		if strings.Contains(r.stdout, "bb2") || strings.Contains(r.stdout, "bb3") {
			t.Errorf("damaged images still listed:\n%s", r.stdout)
		}
		wantStdoutContains(t, r, "bb\n")
		r = s.must(t, "ps", "-a", "--format", "{{.Names}}")
		for _, n := range []string{"c2", "c3"} {
			if strings.Contains(r.stdout, n+"\n") {
				t.Errorf("container %s of a damaged image survived --repair:\n%s", n, r.stdout)
			}
		}
		wantStdoutContains(t, r, "c1\n")
		wantStdoutContains(t, r, "k1\n")
		s.must(t, "start", "-a", "c1")
		r = s.must(t, "run", "--rm", "bb", "echo", "still here")
		wantStdout(t, r, "still here\n")
		// The registry's image pulls whole after the killed pull.
		s.pull(t, big)
	})
}

// TestSystemReset asks first, then removes every container (a running one
// too), image, network and volume, and only the store's own files; a
// store that held nothing else is gone.
func TestSystemReset(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "reset")
		id := s.mustID(t, "run", "-d", "bb", "sleep", "300")
		init := s.initOf(t, id)
		s.mustID(t, "create", "--name", "idle", "bb", "true")
		s.must(t, "network", "create", "resetnet")
		s.must(t, "volume", "create", "resetvol")
		mine := u.mustWrite(t, filepath.Join(s.root, "mine.txt"), "the user's\n", 0o644)

		r := s.withStdin(t, "n\n", "system", "reset")
		wantCode(t, r, 0)
		wantStdoutContains(t, r, "nothing removed")
		if n := len(s.psTable(t, "-a")); n != 2 {
			t.Errorf("after answering no, ps -a lists %d containers, want 2", n)
		}

		s.must(t, "system", "reset", "--force")
		if !waitFor(10*time.Second, func() bool { return !alive(init) }) {
			t.Errorf("the running container's init (pid %d) survived the reset", init.pid)
		}
		for _, e := range []string{"containers", "layers", "blobs", "images.json", "store.json", "networks", "volumes"} {
			if _, err := os.Stat(filepath.Join(s.root, e)); err == nil {
				t.Errorf("%s is still in the store after reset", e)
			}
		}
		if b, err := os.ReadFile(mine); err != nil || string(b) != "the user's\n" {
			t.Errorf("reset touched a file it does not own: %q, %v", b, err)
		}
		if n := len(s.psTable(t, "-a")); n != 0 {
			t.Errorf("after reset, ps -a lists %d containers", n)
		}
		r = s.must(t, "images", "--format", "{{.Repository}}")
		if strings.TrimSpace(r.stdout) != "" {
			t.Errorf("after reset, images lists:\n%s", r.stdout)
		}
		if r = s.must(t, "network", "ls", "-q"); strings.Contains(r.stdout, "resetnet") {
			t.Errorf("after reset, network ls lists:\n%s", r.stdout)
		}

		// Without the user's file, a store with a network in it goes
		// whole.
		os.Remove(mine)
		s.must(t, "network", "create", "resetnet")
		s.must(t, "system", "reset", "--force")
		if entries, err := os.ReadDir(s.root); err == nil {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("the store %s is still there after a reset, holding %v", s.root, names)
		}
	})
}
