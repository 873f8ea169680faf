package tests

// The registry side of the suite: a real registry (Debian's docker-registry,
// the distribution server) on 127.0.0.1, and images that other tools
// (skopeo, go-containerregistry) put there: busybox, a debootstrapped
// Debian bookworm, a child of it with whiteouts, a 200 MB image for kill
// tests, and images whose layer blob is corrupted in the registry's storage.
//
// Every top-level test that needs the registry starts its own server
// (startRegistry), stopped in its cleanup; all of them serve one storage
// directory, so each fixture is built and pushed once per run.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// registry is one running docker-registry.
type registry struct {
	host string // 127.0.0.1:PORT
	root string // its storage root (shared by every registry of the run)
	pid  int
}

// regStorage is the storage directory every registry of this run serves.
var regStorage struct {
	once sync.Once
	root string
	err  error
}

// startRegistry starts a docker-registry on a free port of 127.0.0.1 and
// stops it (the process it started, by PID) when the test ends.
func startRegistry(t *testing.T) *registry { t.Helper(); return startRegistryWith(t, "") }

// startRegistryWith is startRegistry with more of the registry's
// configuration (YAML at the top level, e.g. an auth section).
func startRegistryWith(t *testing.T, extra string) *registry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry not installed (apt-get install docker-registry)")
	}
	regStorage.once.Do(func() {
		regStorage.root = filepath.Join(baseDir, "registry-storage")
		regStorage.err = os.MkdirAll(regStorage.root, 0o700)
	})
	if regStorage.err != nil {
		t.Fatal(regStorage.err)
	}
	dir, err := os.MkdirTemp(baseDir, "registry-")
	if err != nil {
		t.Fatal(err)
	}
	// The port: one the kernel says is free now. Another process may take
	// it before the registry binds it; then try again.
	for attempt := 0; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		host := "127.0.0.1:" + strconv.Itoa(port)
		cfg := filepath.Join(dir, "config.yml")
		conf := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
