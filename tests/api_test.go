package tests

// The Docker Engine API (issue 17): Debian 12's docker client and
// docker-compose, pointed at `sandbox system service`, drive sandbox's
// own containers, images, volumes and networks; each result is checked
// against what sandbox itself shows.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dockerCLI is Debian's docker client (package docker.io): the API version
// it speaks (1.41) is the one served. Another docker on $PATH is not it.
const dockerCLI = "/usr/bin/docker"

func needDocker(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(dockerCLI); err != nil {
		t.Skip("Debian's docker client is not installed (apt-get install docker.io, with a policy-rc.d that keeps dockerd from starting; .ci/run does)")
	}
}

// apiService is a `sandbox system service` of a test store.
type apiService struct {
	s    *store
	sock string
	p    *proc
}

// startService starts the service on a socket of its own and waits until
// it answers.
func startService(t *testing.T, s *store, name string, idle int) *apiService {
	t.Helper()
	sock := filepath.Join(s.u.home, "api-"+name+".sock")
	p := s.u.startWith(t, s.opts, "system", "service", "--time", fmt.Sprint(idle), "unix://"+sock)
	ok := waitFor(10*time.Second, func() bool {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	if !ok {
		p.kill()
		<-p.done
		t.Fatalf("the service never listened on %s:\n%s", sock, p.res)
	}
	return &apiService{s: s, sock: sock, p: p}
}

// waitIdleExit waits for a service started with --time 2 to exit, with
// status 0, after what (the event that should leave it idle); it kills
// one still running 30 s on.
func (a *apiService) waitIdleExit(t *testing.T, after string) {
	t.Helper()
	select {
	case <-a.p.done:
		if a.p.res.code != 0 {
			t.Errorf("the idle service exited %d:\n%s", a.p.res.code, a.p.res)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("the service with --time 2 still runs 30 s after %s", after)
		a.p.kill()
		<-a.p.done
	}
}

func (a *apiService) clientOpts(bin string) runOpts {
	o := a.s.opts
	o.bin = bin
	o.env = append(append([]string{}, o.env...), "DOCKER_HOST=unix://"+a.sock, "DOCKER_CONFIG="+filepath.Join(a.s.u.home, ".docker-tests"))
	return o
}

// docker runs Debian's docker client against the service.
func (a *apiService) docker(t *testing.T, args ...string) result {
	t.Helper()
	return a.s.u.runWith(t, a.clientOpts(dockerCLI), args...)
}

func (a *apiService) mustDocker(t *testing.T, args ...string) result {
	t.Helper()
	r := a.docker(t, args...)
	wantCode(t, r, 0)
	return r
}

// psNames are the names `sandbox ps -a` lists.
func (s *store) psNames(t *testing.T) []string {
	t.Helper()
	return strings.Fields(s.must(t, "ps", "-a", "--format", "{{.Names}}").stdout)
}

func TestAPIDockerCLI(t *testing.T) {
	needDocker(t)
	reg := startRegistry(t)
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "api-cli")
		a := startService(t, s, "cli-"+u.mode, 0)

		r := a.mustDocker(t, "version")
		for _, want := range []string{"Server: sandbox", "API version:      1.41"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("docker version lacks %q:\n%s", want, r)
			}
		}

		// Pull, with progress, from the local registry (plain HTTP on
		// loopback, as dockerd allows it).
		ref := reg.ref(u.mode + "-apibb:1")
		s.must(t, "push", "--tls-verify=false", "bb", ref)
		r = a.mustDocker(t, "pull", ref)
		for _, want := range []string{"Pulling from", "Downloaded newer image for " + ref} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("docker pull's progress lacks %q:\n%s", want, r)
			}
		}
		if imgs := s.must(t, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout; !strings.Contains(imgs, ref) {
			t.Errorf("sandbox images lacks the image docker pulled (%s):\n%s", ref, imgs)
		}
		if imgs := a.mustDocker(t, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout; !strings.Contains(imgs, ref) || !strings.Contains(imgs, "bb:latest") {
			t.Errorf("docker images lacks %s or bb:latest:\n%s", ref, imgs)
		}

		// push, with the JSON stream; sandbox pulls back the same.
		pushed := reg.ref(u.mode + "-apipushed:1")
		a.mustDocker(t, "tag", "bb", pushed)
		if r := a.mustDocker(t, "push", pushed); !strings.Contains(r.stdout, "digest: sha256:") {
			t.Errorf("docker push did not say its digest:\n%s", r)
		}
		s.must(t, "rmi", pushed)
		s.mustRun(t, "pull", "--tls-verify=false", pushed)
		s.must(t, "rmi", pushed)

		// save and load.
		archive := filepath.Join(u.home, "api-saved.tar")
		a.mustDocker(t, "save", "-o", archive, "bb")
		a.mustDocker(t, "tag", "bb", "saved:1")
		a.mustDocker(t, "rmi", "saved:1")
		if r := a.mustDocker(t, "load", "-i", archive); !strings.Contains(r.stdout, "Loaded image: bb:latest") {
			t.Errorf("docker load:\n%s", r)
		}

		// run --rm: the output, and exit codes as the API reports them.
		r = a.docker(t, "run", "--rm", "bb", "sh", "-c", "echo attached; exit 3")
		wantCode(t, r, 3)
		wantStdout(t, r, "attached\n")
		wantCode(t, a.docker(t, "run", "--rm", "bb", "true"), 0)
		wantCode(t, a.docker(t, "run", "--rm", "bb", "nosuchcmd"), 127)
		wantCode(t, a.docker(t, "run", "--rm", "bb", "/bin"), 126)
		r = a.docker(t, "run", "--rm", "--cpu-shares", "512", "bb", "true")
		wantCode(t, r, 125)
		if !strings.Contains(r.stderr, "CpuShares") {
			t.Errorf("an unsupported limit was not refused by name:\n%s", r)
		}
		// Standard input: piped (its end is the payload's), and typed
		// into a terminal, which the client also sizes.
		o := a.clientOpts(dockerCLI)
		o.stdin = strings.NewReader("line one\nline two\n")
		r = u.runWith(t, o, "run", "-i", "--rm", "bb", "sh", "-c", "cat; echo done; exit 4")
		wantCode(t, r, 4)
		wantStdout(t, r, "line one\nline two\ndone\n")
		{
			master, slave := openPTY(t)
			unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 99})
			read := readTerminal(master)
			o := a.clientOpts(dockerCLI)
			o.tty = slave
			go func() {
				time.Sleep(2 * time.Second)
				master.Write([]byte("typed-in\r"))
			}()
			r := u.runWith(t, o, "run", "-it", "--rm", "bb", "sh", "-c", "read x; stty size; echo got $x; exit 6")
			slave.Close()
			wantCode(t, r, 6)
			if out := read(); !strings.Contains(out, "got typed-in") || !strings.Contains(out, "33 99") {
				t.Errorf("docker run -it showed %q, want the typed line back and a 33x99 terminal", out)
			}
		}
		if names := s.psNames(t); len(names) != 0 {
			t.Errorf("run --rm left containers: %q", names)
		}

		// run -d, ps -a, logs -f: what sandbox shows too.
		a.mustDocker(t, "run", "-d", "--name", "d1", "bb", "sleep", "100")
		a.mustDocker(t, "run", "-d", "--name", "d2", "bb", "sh", "-c", "echo one; sleep 0.3; echo two >&2")
		wantStdout(t, a.mustDocker(t, "logs", "-f", "d2"), "one\n")
		if r := a.mustDocker(t, "logs", "d2"); r.stderr != "two\n" {
			t.Errorf("docker logs' stderr = %q, want two", r.stderr)
		}
		dn := strings.Fields(a.mustDocker(t, "ps", "-a", "--format", "{{.Names}}").stdout)
		sn := s.psNames(t)
		if strings.Join(sortedCopy(dn), " ") != "d1 d2" || strings.Join(sortedCopy(sn), " ") != "d1 d2" {
			t.Errorf("docker ps -a lists %q, sandbox ps -a %q; want d1 and d2 in both", dn, sn)
		}
		if st := s.must(t, "inspect", "--format", "{{.State.Status}}", "d1").stdout; st != "running\n" {
			t.Errorf("sandbox sees d1 %q", st)
		}

		// attach to a running container: what comes next only.
		a.mustDocker(t, "run", "-d", "--name", "att", "bb", "sh", "-c", "echo early; sleep 1.5; echo late")
		waitFor(5*time.Second, func() bool { return strings.Contains(a.mustDocker(t, "logs", "att").stdout, "early") })
		wantStdout(t, a.mustDocker(t, "attach", "att"), "late\n")
		a.mustDocker(t, "rm", "att")

		// exec -it through a terminal.
		master, slave := openPTY(t)
		unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 30, Col: 90})
		read := readTerminal(master)
		o = a.clientOpts(dockerCLI)
		o.tty = slave
		r = u.runWith(t, o, "exec", "-it", "d1", "sh", "-c", "tty; stty size; echo in-the-tty; exit 5")
		slave.Close()
		wantCode(t, r, 5)
		if out := read(); !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "30 90") || !strings.Contains(out, "in-the-tty") {
			t.Errorf("docker exec -it showed %q, want a tty of 30x90 and in-the-tty", out)
		}

		// cp both ways.
		src := filepath.Join(u.home, "api-cp-in")
		u.mustWrite(t, src, "copied in\n", 0o644)
		a.mustDocker(t, "cp", src, "d1:/copied")
		wantStdout(t, s.must(t, "exec", "d1", "cat", "/copied"), "copied in\n")
		back := filepath.Join(u.home, "api-cp-out")
		a.mustDocker(t, "cp", "d1:/copied", back)
		if b, err := os.ReadFile(back); err != nil || string(b) != "copied in\n" {
			t.Errorf("docker cp out: %q, %v", b, err)
		}

		// stop, rm: sandbox sees them go.
		a.mustDocker(t, "stop", "-t", "1", "d1")
		if st := s.must(t, "inspect", "--format", "{{.State.Status}}", "d1").stdout; st != "exited\n" {
			t.Errorf("after docker stop, sandbox sees d1 %q", st)
		}
		a.mustDocker(t, "rm", "d1", "d2")
		if names := s.psNames(t); len(names) != 0 {
			t.Errorf("after docker rm, sandbox ps -a lists %q", names)
		}

		// build, then run what it built with sandbox.
		ctx := u.buildContext(t, "api-build", map[string]string{
			"Dockerfile": "FROM bb\nCOPY note /note\nRUN echo built-by-docker >> /note\n",
			"note":       "from the context\n",
		})
		a.mustDocker(t, "build", "-t", "apibuilt", ctx)
		wantStdout(t, s.must(t, "run", "--rm", "apibuilt", "cat", "/note"), "from the context\nbuilt-by-docker\n")

		// rmi, volume create, network create: sandbox sees them.
		a.mustDocker(t, "rmi", ref, "apibuilt")
		if imgs := s.must(t, "images", "--format", "{{.Repository}}").stdout; strings.Contains(imgs, "apibuilt") || strings.Contains(imgs, "apibb") {
			t.Errorf("after docker rmi, sandbox images lists:\n%s", imgs)
		}
		a.mustDocker(t, "volume", "create", "apivol")
		wantStdout(t, s.must(t, "volume", "ls", "-q"), "apivol\n")
		a.mustDocker(t, "network", "create", "apinet")
		wantStdout(t, s.must(t, "network", "ls", "-q"), "apinet\n")
		a.mustDocker(t, "volume", "rm", "apivol")
		a.mustDocker(t, "network", "rm", "apinet")
		wantStdout(t, s.must(t, "volume", "ls", "-q"), "")
		wantStdout(t, s.must(t, "network", "ls", "-q"), "")
	})
}

