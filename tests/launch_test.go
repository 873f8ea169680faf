package tests

// Launch files (issue 5): every example in examples/ run as its comment
// says, flags over the file, --dry-run --explain naming each value's
// source, every mistake of a file reported at once with nothing created,
// and `up`/`down`.

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// launchStore is a fresh store with a config directory of its own (so a
// test can write config.toml) and the busybox image imported as
// "busybox", the name the examples use.
func (u *user) launchStore(t *testing.T, name string) (*store, string) {
	t.Helper()
	s := u.newStore(t, "launch-"+name)
	cfgHome := u.mustMkdir(t, filepath.Join(u.home, "config-"+name))
	u.mustMkdir(t, filepath.Join(cfgHome, "sandbox"))
	s.opts.env = append(s.opts.env, "XDG_CONFIG_HOME="+cfgHome)
	s.mustRun(t, "import", busyboxTar(t), "busybox")
	t.Cleanup(func() { s.removeAll(t) })
	return s, filepath.Join(cfgHome, "sandbox", "config.toml")
}

// copyExample copies examples/NAME into a directory the user owns (the
// examples write beside themselves) and returns it.
func (u *user) copyExample(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("..", "examples", name)
	dst := filepath.Join(u.home, "examples-"+strings.ReplaceAll(t.Name(), "/", "-"), name)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return u.mkdirAll(to)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return u.writeFile(to, string(b), 0o644)
	})
	if err != nil {
		t.Fatalf("copying example %s: %v", name, err)
	}
	return dst
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestExampleStaticSite: `up` serves ./public from a private network on
// a published port of the host's loopback, the page is the file's content,
// the mount and the root are read-only, and `down` removes the container
// (and its network helper: the port stops answering).
func TestExampleStaticSite(t *testing.T) {
	netHelpers(t) // the example asks for network = "slirp"
	forEachUser(t, func(t *testing.T, u *user) {
		s, _ := u.launchStore(t, "site")
		dir := u.copyExample(t, "static-site")
		port := freePort(t)
		o := s.opts
		o.env = append(append([]string{}, o.env...), fmt.Sprintf("PORT=%d", port))
		r := s.u.runWith(t, o, "up", filepath.Join(dir, "site.toml"))
		wantCode(t, r, 0)

		url := fmt.Sprintf("http://127.0.0.1:%d/", port)
		var body []byte
		var getErr error
		if !waitFor(10*time.Second, func() bool {
			resp, err := http.Get(url)
			if err != nil {
				getErr = err
				return false
			}
			defer resp.Body.Close()
			body, getErr = io.ReadAll(resp.Body)
			return getErr == nil && resp.StatusCode == 200
		}) {
			t.Fatalf("GET %s never answered 200: %v\nlogs:\n%s", url, getErr, s.do(t, "logs", "static-site"))
		}
		want, _ := os.ReadFile(filepath.Join(dir, "public", "index.html"))
		if string(body) != string(want) {
			t.Fatalf("GET %s = %q, want public/index.html: %q", url, body, want)
		}

		// Read-only: the site's mount and the container's own root.
		for _, path := range []string{"/www/new.html", "/etc/new"} {
			r = s.do(t, "exec", "static-site", "sh", "-c", "echo x > "+path)
			if r.code == 0 {
				t.Fatalf("writing %s in the static site succeeded; the example says it is read-only:\n%s", path, r)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "public", "new.html")); err == nil {
			t.Fatal("the read-only mount let a file reach the host's public/")
		}

		r = s.must(t, "down", filepath.Join(dir, "site.toml"))
		wantStdout(t, r, "static-site\n")
		if n := len(s.psJSON(t)); n != 0 {
			t.Fatalf("after down, ps -a lists %d containers, want none", n)
		}
		if _, err := http.Get(url); err == nil {
			t.Fatalf("%s still answers after down", url)
		}
	})
}