%s`, regStorage.root, host, extra)
		if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		logPath := filepath.Join(dir, fmt.Sprintf("registry-%d.log", attempt))
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", cfg)
		cmd.Stdout, cmd.Stderr = logf, logf
		// A safety net should the test binary die without its cleanups.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			logf.Close()
			t.Fatalf("starting %s serve %s: %v", bin, cfg, err)
		}
		logf.Close()
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		r := &registry{host: host, root: regStorage.root, pid: cmd.Process.Pid}
		ready := waitFor(15*time.Second, func() bool {
			select {
			case <-exited:
				return true
			default:
			}
			resp, err := http.Get("http://" + host + "/v2/")
			if err != nil {
				return false
			}
			resp.Body.Close()
			// 401: it answers, and wants a password (an auth section).
			return resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized
		})
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			if attempt < 3 && bytes.Contains(log, []byte("address already in use")) {
				continue
			}
			t.Fatalf("docker-registry exited at start (%s serve %s):\n%s", bin, cfg, log)
		default:
		}
		if !ready {
			syscall.Kill(r.pid, syscall.SIGKILL)
			<-exited
			log, _ := os.ReadFile(logPath)
			t.Fatalf("docker-registry did not answer GET http://%s/v2/ within 15 s:\n%s", host, log)
		}
		t.Cleanup(func() {
			syscall.Kill(r.pid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				syscall.Kill(r.pid, syscall.SIGKILL)
				<-exited
			}
		})
		return r
	}
}

// ref is the full reference of repo:tag in this registry.
func (r *registry) ref(repoTag string) string { return r.host + "/" + repoTag }

// manifest fetches a manifest as the registry serves it (OCI or docker v2)
// and returns its raw bytes and its digest.
func (r *registry) manifest(t *testing.T, repo, reference string) ([]byte, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+r.host+"/v2/"+repo+"/manifests/"+reference, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", strings.Join([]string{
		string(types.OCIManifestSchema1), string(types.DockerManifestSchema2),
	}, ", "))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", req.URL, resp.Status, b)
	}
	sum := sha256.Sum256(b)
	return b, "sha256:" + hex.EncodeToString(sum[:])
}

// regManifest is the part of an image manifest the tests read.
type regManifest struct {
	MediaType string `json:"mediaType"`
	Config    struct {
		Digest string `json:"digest"`
		Size   int64  `json:"size"`
	} `json:"config"`
	Layers []struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int64  `json:"size"`
	} `json:"layers"`
}

// imageManifest fetches and parses repo:tag's manifest.
func (r *registry) imageManifest(t *testing.T, repo, reference string) regManifest {
	t.Helper()
	b, _ := r.manifest(t, repo, reference)
	var m regManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("parsing the manifest of %s:%s: %v\n%s", repo, reference, err, b)
	}
	if m.Config.Digest == "" {
		t.Fatalf("the manifest of %s:%s names no config:\n%s", repo, reference, b)
	}
	return m
}

// blob fetches a blob as the registry serves it.
func (r *registry) blob(t *testing.T, repo, digest string) []byte {
	t.Helper()
	resp, err := http.Get("http://" + r.host + "/v2/" + repo + "/blobs/" + digest)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET blob %s of %s: %s: %s", digest, repo, resp.Status, b)
	}
	return b
}

// blobPath is where the filesystem driver keeps a blob's bytes.
func (r *registry) blobPath(digest string) string {
	h := strings.TrimPrefix(digest, "sha256:")
	return filepath.Join(r.root, "docker", "registry", "v2", "blobs", "sha256", h[:2], h, "data")
}

// ---- fixtures ----

// fixture is an image pushed once per run. skip, when set, is why it
// cannot be made on this machine.
type fixture struct {
	once sync.Once
	skip string
	err  error
}

func (f *fixture) do(t *testing.T, what string, build func() (skip string, err error)) {
	t.Helper()
	f.once.Do(func() {
		start := time.Now()
		f.skip, f.err = build()
		t.Logf("fixture %s: made in %v", what, time.Since(start).Round(time.Millisecond))
	})
	if f.skip != "" {
		t.Skip(f.skip)
	}
	if f.err != nil {
		t.Fatalf("fixture %s is unavailable: %v", what, f.err)
	}
}

// fixtureTime is every fixture's creation time: the same content gives the
// same digests, run after run.
var fixtureTime = v1.Time{Time: tarTime}

const fixturePath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// newImage is an OCI image of this machine's platform with cmd, made of
// the given layers (each with a history entry saying what it is).
func newImage(cmd []string, layers []v1.Layer, createdBy []string) (v1.Image, error) {
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: goruntime.GOARCH,
		OS:           "linux",
		Created:      fixtureTime,
		Config:       v1.Config{Cmd: cmd, Env: []string{fixturePath}},
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return appendLayers(img, layers, createdBy)
}

func appendLayers(img v1.Image, layers []v1.Layer, createdBy []string) (v1.Image, error) {
	var adds []mutate.Addendum
	for i, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{Layer: l, MediaType: mt,
			History: v1.History{Created: fixtureTime, CreatedBy: createdBy[i]}})
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	return img, nil
}

// gzipLayer is a gzip-compressed OCI layer of tarball data.
func gzipLayer(data []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestSpeed), tarball.WithCompressedCaching)
}

// skopeoPush writes img to an OCI layout under baseDir and copies it from
// there into the registry with skopeo, as repo:tag.
func (r *registry) skopeoPush(img v1.Image, repo, tag string) error {
	if _, err := exec.LookPath("skopeo"); err != nil {
		return errors.New("skopeo is not installed (apt-get install skopeo)")
	}
	dir := filepath.Join(baseDir, "oci-layouts", repo)
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return fmt.Errorf("writing an OCI layout at %s: %w", dir, err)
		}
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": tag,
	})); err != nil {
		return fmt.Errorf("writing %s:%s to the OCI layout %s: %w", repo, tag, dir, err)
	}
	args := []string{"copy", "--quiet", "--dest-tls-verify=false",
		"oci:" + dir + ":" + tag, "docker://" + r.ref(repo+":"+tag)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "skopeo", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("skopeo %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// remotePush pushes img as-is with go-containerregistry (its blobs exactly
// as built: skopeo would compress an uncompressed layer).
func (r *registry) remotePush(img v1.Image, repo, tag string) error {
	ref, err := name.ParseReference(r.ref(repo+":"+tag), name.Insecure)
	if err != nil {
		return err
	}
	if err := remote.Write(ref, img); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
}

// -- busybox --

// motdText is /etc/motd in the registry's busybox image.
const motdText = "welcome to busybox\n"

var (
	regBusybox      fixture
	regBusyboxLayer v1.Layer
)

// busyboxImage pushes (once) busybox:latest: the suite's busybox rootfs
// plus /etc/motd, one gzip layer, command /bin/sh. It returns its reference.
func (r *registry) busyboxImage(t *testing.T) string {
	t.Helper()
	entries := busyboxRootfs(t)
	regBusybox.do(t, "busybox", func() (string, error) {
		entries = append(append([]tarEntry{}, entries...), fileEntry("etc/motd", motdText, 0o644))
		l, err := gzipLayer(tarBytes(t, entries))
		if err != nil {
			return "", err
		}
		img, err := newImage([]string{"/bin/sh"}, []v1.Layer{l}, []string{"busybox rootfs"})
		if err != nil {
			return "", err
		}
		regBusyboxLayer = l
		return "", r.skopeoPush(img, "busybox", "latest")
	})
	return r.ref("busybox:latest")
}

// extraText is /extra in busybox-extra.
const extraText = "extra layer\n"

var regBusyboxExtra fixture

// busyboxExtraImage pushes (once) busybox-extra:latest: busybox plus a
// layer adding /extra. Its first layer is busybox's, the same blob.
func (r *registry) busyboxExtraImage(t *testing.T) string {
	t.Helper()
	r.busyboxImage(t)
	regBusyboxExtra.do(t, "busybox-extra", func() (string, error) {
		l, err := gzipLayer(tarBytes(t, []tarEntry{fileEntry("extra", extraText, 0o644)}))
		if err != nil {
			return "", err
		}
		img, err := newImage([]string{"/bin/sh"}, []v1.Layer{regBusyboxLayer, l}, []string{"busybox rootfs", "add /extra"})
		if err != nil {
			return "", err
		}
		return "", r.skopeoPush(img, "busybox-extra", "latest")
	})
	return r.ref("busybox-extra:latest")
}

// -- Debian --

// debianCache keeps the debootstrapped rootfs between runs on one machine.
const debianCache = "/var/tmp/sandbox-tests-debian-bookworm.tar"

var (
	regDebian      fixture
	regDebianImage v1.Image
	// debianTar is the rootfs tarball the Debian layer was made of.
	debianTar string
)

// debianRootfsTar returns the Debian bookworm minbase rootfs as a tarball:
// the cached one, or one made now with debootstrap (as root, from
// deb.debian.org). /dev's device nodes are left out: no container sees
// them, and an unprivileged user cannot create them anyway.
func debianRootfsTar(t *testing.T) (path, skip string, err error) {
	if fi, err := os.Stat(debianCache); err == nil && fi.Size() > 0 {
		return debianCache, "", nil
	}
	if os.Geteuid() != 0 {
		return "", fmt.Sprintf("making the Debian image needs debootstrap as root (no cached rootfs at %s); run the suite as root", debianCache), nil
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return "", "debootstrap not installed (apt-get install debootstrap)", nil
	}
	dir := filepath.Join(baseDir, "debootstrap")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	args := []string{"--variant=minbase", "bookworm", dir, "http://deb.debian.org/debian"}
	out, err := exec.CommandContext(ctx, "debootstrap", args...).CombinedOutput()
	// debootstrap mounts /proc and /sys in the target; never leave them.
	mounts := mountsUnder(t, dir)
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		exec.Command("umount", "-l", m).Run()
	}
	defer os.RemoveAll(dir)
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) > 8 {
			lines = lines[len(lines)-8:]
		}
		return "", fmt.Sprintf("debootstrap %s failed (no network to deb.debian.org?): %v:\n%s", strings.Join(args, " "), err, strings.Join(lines, "\n")), nil
	}
	tmp := fmt.Sprintf("%s.partial-%d", debianCache, os.Getpid())
	defer os.Remove(tmp)
	tarArgs := []string{"--numeric-owner", "--exclude=./dev/*", "-C", dir, "-cf", tmp, "."}
	if out, err := exec.Command("tar", tarArgs...).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("tar %s: %v: %s", strings.Join(tarArgs, " "), err, out)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return "", "", err
	}
	if err := os.Rename(tmp, debianCache); err != nil {
		return "", "", err
	}
	return debianCache, "", nil
}

// debianImage pushes (once) debian:bookworm: the rootfs as one gzip layer,
// command /bin/bash. It returns its reference.
func (r *registry) debianImage(t *testing.T) string {
	t.Helper()
	regDebian.do(t, "debian", func() (string, error) {
		path, skip, err := debianRootfsTar(t)
		if skip != "" || err != nil {
			return skip, err
		}
		l, err := tarball.LayerFromFile(path, tarball.WithMediaType(types.OCILayer),
			tarball.WithCompressionLevel(gzip.BestSpeed), tarball.WithCompressedCaching)
		if err != nil {
			return "", err
		}
		img, err := newImage([]string{"/bin/bash"}, []v1.Layer{l}, []string{"debootstrap --variant=minbase bookworm"})
		if err != nil {
			return "", err
		}
		if err := r.skopeoPush(img, "debian", "bookworm"); err != nil {
			return "", err
		}
		regDebianImage, debianTar = img, path
		return "", nil
	})
	return r.ref("debian:bookworm")
}

// childNote is the one file in the child's (opaque) /usr/share/doc.
const childNote = "only this\n"

var (
	regChild    fixture
	childLayerB []byte // the child layer's tarball
)

// debianChildImage pushes (once) debian-child:latest: Debian plus a layer
// that adds /child-marker, deletes /etc/motd (.wh.motd) and makes
// /usr/share/doc opaque with one new file, child-note.
func (r *registry) debianChildImage(t *testing.T) string {
	t.Helper()
	r.debianImage(t)
	regChild.do(t, "debian-child", func() (string, error) {
		childLayerB = tarBytes(t, []tarEntry{
			fileEntry("child-marker", "child\n", 0o644),
			dirEntry("etc/", 0o755),
			fileEntry("etc/.wh.motd", "", 0o644),
			dirEntry("usr/", 0o755),
			dirEntry("usr/share/", 0o755),
			dirEntry("usr/share/doc/", 0o755),
			fileEntry("usr/share/doc/.wh..wh..opq", "", 0o644),
			fileEntry("usr/share/doc/child-note", childNote, 0o644),
		})
		l, err := gzipLayer(childLayerB)
		if err != nil {
			return "", err
		}
		img, err := appendLayers(regDebianImage, []v1.Layer{l}, []string{"child: marker, no motd, opaque doc"})
		if err != nil {
			return "", err
		}
		return "", r.skopeoPush(img, "debian-child", "latest")
	})
	return r.ref("debian-child:latest")
}

// -- big --

// bigDataSize is the size of /big/data in big:latest.
const bigDataSize = 200 << 20

var (
	regBig     fixture
	bigDataSHA string
)

// bigImage pushes (once) big:latest: busybox plus one layer holding
// /big/data, 200 MB of incompressible (seeded pseudo-random) bytes. It
// returns the reference and the data's sha256.
func (r *registry) bigImage(t *testing.T) (string, string) {
	t.Helper()
	r.busyboxImage(t)
	regBig.do(t, "big", func() (string, error) {
		data := make([]byte, bigDataSize)
		rand.NewChaCha8([32]byte{'s', 'b', 'x'}).Read(data)
		sum := sha256.Sum256(data)
		bigDataSHA = hex.EncodeToString(sum[:])
		layerB := tarBytes(t, []tarEntry{dirEntry("big/", 0o755), {name: "big/data", typ: tar.TypeReg, mode: 0o644, body: data}})
		// Left uncompressed here: skopeo compresses it on the way to the
		// registry, as it does for any uncompressed layer.
		l := static.NewLayer(layerB, types.OCIUncompressedLayer)
		img, err := newImage([]string{"/bin/sh"}, []v1.Layer{regBusyboxLayer, l}, []string{"busybox rootfs", "add /big/data"})
		if err != nil {
			return "", err
		}
		return "", r.skopeoPush(img, "big", "latest")
	})
	return r.ref("big:latest"), bigDataSHA
}

// -- corrupt blobs --

// corruptImg is an image whose one layer blob the registry serves with
// the wrong bytes (same length).
type corruptImg struct {
	fixture
	ref    string // repo:tag
	digest string // the corrupted layer blob's digest
}

var corrupt = map[string]*corruptImg{
	// corrupt-gz: a gzip layer whose blob is overwritten with random bytes.
	"gz": {ref: "corrupt-gz:latest"},
	// corrupt-tar: an uncompressed layer with bytes flipped inside a file's
	// content: the tar still reads fine, only the digest tells.
	"tar": {ref: "corrupt-tar:latest"},
}

// corruptImage pushes (once) the corrupt image of kind "gz" or "tar" and
// returns its reference and the digest of its corrupted blob.
func (r *registry) corruptImage(t *testing.T, kind string) (string, string) {
	t.Helper()
	c := corrupt[kind]
	c.do(t, c.ref, func() (string, error) {
		payload := make([]byte, 256<<10)
		rand.NewChaCha8([32]byte{'c', kind[0]}).Read(payload)
		layerB := tarBytes(t, []tarEntry{dirEntry("corrupt/", 0o755),
			{name: "corrupt/" + kind, typ: tar.TypeReg, mode: 0o644, body: payload}})
		var l v1.Layer
		var err error
		if kind == "gz" {
			l, err = gzipLayer(layerB)
		} else {
			l = static.NewLayer(layerB, types.OCIUncompressedLayer)
		}
		if err != nil {
			return "", err
		}
		img, err := newImage([]string{"/bin/sh"}, []v1.Layer{l}, []string{"corrupt " + kind})
		if err != nil {
			return "", err
		}
		repo, tag, _ := strings.Cut(c.ref, ":")
		if err := r.remotePush(img, repo, tag); err != nil {
			return "", err
		}
		d, err := l.Digest()
		if err != nil {
			return "", err
		}
		c.digest = d.String()
		p := r.blobPath(c.digest)
		blob, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("the pushed blob is not where the filesystem driver keeps it: %w", err)
		}
		bad := append([]byte{}, blob...)
		if kind == "gz" {
			rand.NewChaCha8([32]byte{'x'}).Read(bad)
		} else {
			// Inside the file's content: past the two 512-byte headers
			// (and PAX records), well before its end.
			for i := 64 << 10; i < 72<<10; i++ {
				bad[i] ^= 0xff
			}
		}
		if len(bad) != len(blob) || bytes.Equal(bad, blob) {
			return "", errors.New("corrupting the blob changed nothing")
		}
		return "", os.WriteFile(p, bad, 0o644)
	})
	return r.ref(c.ref), c.digest
}

// ---- stores ----

// store is a sandbox store of its own for one test: the user with
// XDG_DATA_HOME pointing to a fresh directory.
type store struct {
	u    *user
	root string // XDG_DATA_HOME/sandbox
	opts runOpts
}

// newStore makes a fresh, empty store for the user (name must be unique
// in the user's home).
func (u *user) newStore(t testing.TB, name string) *store {
	t.Helper()
	data := u.mustMkdir(t, filepath.Join(u.home, "data-"+name))
	return &store{u: u, root: filepath.Join(data, "sandbox"), opts: runOpts{env: []string{"XDG_DATA_HOME=" + data}}}
}

// pullTimeout bounds a pull (Debian unpacks for a while; ten at once longer).
const pullTimeout = 3 * time.Minute

func (s *store) run(t testing.TB, args ...string) result {
	t.Helper()
	o := s.opts
	o.timeout = pullTimeout
	return s.u.runWith(t, o, args...)
}

func (s *store) mustRun(t testing.TB, args ...string) result {
	t.Helper()
	r := s.run(t, args...)
	wantCode(t, r, 0)
	return r
}

func (s *store) start(t *testing.T, args ...string) *proc {
	t.Helper()
	return s.u.startWith(t, s.opts, args...)
}

// pull pulls ref from the test registry (plain HTTP) and returns the result.
func (s *store) pull(t *testing.T, ref string) result {
	t.Helper()
	return s.mustRun(t, "pull", "--tls-verify=false", ref)
}

// imageID is the full ID (sha256:…) of ref, from inspect.
func (s *store) imageID(t *testing.T, ref string) string {
	t.Helper()
	// image inspect: plain inspect prefers a container, and one whose ID
	// begins with ref ("bb3…") would answer.
	r := s.mustRun(t, "image", "inspect", ref)
	var d []struct{ Id string }
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || len(d) != 1 {
		t.Fatalf("inspect %s: want a JSON array of one object (%v):\n%s", ref, err, r)
	}
	return d[0].Id
}

// imagesJSON lists the store's images with `images --format json`.
type imageRow struct {
	Repository, Tag, ID, Digest string
	Size                        int64
}

func (s *store) imagesJSON(t *testing.T) []imageRow {
	t.Helper()
	r := s.mustRun(t, "images", "--format", "json")
	var rows []imageRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("images --format json is not a JSON array of images: %v\n%s", err, r)
	}
	return rows
}

// layers lists layers/.
func (s *store) layers(t *testing.T) []string {
	t.Helper()
	return dirEntries(t, filepath.Join(s.root, "layers"))
}

// tmpEntries lists tmp/ as stagingEntries does (the skeleton left out).
func (s *store) tmpEntries(t *testing.T) []string {
	t.Helper()
	return stagingEntries(t, filepath.Join(s.root, "tmp"))
}

// leftEntries is tmpEntries once the removal of an earlier throwaway run
// is done (settledEntries): what a command left behind. A removal starts
// once the next spare is made, milliseconds after its run's command.
func (s *store) leftEntries(t *testing.T) []string {
	t.Helper()
	return settledEntries(t, filepath.Join(s.root, "tmp"))
}

// stagedBytes is the size of the regular files under tmp/ but not under
// its entries in old (what a pull in progress has unpacked so far).
func (s *store) stagedBytes(old map[string]bool) int64 {
	var n int64
	tmp := filepath.Join(s.root, "tmp")
	filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if rel, _ := filepath.Rel(tmp, p); old[strings.SplitN(rel, "/", 2)[0]] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// newEntries are the names not in old.
func newEntries(names []string, old map[string]bool) []string {
	var out []string
	for _, n := range names {
		if !old[n] {
			out = append(out, n)
		}
	}
	return out
}

// duKB is `du -sk path`.
func duKB(t *testing.T, path string) int64 {
	t.Helper()
	out, err := exec.Command("du", "-sk", path).Output()
	if err != nil {
		t.Fatalf("du -sk %s: %v", path, err)
	}
	f := strings.Fields(string(out))
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		t.Fatalf("du -sk %s: %q", path, out)
	}
	return n
}

var debianDU struct {
	once sync.Once
	kb   int64
	err  error
}

// debianRootfsKB is how much disk the Debian rootfs takes unpacked (du -sk
// of the fixture's tarball extracted once).
func debianRootfsKB(t *testing.T) int64 {
	t.Helper()
	debianDU.once.Do(func() {
		dir, err := os.MkdirTemp(baseDir, "debian-rootfs-")
		if err != nil {
			debianDU.err = err
			return
		}
		defer os.RemoveAll(dir)
		args := []string{"-xf", debianTar, "-C", dir, "--numeric-owner"}
		if os.Geteuid() != 0 {
			args = append(args, "--no-same-owner")
		}
		if out, err := exec.Command("tar", args...).CombinedOutput(); err != nil {
			debianDU.err = fmt.Errorf("tar %s: %v: %s", strings.Join(args, " "), err, out)
			return
		}
		debianDU.kb = duKB(t, dir)
	})
	if debianDU.err != nil {
		t.Fatal(debianDU.err)
	}
	return debianDU.kb
}

// shortHex is the 12-digit form of sha256:HEX.
func shortHex(digest string) string {
	h := strings.TrimPrefix(digest, "sha256:")
	if len(h) < 12 {
		return h
	}
	return h[:12]
}
