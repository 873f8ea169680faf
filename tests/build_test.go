package tests

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildContext writes a build context: files maps a relative path to its
// content. It returns the directory.
func (u *user) buildContext(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	dir := u.mustMkdir(t, filepath.Join(u.home, "ctx-"+name))
	for rel, content := range files {
		p := filepath.Join(dir, rel)
		u.mustMkdir(t, filepath.Dir(p))
		u.mustWrite(t, p, content, 0o644)
	}
	return dir
}

// lastLine is a command's last line of output: build's image ID.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// serveFile serves one file over HTTP on loopback, for ADD of a URL.
func serveFile(t *testing.T, name, body string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+name {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		fmt.Fprint(w, body)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String() + "/" + name
}

// gzipTar is a gzipped tar of entries.
func gzipTar(t *testing.T, entries []tarEntry) string {
	t.Helper()
	var b strings.Builder
	zw := gzip.NewWriter(&b)
	zw.Write(tarBytes(t, entries))
	zw.Close()
	return b.String()
}

const buildFile = `# a comment
ARG BASE=bb
FROM ${BASE} AS builder
RUN echo built > /built.txt

FROM bb
ARG WHO=nobody
ARG RUNAS=1000
ENV GREETING="hello" \
    OTHER=2
LABEL org.example.kind=test
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s CMD true
ONBUILD RUN echo child
WORKDIR /app
COPY --from=builder /built.txt ./
COPY *.txt sub/
COPY --chown=1000:1000 --chmod=640 owned.conf /etc/owned.conf
COPY tree /app/tree
ADD archive.tar.gz /unpacked/
ADD {{URL}} /downloaded/
SHELL ["/bin/sh", "-ec"]
RUN echo "$GREETING $WHO" > /app/greeting
RUN <<EOF
echo from a heredoc > /app/heredoc
EOF
USER ${RUNAS}
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/greeting /app/built.txt"]
`

// TestBuild builds a two-stage Containerfile on busybox that uses every
// instruction the issue lists and checks what the image holds, its
// config, the cache, --target, --timestamp, a syntax error and a failing
// RUN, as both users.
func TestBuild(t *testing.T) {
	reg := startRegistry(t)
	url := serveFile(t, "remote.txt", "from the web\n")
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "build")
		ctx := u.buildContext(t, "build", map[string]string{
			"Containerfile":  strings.ReplaceAll(buildFile, "{{URL}}", url),
			"a.txt":          "a\n",
			"b.txt":          "b\n",
			"secret.txt":     "must not be copied\n",
			"owned.conf":     "owned\n",
			"tree/one":       "1\n",
			"tree/deep/two":  "2\n",
			".dockerignore":  "secret.txt\n",
			"archive.tar.gz": gzipTar(t, []tarEntry{dirEntry("pkg/", 0o755), fileEntry("pkg/inside", "unpacked\n", 0o644)}),
		})
		// Single-id mode has no uid 1000 to run as, nor to own files.
		runAs, owner := "1000", "1000:1000"
		if u.mode == "single" {
			runAs, owner = "0", "0:0"
		}
		args := []string{"--build-arg", "WHO=tester", "--build-arg", "RUNAS=" + runAs}
		r := s.must(t, append(append([]string{"build", "-t", "built"}, args...), ctx)...)
		id := lastLine(r.stdout)
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
			t.Fatalf("build's last line is not an image ID:\n%s", r)
		}
		for _, want := range []string{"[1/2] STEP 1/2: FROM ${BASE} AS builder", "[2/2] STEP 1/23: FROM bb", "STEP 23/23: CMD", "Successfully tagged built:latest"} {
			wantStdoutContains(t, r, want)
		}

		// What runs: ENTRYPOINT, CMD, USER, the ARG given, the first stage.
		r = s.must(t, "run", "--rm", "built")
		wantStdout(t, r, "hello tester\nbuilt\n")
		r = s.must(t, "run", "--rm", "--entrypoint", "", "built", "id", "-u")
		wantStdout(t, r, runAs+"\n")
		r = s.must(t, "run", "--rm", "-u", "0", "--entrypoint", "", "built", "sh", "-c",
			"pwd; cat sub/a.txt sub/b.txt tree/one tree/deep/two /unpacked/pkg/inside /downloaded/remote.txt /app/heredoc; "+
				"stat -c '%a %u:%g' /downloaded/remote.txt /etc/owned.conf; test ! -e sub/secret.txt && echo ignored")
		wantStdout(t, r, "/app\na\nb\n1\n2\nunpacked\nfrom the web\nfrom a heredoc\n"+
			"600 0:0\n640 "+owner+"\nignored\n")
		r = s.must(t, "inspect", "-f", "{{json .Config}}", "built")
		var cfg struct {
			Env          []string
			WorkingDir   string
			User         string
			Labels       map[string]string
			ExposedPorts map[string]struct{}
			Volumes      map[string]struct{}
			StopSignal   string
			Healthcheck  struct{ Test []string }
			OnBuild      []string
			Entrypoint   []string
			Cmd          []string
		}
		if err := json.Unmarshal([]byte(r.stdout), &cfg); err != nil {
			t.Fatalf("inspect -f '{{json .Config}}': %v\n%s", err, r)
		}
		if !strings.Contains(strings.Join(cfg.Env, " "), "GREETING=hello OTHER=2") || cfg.WorkingDir != "/app" || cfg.User != runAs ||
			cfg.Labels["org.example.kind"] != "test" || len(cfg.ExposedPorts) != 2 || len(cfg.Volumes) != 1 || cfg.StopSignal != "SIGTERM" ||
			len(cfg.Healthcheck.Test) == 0 || len(cfg.OnBuild) != 1 || len(cfg.Entrypoint) != 2 || len(cfg.Cmd) != 1 {
			t.Errorf("the built config: %+v", cfg)
		}
		if strings.Contains(strings.Join(cfg.Env, " "), "WHO=") {
			t.Errorf("an ARG is kept in the image's environment: %v", cfg.Env)
		}

		// Every step is an image of the store: history shows their IDs;
		// images hides them without -a.
		r = s.must(t, "history", "--format", "{{.ID}}", "built")
		if strings.Contains(r.stdout, "missing") || strings.Count(r.stdout, "\n") != 21 {
			t.Errorf("history of the built image, want 21 entries (the base and 20 steps) with IDs:\n%s", r.stdout)
		}
		wantStdout(t, s.must(t, "images", "--format", "{{.Repository}}:{{.Tag}}", "built"), "built:latest\n")
		if n := strings.Count(s.must(t, "images", "-a", "-q").stdout, "\n"); n < 20 {
			t.Errorf("images -a lists %d images, want the steps too", n)
		}

		// A second build: every step from the cache, the same image.
		r = s.must(t, append(append([]string{"build", "-t", "built"}, args...), ctx)...)
		if got := lastLine(r.stdout); got != id {
			t.Errorf("the cached build made %s, want %s", got, id)
		}
		if n := strings.Count(r.stdout, "--> Using cache"); n != 21 {
			t.Errorf("the second build used the cache %d times, want 21 (every step but FROM and ARG):\n%s", n, r.stdout)
		}
		// One context file changed: its COPY and what follows run again.
		u.mustWrite(t, filepath.Join(ctx, "owned.conf"), "changed\n", 0o644)
		r = s.must(t, append(append([]string{"build", "-t", "built"}, args...), ctx)...)
		before, after, _ := strings.Cut(r.stdout, "COPY --chown")
		if strings.Count(before, "--> Using cache") != 11 || strings.Contains(after, "Using cache") {
			t.Errorf("after owned.conf changed, want the 11 steps before its COPY cached and none after:\n%s", r.stdout)
		}

		// An image FROM it runs its ONBUILD trigger, and does not keep it.
		child := u.buildContext(t, "child", map[string]string{"Containerfile": "FROM built\nLABEL child=1\n"})
		r = s.must(t, "build", "-t", "child", child)
		wantStdoutContains(t, r, "ONBUILD RUN echo child\nchild\n")
		r = s.must(t, "inspect", "-f", "{{len .Config.OnBuild}}", "child")
		wantStdout(t, r, "0\n")

		// --target: only the first stage.
		r = s.must(t, "build", "-q", "--target", "builder", "-t", "stage1", ctx)
		r = s.must(t, "run", "--rm", "stage1", "sh", "-c", "cat /built.txt; test -e /app || echo no-app")
		wantStdout(t, r, "built\nno-app\n")

		// --timestamp 0 from scratch twice: the same ID.
		a := lastLine(s.must(t, append(append([]string{"build", "-q", "--no-cache", "--timestamp", "0", "-t", "ts:a"}, args...), ctx)...).stdout)
		b := lastLine(s.must(t, append(append([]string{"build", "-q", "--no-cache", "--timestamp", "0", "-t", "ts:b"}, args...), ctx)...).stdout)
		if a != b {
			t.Errorf("--timestamp 0 twice gave %s and %s", a, b)
		}
		r = s.must(t, "inspect", "-f", "{{.Created}}", "ts:a")
		wantStdoutContains(t, r, "1970-01-01")

		// It pushes and pulls back the same.
		ref := reg.ref(u.mode + "-built:1")
		id = strings.TrimPrefix(s.imageID(t, "built"), "sha256:") // rebuilt since
		s.must(t, "push", "--tls-verify=false", "built", ref)
		s.must(t, "rmi", "built")
		r = s.must(t, "pull", "--tls-verify=false", ref)
		if got := strings.TrimPrefix(s.imageID(t, ref), "sha256:"); got != id {
			t.Errorf("pulled back %s, want %s", got, id)
		}

		// A syntax error: 125, the file and line, nothing run.
		bad := u.buildContext(t, "bad", map[string]string{"Dockerfile": "FROM bb\nRUN true\nCOPY\n"})
		r = s.do(t, "build", bad)
		wantCode(t, r, 125)
		wantStderrContains(t, r, filepath.Join(bad, "Dockerfile")+":3")
		if strings.Contains(r.stdout, "STEP") {
			t.Errorf("a file with a syntax error started building:\n%s", r.stdout)
		}
		// What sandbox does not build is refused before any step runs.
		unsup := u.buildContext(t, "unsupported", map[string]string{"Containerfile": "FROM bb\nRUN echo ran\nRUN --mount=type=cache,target=/c true\n"})
		r = s.do(t, "build", unsup)
		wantCode(t, r, 125)
		wantStderrContains(t, r, filepath.Join(unsup, "Containerfile")+":3: RUN --mount: not supported")
		if strings.Contains(r.stdout, "ran") {
			t.Errorf("a file with an unsupported step ran steps:\n%s", r.stdout)
		}
		// A failing RUN: its status, named; no image tagged.
		fails := u.buildContext(t, "fails", map[string]string{"Containerfile": "FROM bb\nRUN echo before > /f\nRUN exit 7\nCMD [\"true\"]\n"})
		r = s.do(t, "build", "-t", "never", fails)
		wantCode(t, r, 7)
		wantStderrContains(t, r, "status 7")
		if r := s.do(t, "inspect", "never"); r.code == 0 {
			t.Errorf("a failed build tagged its image:\n%s", r)
		}
		if n := len(s.psTable(t, "-a")); n != 0 {
			t.Errorf("the builds left %d containers", n)
		}
	})
}