// TestExampleBuildJob: the limits are refused where they cannot be
// enforced (nothing is created); with cgroups = "best-effort" it runs,
// warns once per limit, and the archive and its checksum are right.
func TestExampleBuildJob(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s, cfgPath := u.launchStore(t, "build")
		dir := u.copyExample(t, "build-job")
		file := filepath.Join(dir, "build.toml")

		// The dry run shows the limits, from the file.
		r := s.do(t, "run", "--config", file, "--dry-run", "--explain")
		for _, want := range []string{`memory = "512MiB"`, "cpus = 1.5", "pids = 128", `network = "none"`} {
			if !regexp.MustCompile(regexp.QuoteMeta(want) + `\s+# ` + regexp.QuoteMeta(file) + `:\d+:\d+`).MatchString(r.stdout) {
				t.Errorf("dry run does not show %s from %s:\n%s", want, file, r)
			}
		}

		// This machine has no cgroup v2 for sandbox (issue 6): with the
		// default policy ("required") a limit that cannot be enforced is an
		// error, before anything is made.
		if r.code != 0 {
			wantCode(t, r, 125)
			wantStderrContains(t, r, "cgroup")
			r = s.do(t, "run", "--rm", "--config", file)
			wantCode(t, r, 125)
			wantStderrContains(t, r, "best-effort")
			if n := len(s.psJSON(t)); n != 0 {
				t.Fatalf("a refused run left %d containers", n)
			}
			u.mustWrite(t, cfgPath, "cgroups = \"best-effort\"\n", 0o644)
		}
		r = s.do(t, "run", "--rm", "--config", file)
		wantCode(t, r, 0)
		if strings.Contains(r.stderr, "not enforced") {
			for _, l := range []string{"memory 512MiB", "cpus 1.5", "pids 128"} {
				wantStderrContains(t, r, l+": not enforced")
			}
		}
		sums, err := os.ReadFile(filepath.Join(dir, "out", "SHA256SUMS"))
		if err != nil {
			t.Fatalf("the build job wrote no out/SHA256SUMS: %v\n%s", err, r)
		}
		archive := filepath.Join(dir, "out", "src.tar.gz")
		if got, want := strings.Fields(string(sums)), []string{fileSHA256(t, archive), "src.tar.gz"}; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("SHA256SUMS = %q, want %q", got, want)
		}
		if r.stdout != string(sums) {
			t.Fatalf("the job printed %q, want the checksum line %q", r.stdout, sums)
		}
		names := tarNames(t, archive)
		for _, want := range []string{"./hello.c", "./Makefile"} {
			if !strings.Contains(names, want+"\n") {
				t.Fatalf("src.tar.gz lacks %s; it holds:\n%s", want, names)
			}
		}
		if n := len(s.psJSON(t)); n != 0 {
			t.Fatalf("the --rm build left %d containers", n)
		}
	})
}

// tarNames lists a .tar.gz with the host's tar.
func tarNames(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("tar", "-tzf", path).CombinedOutput()
	if err != nil {
		t.Fatalf("listing %s: %v\n%s", path, err, out)
	}
	return string(out)
}

// TestExampleThrowawayShell: the home is a fresh tmpfs at the home's
// path, writable, and what is written there never reaches the real home;
// the network is only lo; the hostname is the file's.
func TestExampleThrowawayShell(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s, _ := u.launchStore(t, "shell")
		dir := u.copyExample(t, "throwaway-shell")
		marker := "throwaway-" + strings.ReplaceAll(t.Name(), "/", "-")
		script := `set -e; pwd; echo hi > ~/` + marker + `; ls -A ~; ` +
			`awk -v h="$HOME" '$2 == h {print $3}' /proc/mounts | tail -n 1; hostname; ls /sys/class/net`
		r := s.do(t, "shell", "--config", filepath.Join(dir, "shell.toml"), "--", "sh", "-c", script)
		wantCode(t, r, 0)
		want := fmt.Sprintf("%s\n%s\ntmpfs\nthrowaway\nlo\n", u.home, marker)
		if r.stdout != want {
			t.Fatalf("the throwaway shell printed\n%q\nwant\n%q\n%s", r.stdout, want, r)
		}
		if _, err := os.Stat(filepath.Join(u.home, marker)); err == nil {
			t.Fatalf("%s reached the real home", marker)
		}
		if n := len(s.psJSON(t)); n != 0 {
			t.Fatalf("the shell left %d containers", n)
		}
	})
}