func sortedCopy(in []string) []string { return slices.Sorted(slices.Values(in)) }

// TestAPICompose: docker-compose up -d of a web server and a client on a
// network of the file's, with a named volume and a published port; the
// client reaches the web server by its service name; down -v leaves
// nothing.
func TestAPICompose(t *testing.T) {
	needDocker(t)
	compose, err := lookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose is not installed (apt-get install docker-compose; .ci/run does)")
	}
	netHelpers(t)
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "api-compose")
		a := startService(t, s, "compose-"+u.mode, 0)
		port := freePort(t)
		dir := u.mustMkdir(t, filepath.Join(u.home, "compose-"+u.mode))
		u.mustWrite(t, filepath.Join(dir, "docker-compose.yml"), fmt.Sprintf(`version: "3.7"
services:
  web:
    image: bb
    command: sh -c 'echo served-by-compose > /www/index.html; httpd -f -p 8000 -h /www'
    volumes: ["webdata:/www"]
    ports: ["127.0.0.1:%d:8000"]
    networks: [appnet]
  client:
    image: bb
    command: sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://web:8000/ && break; sleep 0.5; done; sleep 100'
    networks: [appnet]
networks:
  appnet: {}
volumes:
  webdata: {}
`, port), 0o644)
		co := a.clientOpts(compose)
		co.env = append(co.env, "COMPOSE_PROJECT_NAME=proj")
		run := func(args ...string) result {
			t.Helper()
			o := co
			return u.runWith(t, o, append([]string{"--project-directory", dir, "-f", filepath.Join(dir, "docker-compose.yml")}, args...)...)
		}
		wantCode(t, run("up", "-d"), 0)
		var logs result
		waitFor(15*time.Second, func() bool {
			logs = run("logs", "client")
			return strings.Contains(logs.stdout, "served-by-compose")
		})
		if !strings.Contains(logs.stdout, "served-by-compose") {
			t.Errorf("the client did not reach web by its service name:\n%s", logs)
		}
		if body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", port), 10*time.Second); err != nil || body != "served-by-compose\n" {
			t.Errorf("web's published port served %q (%v)", body, err)
		}
		if nets := a.mustDocker(t, "ps", "--format", "{{.Names}} {{.Networks}}").stdout; !strings.Contains(nets, "proj_web_1 proj_appnet") {
			t.Errorf("docker ps does not show web on the file's network:\n%s", nets)
		}
		ps := run("ps")
		if strings.Count(ps.stdout, " Up ") < 2 {
			t.Errorf("docker-compose ps does not show both services up:\n%s", ps)
		}
		if names := s.psNames(t); strings.Join(sortedCopy(names), " ") != "proj_client_1 proj_web_1" {
			t.Errorf("sandbox ps -a lists %q, want compose's two containers", names)
		}
		wantCode(t, run("down", "-v"), 0)
		if names := s.psNames(t); len(names) != 0 {
			t.Errorf("after down -v, sandbox ps -a lists %q", names)
		}
		wantStdout(t, s.must(t, "volume", "ls", "-q"), "")
		wantStdout(t, s.must(t, "network", "ls", "-q"), "")
		// Attached: compose follows the output and the container's end
		// through attach and events.
		u.mustWrite(t, filepath.Join(dir, "docker-compose.yml"), "version: \"3.7\"\nservices:\n  one:\n    image: bb\n    command: sh -c 'echo from-one; sleep 0.5; echo bye; exit 0'\n", 0o644)
		up := run("up")
		wantCode(t, up, 0)
		if !strings.Contains(up.stdout, "from-one") || !strings.Contains(up.stdout, "bye") || !strings.Contains(up.stdout, "exited with code 0") {
			t.Errorf("docker-compose up (attached) did not show the output and the end:\n%s", up)
		}
		wantCode(t, run("down"), 0)

		ours := func(p procInfo) bool {
			return p.comm == "sandbox-init" || p.comm == "sandbox-bridge" || isHelperComm(p.comm)
		}
		waitFor(5*time.Second, func() bool { return len(userProcs(u, ours)) == 0 })
		if left := userProcs(u, ours); len(left) > 0 {
			t.Errorf("processes left after down -v: %+v", left)
		}
	})
}

