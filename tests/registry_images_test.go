package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRegistrySaveLoad: save → rmi → load → run keeps the image (its ID and
// its name) in both archive formats, and a docker-archive skopeo wrote
// loads and runs.
func TestRegistrySaveLoad(t *testing.T) {
	reg := startRegistry(t)
	forEachUser(t, func(t *testing.T, u *user) {
		bb := reg.busyboxImage(t)
		s := u.newStore(t, "save-load")
		s.pull(t, bb)
		id := s.imageID(t, bb)

		for _, format := range []string{"docker-archive", "oci-archive"} {
			t.Run(format, func(t *testing.T) {
				archive := filepath.Join(u.home, "saved-"+format+".tar")
				s.mustRun(t, "save", "--format", format, "-o", archive, bb)
				if fi, err := os.Stat(archive); err != nil || fi.Size() == 0 {
					t.Fatalf("save -o %s wrote no archive: %v", archive, err)
				}
				r := s.mustRun(t, "rmi", bb)
				wantStdoutContains(t, r, "Deleted: "+id)
				if r := s.run(t, "inspect", bb); r.code == 0 {
					t.Fatalf("the image is still there after rmi:\n%s", r)
				}
				if got := s.layers(t); len(got) != 0 {
					t.Errorf("layers/ still holds %v after the only image was removed", got)
				}

				r = s.mustRun(t, "load", "-i", archive)
				wantStdout(t, r, "Loaded image: "+bb+"\n")
				if got := s.imageID(t, bb); got != id {
					t.Errorf("after save (%s) and load the image ID is %s, want %s", format, got, id)
				}
				wantStdout(t, s.mustRun(t, "run", "--rm", bb, "cat", "/etc/motd"), motdText)
			})
		}

		t.Run("skopeo-docker-archive", func(t *testing.T) {
			dir := filepath.Join(baseDir, "skopeo-archive-"+u.mode)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			archive := filepath.Join(dir, "busybox.tar")
			os.Remove(archive)
			args := []string{"copy", "--quiet", "--src-tls-verify=false", "docker://" + bb, "docker-archive:" + archive + ":busybox:latest"}
			if out, err := exec.Command("skopeo", args...).CombinedOutput(); err != nil {
				t.Fatalf("skopeo %s: %v: %s", strings.Join(args, " "), err, out)
			}
			if err := os.Chmod(archive, 0o644); err != nil {
				t.Fatal(err)
			}
			// Loaded into a store without the image, so the name it gets
			// is the archive's alone.
			s.mustRun(t, "rmi", bb)
			r := s.mustRun(t, "load", "-i", archive)
			wantStdout(t, r, "Loaded image: busybox:latest\n")
			// Found locally (inspect never pulls), under the name skopeo gave.
			if got := s.imageID(t, "busybox:latest"); got != id {
				t.Errorf("the skopeo archive loaded as image %s, want %s (skopeo keeps the config as is)", got, id)
			}
			wantStdout(t, s.mustRun(t, "run", "--rm", "busybox:latest", "cat", "/etc/motd"), motdText)
		})
	})
}

// TestRegistryCommitPush: a container's additions and deletions, committed
// with --change, make an image that runs with them; pushed to a registry
// and pulled back by digest it is the same image.
func TestRegistryCommitPush(t *testing.T) {
	reg := startRegistry(t)
	forEachUser(t, func(t *testing.T, u *user) {
		bb := reg.busyboxImage(t)
		s := u.newStore(t, "commit")
		s.pull(t, bb)
		name := "commit-src-" + u.mode
		s.mustRun(t, "run", "--name", name, bb, "sh", "-c", "echo new > /new && rm /etc/motd")

		r := s.mustRun(t, "commit",
			"--change", "ENV A=1",
			"--change", `CMD ["/bin/sh", "-c", "echo cmd says A=$A"]`,
			name, "committed:v1")
		id := strings.TrimSpace(r.stdout)
		if got := s.imageID(t, "committed:v1"); got != id {
			t.Fatalf("commit printed %q, but committed:v1 is %s", id, got)
		}

		r = s.mustRun(t, "run", "--rm", "committed:v1", "sh", "-c",
			`cat /new; test -e /etc/motd && echo "motd present"; echo "A=$A"`)
		wantStdout(t, r, "new\nA=1\n")
		wantStdout(t, s.mustRun(t, "run", "--rm", "committed:v1"), "cmd says A=1\n")

		dest := reg.ref("committed-" + u.mode + ":v1")
		r = s.mustRun(t, "push", "--tls-verify=false", "committed:v1", dest)
		digest := strings.TrimSpace(r.stdout)
		if !strings.HasPrefix(digest, "sha256:") || len(digest) != 71 {
			t.Fatalf("push printed %q, want the manifest digest:\n%s", digest, r)
		}
		// The registry has that manifest under the tag, and its config is
		// the image.
		_, served := reg.manifest(t, "committed-"+u.mode, "v1")
		if served != digest {
			t.Errorf("push printed %s but the registry serves %s for the tag", digest, served)
		}
		if m := reg.imageManifest(t, "committed-"+u.mode, "v1"); m.Config.Digest != id {
			t.Errorf("the pushed manifest's config is %s, want the image ID %s", m.Config.Digest, id)
		}

		r = s.mustRun(t, "rmi", "committed:v1")
		wantStdoutContains(t, r, "Deleted: "+id)
		byDigest := reg.ref("committed-"+u.mode) + "@" + digest
		s.pull(t, byDigest)
		if got := s.imageID(t, byDigest); got != id {
			t.Errorf("pulled back by digest, the image is %s, want %s", got, id)
		}
		r = s.mustRun(t, "run", "--rm", byDigest, "sh", "-c",
			`cat /new; test -e /etc/motd && echo "motd present"; echo "A=$A"`)
		wantStdout(t, r, "new\nA=1\n")
	})
}

// TestRegistryRmiPrune: rmi refuses an image a container uses, naming the
// container; image prune -a removes only unused images and the layers only
// they had.
func TestRegistryRmiPrune(t *testing.T) {
	reg := startRegistry(t)
	forEachUser(t, func(t *testing.T, u *user) {
		bb := reg.busyboxImage(t)
		extra := reg.busyboxExtraImage(t)
		s := u.newStore(t, "prune")
		s.pull(t, bb)
		s.pull(t, extra)
		bbID, extraID := s.imageID(t, bb), s.imageID(t, extra)
		if got := s.layers(t); len(got) != 2 {
			t.Fatalf("layers/ holds %v, want 2 layers (busybox's, shared, and /extra's)", got)
		}

		name := "user-of-bb-" + u.mode
		s.mustRun(t, "run", "--name", name, bb, "true")

		r := s.run(t, "rmi", bb)
		wantCode(t, r, 125)
		wantStderrContains(t, r, name)
		t.Logf("refused: %s", strings.TrimSpace(r.stderr))
		if got := s.imageID(t, bb); got != bbID {
			t.Fatalf("after the refused rmi, %s is %s, want %s", bb, got, bbID)
		}

		r = s.mustRun(t, "image", "prune", "-a")
		wantStdoutContains(t, r, "Deleted: "+extraID)
		if strings.Contains(r.stdout, bbID) {
			t.Errorf("prune -a deleted the image a container uses:\n%s", r)
		}
		if got := s.imageID(t, bb); got != bbID {
			t.Errorf("after prune -a, %s is %s, want %s", bb, got, bbID)
		}
		if r := s.run(t, "inspect", extra); r.code == 0 {
			t.Errorf("prune -a left the unused image:\n%s", r)
		}
		if got := s.layers(t); len(got) != 1 {
			t.Errorf("after prune -a layers/ holds %v, want 1 (busybox's; /extra's was only the pruned image's)", got)
		}
		wantStdout(t, s.mustRun(t, "run", "--rm", bb, "cat", "/etc/motd"), motdText)
	})
}

// TestRegistryImageCommands: images --format json, inspect, history, tag
// and system df on a pulled two-layer image.
func TestRegistryImageCommands(t *testing.T) {
	reg := startRegistry(t)
	forEachUser(t, func(t *testing.T, u *user) {
		extra := reg.busyboxExtraImage(t)
		s := u.newStore(t, "image-commands")
		s.pull(t, extra)
		m := reg.imageManifest(t, "busybox-extra", "latest")
		id := m.Config.Digest

		rows := s.imagesJSON(t)
		if len(rows) != 1 || rows[0].Repository != reg.host+"/busybox-extra" || rows[0].Tag != "latest" || rows[0].ID != id {
			t.Errorf("images --format json: %+v, want one row %s/busybox-extra latest %s", rows, reg.host, id)
		}
		_, manifestDigest := reg.manifest(t, "busybox-extra", "latest")
		if len(rows) == 1 && rows[0].Digest != manifestDigest {
			t.Errorf("images --format json: Digest %s, want the manifest's %s", rows[0].Digest, manifestDigest)
		}

		r := s.mustRun(t, "inspect", extra)
		var details []struct {
			Id          string
			RepoTags    []string
			RepoDigests []string
			RootFS      struct {
				Layers []string
			}
			Config struct{ Cmd []string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &details); err != nil || len(details) != 1 {
			t.Fatalf("inspect: want a JSON array of one image (%v):\n%s", err, r)
		}
		d := details[0]
		if d.Id != id {
			t.Errorf("inspect: Id %q, want %q", d.Id, id)
		}
		if len(d.RootFS.Layers) != 2 || len(d.Config.Cmd) != 1 || d.Config.Cmd[0] != "/bin/sh" {
			t.Errorf("inspect: RootFS %v, Cmd %v; want 2 diff IDs and [/bin/sh]:\n%s", d.RootFS.Layers, d.Config.Cmd, r)
		}
		if len(d.RepoDigests) != 1 || d.RepoDigests[0] != reg.host+"/busybox-extra@"+manifestDigest {
			t.Errorf("inspect: RepoDigests %v, want [%s/busybox-extra@%s]", d.RepoDigests, reg.host, manifestDigest)
		}

		r = s.mustRun(t, "history", extra)
		lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "IMAGE") {
			t.Fatalf("history: want a header and one row per layer (2):\n%s", r)
		}
		if !strings.HasPrefix(lines[1], shortHex(id)) || !strings.Contains(lines[1], "add /extra") || !strings.Contains(lines[2], "busybox rootfs") {
			t.Errorf("history: want the newest step (add /extra, image %s) first, then busybox rootfs:\n%s", shortHex(id), r)
		}

		s.mustRun(t, "tag", extra, "mine/renamed:v2")
		wantStdout(t, s.mustRun(t, "run", "--rm", "mine/renamed:v2", "cat", "/extra"), extraText)
		if got := s.imageID(t, "mine/renamed:v2"); got != id {
			t.Errorf("the tag names %s, want %s", got, id)
		}

		r = s.mustRun(t, "system", "df")
		counts := map[string]string{}
		for _, line := range strings.Split(r.stdout, "\n") {
			if f := strings.Fields(line); len(f) >= 2 {
				counts[f[0]] = f[1]
			}
		}
		for kind, want := range map[string]string{"Images": "1", "Layers": "2", "Containers": "0"} {
			if counts[kind] != want {
				t.Errorf("system df: %s total %q, want %s:\n%s", kind, counts[kind], want, r)
			}
		}
	})
}