// TestBuildDebian builds on a debootstrapped Debian: a local .deb
// installed with dpkg -i, a user made with useradd, COPY --chown by name.
func TestBuildDebian(t *testing.T) {
	reg := startRegistry(t)
	debian := reg.debianImage(t)
	deb := makeDeb(t)
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.newStore(t, "build-debian")
		s.pull(t, debian)
		data, err := os.ReadFile(deb)
		if err != nil {
			t.Fatal(err)
		}
		ctx := u.buildContext(t, "debian", map[string]string{
			"Containerfile": "FROM " + debian + "\n" +
				"COPY hello-sandbox.deb /tmp/\n" +
				"RUN dpkg -i /tmp/hello-sandbox.deb && rm /tmp/hello-sandbox.deb\n" +
				"RUN useradd -m app\n" +
				"COPY --chown=app:app notes.txt /home/app/\n" +
				"ARG RUNAS=app\nUSER $RUNAS\nWORKDIR /home/app\nCMD [\"cat\", \"/usr/share/hello-sandbox/message\"]\n",
			"hello-sandbox.deb": string(data),
			"notes.txt":         "notes\n",
		})
		// Single-id mode has only root: the build runs, chown is emulated,
		// and the image cannot run as app.
		runAs, owner := "app", "app:app"
		if u.mode == "single" {
			runAs, owner = "root", "root:root"
		}
		s.mustRun(t, "build", "-t", "deb-built", "--build-arg", "RUNAS="+runAs, ctx)
		r := s.mustRun(t, "run", "--rm", "deb-built")
		wantStdout(t, r, "installed from a local package\n")
		r = s.mustRun(t, "run", "--rm", "deb-built", "sh", "-c", "dpkg-query -W -f '${Status}\\n' hello-sandbox; stat -c '%U:%G %n' notes.txt; id -un; pwd")
		wantStdout(t, r, "install ok installed\n"+owner+" notes.txt\n"+runAs+"\n/home/app\n")
	})
}