// TestExampleService: `up` runs the worker; its first two starts fail and
// the monitor restarts it (RestartCount 2) until it is up and beating;
// `stop` ends it for good; `down` removes it.
func TestExampleService(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s, _ := u.launchStore(t, "service")
		dir := u.copyExample(t, "service")
		file := filepath.Join(dir, "worker.toml")
		id := s.mustID(t, "up", file)

		var d restartInspect
		if !waitFor(20*time.Second, func() bool {
			d = s.restartInspect(t, "worker")
			return d.RestartCount == 2 && d.State.Running
		}) {
			t.Fatalf("the worker never ran after 2 restarts: %+v\nlogs:\n%s", d, s.do(t, "logs", "worker"))
		}
		if d.Id != id || d.HostConfig.RestartPolicy.Name != "on-failure" {
			t.Fatalf("inspect worker: %+v, want ID %s and restart policy on-failure", d, id)
		}
		alive := filepath.Join(dir, "state", "alive")
		if !waitFor(5*time.Second, func() bool { _, err := os.Stat(alive); return err == nil }) {
			t.Fatalf("no heartbeat in state/alive:\n%s", s.do(t, "logs", "worker"))
		}
		// The log is written by the container's monitor as the output
		// comes, not in step with the payload's side effects (as docker's
		// copier is not): what the payload printed before its heartbeat
		// may reach the log a few milliseconds after it.
		var logs result
		for _, want := range []string{"attempt 1: the dependency is not ready", "attempt 2: the dependency is not ready", "attempt 3: ready"} {
			if !waitFor(5*time.Second, func() bool {
				logs = s.must(t, "logs", "worker")
				return strings.Contains(logs.stdout+logs.stderr, want)
			}) {
				t.Fatalf("the worker's log lacks %q:\n%s", want, logs)
			}
		}

		// A second up with the same file leaves it alone.
		r := s.must(t, "up", file)
		wantStdout(t, r, "worker is up to date\n")

		// stop: the trap says "stopping" and exits 0; no restart follows.
		s.must(t, "stop", "worker")
		time.Sleep(time.Second)
		d = s.restartInspect(t, "worker")
		if d.State.Running || d.State.Restarting || d.State.ExitCode != 0 || d.RestartCount != 2 {
			t.Fatalf("after stop: %+v, want exited 0, not restarting, RestartCount still 2", d)
		}
		s.must(t, "down", file)
		if n := len(s.psJSON(t)); n != 0 {
			t.Fatalf("after down, ps -a lists %d containers", n)
		}
	})
}

// restartInspect is what the restart tests read of inspect.
type restartInspect struct {
	Id    string
	State struct {
		Running    bool
		Restarting bool
		ExitCode   int
	}
	RestartCount int
	HostConfig   struct{ RestartPolicy struct{ Name string } }
}

func (s *store) restartInspect(t *testing.T, ref string) restartInspect {
	t.Helper()
	r := s.must(t, "inspect", ref)
	var out []restartInspect
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 {
		t.Fatalf("inspect %s: %v\n%s", ref, err, r)
	}
	return out[0]
}

// TestRestartAlwaysAndKill: restart = "always" starts a container that
// exits 0 again; kill ends it and its restarts.
func TestRestartAlwaysAndKill(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s, _ := u.launchStore(t, "always")
		s.mustID(t, "run", "-d", "--name", "tick", "--restart", "always", "busybox", "sh", "-c", "echo tick; sleep 0.2")
		var d restartInspect
		if !waitFor(15*time.Second, func() bool { d = s.restartInspect(t, "tick"); return d.RestartCount >= 3 }) {
			t.Fatalf("restart=always did not restart a container that exits 0: %+v", d)
		}
		if r := s.do(t, "run", "--name", "fg", "--restart", "always", "busybox", "true"); r.code != 125 || !strings.Contains(r.stderr, "-d") {
			t.Fatalf("a foreground run with a restart policy should be refused (125, naming -d):\n%s", r)
		}
		if r := s.do(t, "run", "-d", "--rm", "--restart", "on-failure", "busybox", "true"); r.code != 125 || !strings.Contains(r.stderr, "--rm") {
			t.Fatalf("--rm with a restart policy should be refused (125, naming --rm):\n%s", r)
		}
		// Between two runs it is restarting, never exited: an end the
		// monitor starts again after is recorded so in one write (a kill
		// in between once said "not running"). The record itself, read
		// as fast as it can be for 2 s (eight runs), as each command
		// reads it first.
		statePath := filepath.Join(s.ctrDir(d.Id), "state.json")
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
			var st struct {
				Status     string `json:"status"`
				Restarting bool   `json:"restarting"`
			}
			b, err := os.ReadFile(statePath)
			if err != nil || json.Unmarshal(b, &st) != nil {
				t.Fatalf("reading %s: %v\n%s", statePath, err, b)
			}
			if st.Status == "exited" && !st.Restarting {
				t.Fatalf("between two runs the container is recorded exited, not restarting:\n%s", b)
			}
		}
		// Killed while it runs (137) or between two runs (its last code, 0).
		s.must(t, "kill", "tick")
		if r := s.must(t, "wait", "tick"); r.stdout != "137\n" && r.stdout != "0\n" {
			t.Fatalf("wait after kill printed %q, want 137 or 0", r.stdout)
		}
		time.Sleep(time.Second)
		after := s.restartInspect(t, "tick")
		if after.State.Running || after.State.Restarting {
			t.Fatalf("kill did not end the restarts: %+v", after)
		}
		count := after.RestartCount
		time.Sleep(time.Second)
		if d := s.restartInspect(t, "tick"); d.RestartCount != count || d.State.Running {
			t.Fatalf("the killed container was restarted: %+v (count was %d)", d, count)
		}
		if r := s.must(t, "logs", "tick"); strings.Count(r.stdout, "tick\n") < 3 {
			t.Fatalf("the log should hold a tick per run:\n%s", r)
		}
	})
}

