package tests

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Images built from the host's static busybox: a rootfs tarball for
// `sandbox import`, and a 150-layer docker-archive for `sandbox load`.

// tarEntry is one member of a tarball the suite writes.
type tarEntry struct {
	name string
	typ  byte  // tar.TypeReg, TypeDir, TypeSymlink, TypeLink
	mode int64 // permission bits, set-id and sticky included
	body []byte
	link string // symlink or hard link target
}

func dirEntry(name string, mode int64) tarEntry {
	return tarEntry{name: name, typ: tar.TypeDir, mode: mode}
}
func fileEntry(name, body string, mode int64) tarEntry {
	return tarEntry{name: name, typ: tar.TypeReg, mode: mode, body: []byte(body)}
}
func symlinkEntry(name, target string) tarEntry {
	return tarEntry{name: name, typ: tar.TypeSymlink, mode: 0o777, link: target}
}
func hardlinkEntry(name, target string) tarEntry {
	return tarEntry{name: name, typ: tar.TypeLink, mode: 0o644, link: target}
}

// tarTime is every entry's mtime: the same content gives the same bytes,
// so the same layer digest.
var tarTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// tarBytes writes entries as a tarball owned by root. Names are written as
// given, hostile ones ("../x", "/abs") included.
func tarBytes(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link,
			ModTime: tarTime, Uname: "root", Gname: "root", Format: tar.FormatPAX,
		}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var busybox struct {
	once    sync.Once
	skip    string
	err     error
	path    string   // the host's busybox
	applets []string // its applet names
	tar     string   // baseDir/busybox.tar
}

// findBusybox locates a statically linked busybox and lists its applets.
func findBusybox() {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if _, err := os.Stat(p); err == nil {
			busybox.path = p
			break
		}
	}
	if busybox.path == "" {
		busybox.skip = "busybox-static not installed: apt-get install busybox-static"
		return
	}
	f, err := elf.Open(busybox.path)
	if err != nil {
		busybox.err = fmt.Errorf("reading %s: %w", busybox.path, err)
		return
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			busybox.skip = busybox.path + " is dynamically linked (it would not run in a bare rootfs): apt-get install busybox-static"
			return
		}
	}
	out, err := exec.Command(busybox.path, "--list").Output()
	if err != nil {
		busybox.err = fmt.Errorf("%s --list: %w", busybox.path, err)
		return
	}
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" && !strings.Contains(a, "/") {
			busybox.applets = append(busybox.applets, a)
		}
	}
}

// busyboxRootfs is the busybox image's tree: bin/busybox and a symlink per
// applet, /etc/passwd with root (0) and user (1000), /etc/group, and a
// world-writable sticky /tmp. Everything is owned by root.
func busyboxRootfs(t testing.TB) []tarEntry {
	t.Helper()
	busybox.once.Do(findBusybox)
	if busybox.skip != "" {
		t.Skip(busybox.skip)
	}
	if busybox.err != nil {
		t.Fatal(busybox.err)
	}
	bin, err := os.ReadFile(busybox.path)
	if err != nil {
		t.Fatal(err)
	}
	entries := []tarEntry{
		dirEntry("bin/", 0o755),
		{name: "bin/busybox", typ: tar.TypeReg, mode: 0o755, body: bin},
	}
	for _, a := range busybox.applets {
		entries = append(entries, symlinkEntry("bin/"+a, "busybox"))
	}
	entries = append(entries,
		dirEntry("etc/", 0o755),
		fileEntry("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n", 0o644),
		fileEntry("etc/group", "root:x:0:\nuser:x:1000:\n", 0o644),
		dirEntry("root/", 0o700),
		dirEntry("tmp/", 0o1777),
	)
	return entries
}

var busyboxTarOnce sync.Once

// busyboxTar writes the busybox rootfs tarball once per run and returns
// its path (readable by the test users).
func busyboxTar(t testing.TB) string {
	t.Helper()
	entries := busyboxRootfs(t)
	busyboxTarOnce.Do(func() {
		p := filepath.Join(baseDir, "busybox.tar")
		if err := os.WriteFile(p, tarBytes(t, entries), 0o644); err != nil {
			busybox.err = err
			return
		}
		busybox.tar = p
	})
	if busybox.tar == "" {
		t.Fatalf("writing the busybox tarball: %v", busybox.err)
	}
	return busybox.tar
}