// makeDeb builds a tiny Debian package with dpkg-deb.
func makeDeb(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb is not installed")
	}
	dir := filepath.Join(baseDir, "deb")
	os.MkdirAll(filepath.Join(dir, "pkg", "DEBIAN"), 0o755)
	os.MkdirAll(filepath.Join(dir, "pkg", "usr", "share", "hello-sandbox"), 0o755)
	os.WriteFile(filepath.Join(dir, "pkg", "DEBIAN", "control"), []byte("Package: hello-sandbox\nVersion: 1.0\nArchitecture: all\nMaintainer: tests <tests@example.org>\nDescription: a package for the build test\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "pkg", "usr", "share", "hello-sandbox", "message"), []byte("installed from a local package\n"), 0o644)
	out := filepath.Join(dir, "hello-sandbox.deb")
	if b, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", filepath.Join(dir, "pkg"), out).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, b)
	}
	os.Chmod(out, 0o644)
	return out
}

// archiveLayers reads a docker-archive (save's format) and returns, per
// layer, bottom first, its entries' names ("./" and a trailing "/" taken
// off), sorted.
func archiveLayers(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		b, _ := io.ReadAll(tr)
		files[strings.TrimPrefix(hdr.Name, "./")] = b
	}
	var manifest []struct{ Layers []string }
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("%s: manifest.json: %v", path, err)
	}
	var out [][]string
	for _, l := range manifest[0].Layers {
		data := files[strings.TrimPrefix(l, "./")]
		r, err := gzip.NewReader(bytes.NewReader(data))
		var lr io.Reader = bytes.NewReader(data)
		if err == nil {
			lr = r
		}
		var names []string
		ltr := tar.NewReader(lr)
		for {
			hdr, err := ltr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: layer %s: %v", path, l, err)
			}
			n := strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")
			if n != "" && n != "." {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		out = append(out, names)
	}
	return out
}