// TestLaunchFlagOverridesFile: --env A=2 over env.A = "1" shows 2 inside,
// and the file's other variables stay; a positional command after --
// replaces the file's command, not its image.
func TestLaunchFlagOverridesFile(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s, _ := u.launchStore(t, "override")
		dir := u.mustMkdir(t, filepath.Join(u.home, "override"))
		file := u.mustWrite(t, filepath.Join(dir, "app.toml"), `image = "busybox"
command = ["sh", "-c", "echo A=$A B=$B"]

[env]
A = "1"
B = "file"
`, 0o644)
		r := s.must(t, "run", "--rm", "--config", file)
		wantStdout(t, r, "A=1 B=file\n")
		r = s.must(t, "run", "--rm", "--config", file, "--env", "A=2")
		wantStdout(t, r, "A=2 B=file\n")
		r = s.must(t, "run", "--rm", "--config", file, "-e", "A=3", "--", "sh", "-c", "echo only $A")
		wantStdout(t, r, "only 3\n")
	})
}

// TestLaunchExplain: each value's source is named: default, config.toml
// (with its line), app.toml (with its line) or flag.
func TestLaunchExplain(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s, cfgPath := u.launchStore(t, "explain")
		u.mustWrite(t, cfgPath, "# user defaults\nnetwork = \"none\"\n\n[env]\nEDITOR = \"vi\"\n", 0o644)
		dir := u.mustMkdir(t, filepath.Join(u.home, "explain"))
		file := u.mustWrite(t, filepath.Join(dir, "app.toml"), "image = \"busybox\"\nworkdir = \"/tmp\"\n\n[env]\nA = \"1\"\n", 0o644)
		r := s.must(t, "run", "--config", file, "--dry-run", "--explain", "--hostname", "h1", "-e", "A=2")
		for _, want := range []struct{ line, source string }{
			{`image = "busybox"`, file + ":1:9"},
			{`workdir = "/tmp"`, file + ":2:11"},
			{`network = "none"`, cfgPath + ":2:11"},
			{`hostname = "h1"`, "flag"},
			{`"A" = "2"`, "flag"},
			{`"EDITOR" = "vi"`, cfgPath + ":5:10"},
			{`restart = "no"`, "default"},
			{`stop_timeout = 10`, "default"},
		} {
			re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want.line) + `\s+# ` + regexp.QuoteMeta(want.source) + `$`)
			if !re.MatchString(r.stdout) {
				t.Errorf("--explain does not show %s with source %s:\n%s", want.line, want.source, r.stdout)
			}
		}
		// Without --explain it is plain TOML, and it is a launch file.
		r = s.must(t, "run", "--config", file, "--dry-run", "-e", "A=2")
		if strings.Contains(r.stdout, "#") {
			t.Fatalf("--dry-run without --explain has comments:\n%s", r.stdout)
		}
		again := u.mustWrite(t, filepath.Join(dir, "merged.toml"), r.stdout, 0o644)
		r2 := s.must(t, "run", "--config", again, "--dry-run")
		if r2.stdout != r.stdout {
			t.Fatalf("the dry run's output does not read back to itself:\n%s\nthen:\n%s", r.stdout, r2.stdout)
		}
		if n := len(s.psJSON(t)); n != 0 {
			t.Fatalf("--dry-run created %d containers", n)
		}
	})
}