func lookPath(name string) (string, error) {
	for _, dir := range []string{"/usr/bin", "/usr/local/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", os.ErrNotExist
}

// TestAPIService: only the user who runs the service is served; --time
// ends it after that long without a request, never during one; killing
// it stops no container.
func TestAPIService(t *testing.T) {
	needDocker(t)
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "api-svc")

		// Another uid (root here, whom the socket's mode does not stop) is
		// refused by the service itself.
		a := startService(t, s, "svc-"+u.mode, 0)
		if os.Getuid() != int(u.uid) {
			c, err := net.Dial("unix", a.sock)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("uid %d was answered %v (%v), want 403", os.Getuid(), resp, err)
			} else {
				body, _ := io.ReadAll(resp.Body)
				if !strings.Contains(string(body), "only the user who runs it") {
					t.Errorf("the refusal says %q", body)
				}
			}
			c.Close()
		}

		// The service starts a detached container itself (its init is the
		// service's child, no monitor in between), keeps no thread for
		// each one that runs, and reaps those that end, and the monitors
		// it starts for others ("netted": a private network) once they
		// end.
		threads := func() int {
			entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", a.p.pid))
			return len(entries)
		}
		// (Docker's default network is a private one, whose helper needs a
		// monitor: these have the host's.)
		a.mustDocker(t, "run", "-d", "--network", "host", "--name", "warm", "bb", "true")
		before := threads()
		const many = 6
		for i := 0; i < many; i++ {
			// Each with a health checker, another child of the service.
			a.mustDocker(t, "run", "-d", "--network", "host", "--health-cmd", "true", "--health-interval", "1s",
				"--name", fmt.Sprintf("many%d", i), "bb", "sleep", "100")
		}
		a.mustDocker(t, "run", "-d", "--name", "netted", "bb", "sleep", "100")
		// The service's children but its API program, which lasts as
		// long as it does.
		var monitors []int
		for _, p := range childrenOf(a.p.pid) {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p)); strings.TrimSpace(string(comm)) != "sandbox-api" {
				monitors = append(monitors, p)
			}
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(s.must(t, "inspect", "--format", "{{.State.Pid}}", "many0").stdout))
		if ppid := parentOf(pid); ppid != a.p.pid {
			t.Errorf("the init of a container the service started has parent %d, not the service (%d)", ppid, a.p.pid)
		}
		if after := threads(); after >= before+many {
			t.Errorf("the service has %d threads with %d more containers running, %d before: one for each", after, many, before)
		}
		for i := 0; i < many; i++ {
			s.must(t, "kill", fmt.Sprintf("many%d", i))
		}
		s.must(t, "kill", "netted")
		// Every child the service had (inits, netted's monitor) ends, and
		// none stays a zombie.
		if !waitFor(10*time.Second, func() bool {
			for _, p := range monitors {
				if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); err == nil {
					return false
				}
			}
			return len(zombiesOf(a.p.pid)) == 0
		}) {
			t.Errorf("the service's children that ended stay unreaped (zombies %v; its children before: %v)", zombiesOf(a.p.pid), monitors)
		}
		for i := 0; i < many; i++ {
			s.must(t, "rm", "-f", fmt.Sprintf("many%d", i))
		}
		s.must(t, "rm", "-f", "warm", "netted")

		// Killing the service stops no container.
		a.mustDocker(t, "run", "-d", "--name", "kept", "bb", "sleep", "100")
		syscall.Kill(a.p.pid, syscall.SIGKILL)
		<-a.p.done
		if st := s.must(t, "inspect", "--format", "{{.State.Status}}", "kept").stdout; st != "running\n" {
			t.Errorf("after the service was killed, kept is %q", st)
		}
		s.must(t, "rm", "-f", "kept")

		// --time 2: alive while a request streams (logs -f for longer than
		// that), gone once it has been idle.
		b := startService(t, s, "idle-"+u.mode, 2)
		s.mustID(t, "run", "-d", "--name", "talker", "bb", "sh", "-c", "for i in 1 2 3 4 5 6; do echo $i; sleep 0.5; done")
		r := b.docker(t, "logs", "-f", "talker")
		wantCode(t, r, 0)
		if !strings.Contains(r.stdout, "6") {
			t.Errorf("logs -f through an idle-timed service was cut short:\n%s", r)
		}
		select {
		case <-b.p.done:
			t.Errorf("the service exited during a 3-second request, with --time 2")
		default:
		}
		b.waitIdleExit(t, "its last request")
		if _, err := os.Stat(b.sock); err == nil {
			t.Errorf("the idle service left its socket %s", b.sock)
		}

		// A logs -f whose client went away ends with it: the service goes
		// idle while the container still runs and prints.
		c := startService(t, s, "gone-"+u.mode, 2)
		s.mustID(t, "run", "-d", "--name", "chatter", "bb", "sh", "-c", "while true; do echo x; sleep 0.1; done")
		follower := s.u.startWith(t, c.clientOpts(dockerCLI), "logs", "-f", "chatter")
		time.Sleep(time.Second)
		follower.kill()
		<-follower.done
		c.waitIdleExit(t, "its logs -f client was killed")
		if st := s.must(t, "inspect", "--format", "{{.State.Status}}", "chatter").stdout; st != "running\n" {
			t.Errorf("chatter is %q after its logs client went", st)
		}
		s.must(t, "rm", "-f", "chatter")
	})
}