// TestBuildMatchesPodman builds one Containerfile with podman and with
// sandbox, on the same busybox image, and compares the file lists of the
// layers each made.
func TestBuildMatchesPodman(t *testing.T) {
	u, s, pod := podmanUser(t, "podman-build")
	pod("import", busyboxTar(t), "bb")
	ctx := u.buildContext(t, "podman-build", map[string]string{
		"Containerfile": "FROM bb\n" +
			"COPY a.txt /app/\n" +
			"COPY tree /app/tree\n" +
			"COPY a.txt b.txt /opt/deep/dir/\n" +
			"RUN mkdir -p /var/x && echo hi > /var/x/f && rm /etc/group && echo more >> /etc/passwd\n" +
			"WORKDIR /work\n" +
			"COPY b.txt .\n" +
			"ENV A=1\n" +
			"CMD [\"sh\"]\n",
		"a.txt":        "a\n",
		"b.txt":        "b\n",
		"tree/one":     "1\n",
		"tree/sub/two": "2\n",
	})
	pod("build", "-t", "built", ctx)
	s.must(t, "build", "-t", "built", ctx)
	theirs := filepath.Join(s.root, "..", "podman.tar")
	ours := filepath.Join(s.root, "..", "sandbox.tar")
	pod("save", "--format", "docker-archive", "-o", theirs, "localhost/built")
	s.must(t, "save", "-o", ours, "built")
	want, got := archiveLayers(t, theirs), archiveLayers(t, ours)
	// Buildah leaves a RUN's empty mount points in its layer; sandbox,
	// like Docker, does not (container.mountPoints).
	for i := range want {
		want[i] = slices.DeleteFunc(want[i], func(n string) bool {
			return slices.Contains([]string{"dev", "proc", "sys", "run", "etc/hostname", "etc/hosts", "etc/resolv.conf"}, n) && !slices.Contains(got[min(i, len(got)-1)], n)
		})
	}
	if len(got) != len(want) {
		t.Fatalf("sandbox made %d layers, podman %d:\nsandbox: %q\npodman: %q", len(got), len(want), got, want)
	}
	for i := range want {
		if strings.Join(got[i], "\n") != strings.Join(want[i], "\n") {
			t.Errorf("layer %d:\nsandbox: %q\npodman:  %q", i, got[i], want[i])
		}
	}
}