// TestLaunchFileMistakes: the file with three mistakes exits 125,
// names all three with line:column, and creates nothing.
func TestLaunchFileMistakes(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s, _ := u.launchStore(t, "mistakes")
		dir := u.mustMkdir(t, filepath.Join(u.home, "mistakes"))
		u.mustMkdir(t, filepath.Join(dir, "data"))
		file := u.mustWrite(t, filepath.Join(dir, "app.toml"), `image = "busybox"
command = ["true"]

[resources]
memroy = "512MiB"
cpus = "lots"

[[mount]]
source = "data"
target = "data"
`, 0o644)
		before := treeListing(t, s.root)
		for _, args := range [][]string{
			{"run", "--rm", "--config", file},
			{"create", "--config", file},
			{"up", file},
			{"run", "--config", file, "--dry-run"},
		} {
			r := s.do(t, args...)
			wantCode(t, r, 125)
			for _, want := range []string{file + ":5:1", "memroy", `"memory"`, file + ":6:8", `"lots"`, file + ":10:10", `"data"`, "absolute"} {
				wantStderrContains(t, r, want)
			}
		}
		if after := treeListing(t, s.root); after != before {
			t.Fatalf("a refused launch changed the store:\n%s\nthen:\n%s", before, after)
		}
		if n := len(s.psJSON(t)); n != 0 {
			t.Fatalf("a refused launch created %d containers", n)
		}
	})
}

// TestUpReplacesChangedFile: up of an edited file replaces the running
// container (a new ID, the new settings), and the name comes from the
// file's base name when it sets none.
func TestUpReplacesChangedFile(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s, _ := u.launchStore(t, "replace")
		dir := u.mustMkdir(t, filepath.Join(u.home, "replace"))
		file := filepath.Join(dir, "my app.toml")
		u.mustWrite(t, file, "image = \"busybox\"\ncommand = [\"sleep\", \"1000\"]\nstop_timeout = 1\n[env]\nV = \"1\"\n", 0o644)
		id1 := s.mustID(t, "up", file)
		if d := s.inspect(t, "my-app"); d.Id != id1 || !d.State.Running {
			t.Fatalf("up of \"my app.toml\" should run a container named my-app: %+v", d)
		}
		u.mustWrite(t, file, "image = \"busybox\"\ncommand = [\"sleep\", \"1000\"]\nstop_timeout = 1\n[env]\nV = \"2\"\n", 0o644)
		id2 := s.mustID(t, "up", file)
		if id2 == id1 {
			t.Fatal("up of a changed file kept the old container")
		}
		r := s.must(t, "exec", "my-app", "sh", "-c", "echo $V; echo kept > /kept")
		wantStdout(t, r, "2\n")
		if n := len(s.psJSON(t)); n != 1 {
			t.Fatalf("after the replacement ps -a lists %d containers, want 1", n)
		}

		// Stopped and unchanged: up starts the same container again, its
		// writable layer kept.
		s.must(t, "stop", "my-app")
		if id3 := s.mustID(t, "up", file); id3 != id2 {
			t.Fatalf("up of a stopped, unchanged launch made container %s, want %s started again", id3, id2)
		}
		r = s.must(t, "exec", "my-app", "cat", "/kept")
		wantStdout(t, r, "kept\n")

		// A container of that name that up did not start is left alone.
		other := u.mustWrite(t, filepath.Join(dir, "other.toml"), "image = \"busybox\"\nname = \"mine\"\ncommand = [\"true\"]\n", 0o644)
		s.must(t, "create", "--name", "mine", "busybox", "true")
		r = s.do(t, "up", other)
		wantCode(t, r, 125)
		wantStderrContains(t, r, "did not start")
		r = s.do(t, "down", other)
		wantCode(t, r, 125)
		if _, ok := s.psRow(t, "mine", "-a"); !ok {
			t.Fatal("up or down of another file removed the container named mine")
		}
		s.must(t, "down", file)
	})
}