// manyLayers is the layer count of the "many" image.
const manyLayers = 150

var many struct {
	once sync.Once
	path string
}

// manyLayerArchive writes (once) a docker-archive of many:latest, an image
// of 150 layers:
//
//   - layer 0 is the busybox rootfs plus /etc/doomed and /opq/{old1,old2};
//   - layer i (1…149) adds /layerNNN holding "layer NNN";
//   - layer 50 also deletes /etc/doomed with a whiteout (etc/.wh.doomed);
//   - layer 100 also makes /opq opaque (opq/.wh..wh..opq) and adds opq/new;
//   - layer 120 also deletes /layer010 (.wh.layer010).
//
// So /layer149 and /opq/new exist, and /etc/doomed, /opq/old1 and
// /layer010 do not.
func manyLayerArchive(t *testing.T) string {
	t.Helper()
	rootfs := busyboxRootfs(t)
	many.once.Do(func() {
		var layers [][]byte
		base := append(append([]tarEntry{}, rootfs...),
			fileEntry("etc/doomed", "doomed\n", 0o644),
			dirEntry("opq/", 0o755),
			fileEntry("opq/old1", "old1\n", 0o644),
			fileEntry("opq/old2", "old2\n", 0o644),
		)
		layers = append(layers, tarBytes(t, base))
		for i := 1; i < manyLayers; i++ {
			entries := []tarEntry{fileEntry(fmt.Sprintf("layer%03d", i), fmt.Sprintf("layer %03d\n", i), 0o644)}
			switch i {
			case 50:
				entries = append(entries, dirEntry("etc/", 0o755), fileEntry("etc/.wh.doomed", "", 0o644))
			case 100:
				entries = append(entries, dirEntry("opq/", 0o755), fileEntry("opq/.wh..wh..opq", "", 0o644), fileEntry("opq/new", "new\n", 0o644))
			case 120:
				entries = append(entries, fileEntry(".wh.layer010", "", 0o644))
			}
			layers = append(layers, tarBytes(t, entries))
		}

		var diffIDs, paths []string
		var archive []tarEntry
		for i, l := range layers {
			sum := sha256.Sum256(l)
			digest := hex.EncodeToString(sum[:])
			diffIDs = append(diffIDs, "sha256:"+digest)
			p := digest + "/layer.tar"
			paths = append(paths, p)
			archive = append(archive, dirEntry(digest+"/", 0o755), tarEntry{name: p, typ: tar.TypeReg, mode: 0o644, body: layers[i]})
		}
		config, err := json.Marshal(map[string]any{
			"architecture": "amd64",
			"os":           "linux",
			"created":      tarTime.Format(time.RFC3339),
			"config": map[string]any{
				"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
				"Cmd": []string{"/bin/sh"},
			},
			"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
		})
		if err != nil {
			t.Fatal(err)
		}
		cfgSum := sha256.Sum256(config)
		cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
		manifest, err := json.Marshal([]map[string]any{{
			"Config":   cfgName,
			"RepoTags": []string{"many:latest"},
			"Layers":   paths,
		}})
		if err != nil {
			t.Fatal(err)
		}
		archive = append(archive,
			tarEntry{name: cfgName, typ: tar.TypeReg, mode: 0o644, body: config},
			tarEntry{name: "manifest.json", typ: tar.TypeReg, mode: 0o644, body: manifest},
		)
		p := filepath.Join(baseDir, "many.tar")
		if err := os.WriteFile(p, tarBytes(t, archive), 0o644); err != nil {
			t.Fatal(err)
		}
		many.path = p
	})
	if many.path == "" {
		t.Fatal("the 150-layer archive could not be built (see the first failure)")
	}
	return many.path
}

// manyImage loads many:latest into the user's store (once).
func (u *user) manyImage(t *testing.T) string {
	t.Helper()
	archive := manyLayerArchive(t)
	u.ensureImage(t, "many", "load", "-i", archive)
	return "many"
}