// TestBuildEscape: a symbolic link in the context or in an image never
// leads COPY to the host's files.
func TestBuildEscape(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "build-escape")
		hostDir := u.mustMkdir(t, filepath.Join(u.home, "host-secrets"))
		u.mustWrite(t, filepath.Join(hostDir, "secret.txt"), "HOSTSECRET\n", 0o644)
		for name, file := range map[string]string{
			// A link in the context, absolute and relative, to outside it.
			"abs": "FROM bb\nCOPY abs/secret.txt /got\n",
			"rel": "FROM bb\nCOPY rel/secret.txt /got\n",
			// A link in an image, to the host's directory.
			"image": "FROM bb AS evil\nRUN ln -s " + hostDir + " /hostdir\nFROM bb\nCOPY --from=evil /hostdir/secret.txt /got\n",
		} {
			ctx := u.buildContext(t, "escape-"+name, map[string]string{"Containerfile": file})
			for link, target := range map[string]string{"abs": hostDir, "rel": "../host-secrets"} {
				if err := os.Symlink(target, filepath.Join(ctx, link)); err != nil {
					t.Fatal(err)
				}
				os.Lchown(filepath.Join(ctx, link), int(u.uid), int(u.gid))
			}
			r := s.do(t, "build", "-t", "escape-"+name, ctx)
			if r.code == 0 {
				got := s.must(t, "run", "--rm", "escape-"+name, "cat", "/got")
				t.Errorf("%s: the build of a COPY through a link out of its source succeeded; /got holds %q", name, got.stdout)
				continue
			}
			if strings.Contains(r.stdout+r.stderr, "HOSTSECRET") {
				t.Errorf("%s: the host's file reached the output:\n%s", name, r)
			}
		}
	})
}

// TestBuildParserProgram: the Containerfile parser runs in a program of
// its own (cmd/sandbox-containerfile). What that must not change: keywords
// in any case, a Ctrl-C during a RUN step (for the step, which traps it,
// not for the parser the steps after it need), and a Containerfile that
// is not UTF-8, which is refused by line rather than rebuilt from other
// bytes.
func TestBuildParserProgram(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "build-parser")
		ctx := u.buildContext(t, "parser-case", map[string]string{
			"Containerfile": "from bb\narg X=lower\nrun echo built-$X > /out\nCopy a.txt /a\nenv Y=$X\n",
			"a.txt":         "from the context\n",
		})
		s.must(t, "build", "-t", "lowercase", ctx)
		r := s.must(t, "run", "--rm", "lowercase", "sh", "-c", "cat /out /a; echo $Y")
		wantStdout(t, r, "built-lower\nfrom the context\nlower\n")

		// SIGINT to the build's process group, as a terminal's Ctrl-C,
		// while its RUN step waits.
		ctx = u.buildContext(t, "parser-int", map[string]string{
			"Containerfile": "FROM bb\nRUN trap 'echo got-int' INT; i=0; while [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done\nENV AFTER=yes\n",
		})
		p := s.start(t, "build", "-t", "interrupted", ctx)
		deadline := time.Now().Add(defaultTimeout)
		for !hasDescendant(p.pid, "sleep") {
			if time.Now().After(deadline) {
				t.Fatal("the RUN step never started")
			}
			time.Sleep(20 * time.Millisecond)
		}
		syscall.Kill(-p.pid, syscall.SIGINT)
		r, ok := p.wait(defaultTimeout)
		if !ok {
			t.Fatal("the build did not end")
		}
		wantCode(t, r, 0)
		wantStdoutContains(t, r, "got-int")
		r = s.must(t, "inspect", "-f", "{{json .Config.Env}}", "interrupted")
		if !strings.Contains(r.stdout, "AFTER=yes") {
			t.Errorf("the step after the interrupted RUN is missing: %s", r.stdout)
		}

		ctx = u.buildContext(t, "parser-latin1", map[string]string{
			"Containerfile": "FROM bb\nLABEL x=\"caf\xe9\"\n",
		})
		r = s.do(t, "build", "-t", "latin1", ctx)
		wantCode(t, r, 125)
		wantStderrContains(t, r, "Containerfile:2: not UTF-8 text")
	})
}

// hasDescendant says whether a process named comm descends from pid.
func hasDescendant(pid int, comm string) bool {
	for _, q := range listProcs() {
		if q.comm == comm && descendantOf(q.pid, pid) {
			return true
		}
	}
	return false
}