// TestAPISocketActivation: systemd-socket-activate holds the socket and
// starts the service on the first connection, as a systemd user socket
// unit would; the service takes the socket it is given and, with --time,
// exits once idle.
func TestAPISocketActivation(t *testing.T) {
	needDocker(t)
	activate, err := lookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate is not installed (package systemd; .ci/run installs it)")
	}
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "api-act")
		sock := filepath.Join(u.home, "api-act-"+u.mode+".sock")
		o := s.opts
		o.bin = activate
		act := u.startWith(t, o, "-l", sock, sandboxBin, "system", "service", "--time", "1")
		waitFor(5*time.Second, func() bool { _, err := os.Stat(sock); return err == nil })
		a := &apiService{s: s, sock: sock, p: act}
		r := a.docker(t, "version", "--format", "{{.Server.APIVersion}}")
		wantCode(t, r, 0)
		wantStdout(t, r, "1.41\n")
		select {
		case <-act.done:
			if !strings.Contains(act.res.stderr, "serving the Docker API 1.41 on the socket systemd passed") {
				t.Errorf("the activated service said:\n%s", act.res)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("the activated service with --time 1 still runs 30 s after its request")
		}
	})
}

// parentOf is pid's parent pid (0 when it is gone).
func parentOf(pid int) int {
	p, _ := readProc(pid)
	return p.ppid
}

// childrenOf lists the children of pid.
func childrenOf(pid int) []int {
	var out []int
	for _, p := range listProcs() {
		if p.ppid == pid {
			out = append(out, p.pid)
		}
	}
	return out
}

// zombiesOf lists the zombie children of pid.
func zombiesOf(pid int) []int {
	var out []int
	for _, p := range listProcs() {
		if p.ppid == pid && p.state == 'Z' {
			out = append(out, p.pid)
		}
	}
	return out
}