// treeListing lists every path under root with its size: what a command
// that must create nothing must leave equal.
func treeListing(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		size := info.Size()
		if d.IsDir() {
			size = 0
		}
		fmt.Fprintf(&b, "%s %d\n", p, size)
		return nil
	})
	if err != nil {
		t.Fatalf("listing %s: %v", root, err)
	}
	return b.String()
}

// TestLaunchSameLimitMessage: memory_swap below memory is refused (125,
// nothing made) with the same words whether it comes from flags, from a
// launch file, from config.toml, or from a mix; only how each key is named
// differs (the flag, or file:line:col).
func TestLaunchSameLimitMessage(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s, cfgToml := u.launchStore(t, "limit-msg")
		dir := u.mustMkdir(t, filepath.Join(u.home, "limit-msg"))
		both := u.mustWrite(t, filepath.Join(dir, "both.toml"), "image = \"busybox\"\ncommand = [\"true\"]\n[resources]\nmemory = \"64m\"\nmemory_swap = \"32m\"\n", 0o644)
		mem := u.mustWrite(t, filepath.Join(dir, "mem.toml"), "image = \"busybox\"\ncommand = [\"true\"]\n[resources]\nmemory = \"64m\"\n", 0o644)
		const core = "(32MiB) is memory plus swap: it cannot be less than"
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"run", "--rm", "--memory", "64m", "--memory-swap", "32m", "busybox", "true"}, "--memory-swap " + core + " --memory (64MiB)"},
			{[]string{"run", "--rm", "--config", both}, both + ":5:15: resources.memory_swap " + core + " resources.memory (64MiB)"},
			{[]string{"run", "--rm", "--config", mem, "--memory-swap", "32m"}, "--memory-swap " + core + " resources.memory (64MiB)"},
		} {
			r := s.do(t, tc.args...)
			wantCode(t, r, 125)
			wantStderrContains(t, r, tc.want)
		}
		// A value a key's own rule refuses: the same words after the flag
		// as after the file's key (config.Keys holds the one check).
		for _, tc := range []struct {
			flag []string
			toml string
			file string // what the file's message names
			core string
		}{
			{[]string{"--pids-limit", "8"}, "[resources]\npids = 8\n", ":4:8: resources.pids = 8", ": at least 32 "},
			{[]string{"--cpus", "0"}, "[resources]\ncpus = 0\n", ":4:8: resources.cpus = 0", ": a number of CPUs more than zero"},
			{[]string{"--restart", "sometimes"}, "restart = \"sometimes\"\n", `:3:11: restart = "sometimes"`, `: valid values are "no", "on-failure", "always"`},
			{[]string{"--cap-add", "NOPE"}, "[security]\ncap_add = [\"NOPE\"]\n", `:4:12: security.cap_add: "NOPE"`, ": not a capability"},
			{[]string{"--hostname", "a b"}, "hostname = \"a b\"\n", `:3:12: hostname = "a b"`, ": 1 to 64 characters"},
		} {
			r := s.do(t, append(append([]string{"run", "--rm"}, tc.flag...), "busybox", "true")...)
			wantCode(t, r, 125)
			flagWords := tc.flag[0] + " " + tc.flag[1]
			if tc.flag[1] == "sometimes" || tc.flag[1] == "NOPE" || tc.flag[1] == "a b" {
				flagWords = tc.flag[0] + ` "` + tc.flag[1] + `"`
			}
			wantStderrContains(t, r, flagWords+tc.core)
			f := u.mustWrite(t, filepath.Join(dir, "bad.toml"), "image = \"busybox\"\ncommand = [\"true\"]\n"+tc.toml, 0o644)
			r = s.do(t, "run", "--rm", "--config", f)
			wantCode(t, r, 125)
			wantStderrContains(t, r, f+tc.file+tc.core)
		}
		u.mustWrite(t, cfgToml, "[resources]\nmemory_swap = \"32m\"\n", 0o644)
		r := s.do(t, "run", "--rm", "--memory", "64m", "busybox", "true")
		wantCode(t, r, 125)
		wantStderrContains(t, r, cfgToml+":2:15: resources.memory_swap "+core+" --memory (64MiB)")
		if n := len(s.psTable(t, "-a")); n != 0 {
			t.Errorf("the refused runs left %d containers", n)
		}
	})
}
