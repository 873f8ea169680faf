package tests

// Private networks (issue 7): --net slirp through pasta or slirp4netns,
// published tcp and udp ports, the host's loopback reachable from inside,
// resolv.conf and hosts, a published port already in use, and the helper
// ending with the sandbox whatever ends it. All traffic stays on the
// host's loopback or inside the sandbox's own namespace.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helpers are the network helpers installed here: each test runs once
// per helper (forced with --net pasta / --net slirp4netns), so that both
// are tested wherever both are installed (CI installs both).
func netHelpers(t *testing.T) []string {
	t.Helper()
	var hs []string
	for _, h := range []string{"pasta", "slirp4netns"} {
		if _, err := exec.LookPath(h); err == nil {
			hs = append(hs, h)
		}
	}
	if len(hs) == 0 {
		t.Skip("neither pasta (package passt) nor slirp4netns is installed")
	}
	if why := tunUnusable(); why != "" {
		t.Skip(why)
	}
	return hs
}

// tunUnusable says why the test users cannot open /dev/net/tun, which
// both helpers need (Debian's udev makes it 0666; a machine without udev
// leaves it 0600).
func tunUnusable() string {
	st, err := os.Stat("/dev/net/tun")
	if err != nil {
		return fmt.Sprintf("no /dev/net/tun: %v", err)
	}
	if os.Getuid() == 0 && st.Mode().Perm()&0o006 != 0o006 {
		return "/dev/net/tun is not read-write for other users (chmod 0666 /dev/net/tun, as udev does; .ci/run does)"
	}
	return ""
}

// forEachHelper runs fn per installed helper as subtests of each user.
func forEachHelper(t *testing.T, fn func(t *testing.T, u *user, helper string)) {
	helpers := netHelpers(t)
	forEachUser(t, func(t *testing.T, u *user) {
		for _, h := range helpers {
			t.Run(h, func(t *testing.T) { fn(t, u, h) })
		}
	})
}

// netprobe builds tests/testdata/netprobe (a static UDP echo and TCP sink:
// busybox's nc has no UDP) next to the sandbox binary.
func netprobe(t *testing.T) string { return testProgram(t, "netprobe") }

// netInspect is what the tests read of inspect's network part.
type netInspect struct {
	State struct {
		Pid int
	}
	NetworkSettings struct {
		IPAddress string
		Gateway   string
		Helper    string
		HelperPid int
		Ports     map[string][]struct{ HostIp, HostPort string }
	}
}

func (s *store) netInspect(t *testing.T, ref string) netInspect {
	t.Helper()
	r := s.must(t, "inspect", ref)
	var out []netInspect
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 {
		t.Fatalf("inspect %s is not a JSON array of one object (%v):\n%s", ref, err, r)
	}
	return out[0]
}

// helperProc returns the running container's network helper, checking
// that it is the helper asked for and a process of the user.
func (s *store) helperProc(t *testing.T, ref, helper string) procInfo {
	t.Helper()
	ni := s.netInspect(t, ref)
	p, ok := readProc(ni.NetworkSettings.HelperPid)
	if ni.NetworkSettings.Helper != helper || !ok || !isHelperComm(p.comm) || p.uid != s.u.uid {
		t.Fatalf("inspect says the helper is %q, pid %d; that process is %q (uid %d), want %s of uid %d",
			ni.NetworkSettings.Helper, ni.NetworkSettings.HelperPid, p.comm, p.uid, helper, s.u.uid)
	}
	return p
}

// helpersOf lists the user's live helper processes whose command line
// names the container (its runtime directory, for the pid file or the API
// socket).
func (s *store) helpersOf(id string) []procInfo {
	return userProcs(s.u, func(p procInfo) bool {
		return (isHelperComm(p.comm)) && strings.Contains(p.cmdline, id[:16])
	})
}

// isHelperComm recognizes a helper by its process name: pasta re-executes
// itself as passt.avx2 on CPUs that have AVX2.
func isHelperComm(comm string) bool {
	return comm == "slirp4netns" || strings.HasPrefix(comm, "pasta") || strings.HasPrefix(comm, "passt")
}

// portFree reports whether the host port can be bound again.
func portFree(proto string, port int) bool {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if proto == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	l, err := net.Listen("tcp", addr)
	if err == nil {
		l.Close()
	}
	return err == nil
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// httpGet fetches url until it answers 200 or timeout passes.
func httpGet(url string, timeout time.Duration) (string, error) {
	var body []byte
	var getErr error
	waitFor(timeout, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			getErr = err
			return false
		}
		defer resp.Body.Close()
		body, getErr = io.ReadAll(resp.Body)
		if getErr == nil && resp.StatusCode != 200 {
			getErr = fmt.Errorf("status %s", resp.Status)
		}
		return getErr == nil
	})
	return string(body), getErr
}

// TestNetworkPublishTCP: busybox httpd in a private network serves a page
// through a published port; `port`, `ps` and inspect show the mapping;
// after rm -f the port is free and no helper is left.
func TestNetworkPublishTCP(t *testing.T) {
	forEachHelper(t, func(t *testing.T, u *user, helper string) {
		s := u.lcStore(t, "net-tcp-"+helper)
		www := u.mustMkdir(t, filepath.Join(u.home, "www-"+helper))
		page := fmt.Sprintf("served through %s for %s\n", helper, u.mode)
		u.mustWrite(t, filepath.Join(www, "index.html"), page, 0o644)
		port := freePort(t)
		id := s.mustID(t, "run", "-d", "--name", "web", "--net", helper,
			"-p", fmt.Sprintf("127.0.0.1:%d:8000", port), "-v", www+":/www:ro",
			"bb", "httpd", "-f", "-p", "8000", "-h", "/www")

		url := fmt.Sprintf("http://127.0.0.1:%d/", port)
		body, err := httpGet(url, 10*time.Second)
		if err != nil || body != page {
			t.Fatalf("GET %s = %q, %v; want %q\nlogs:\n%s", url, body, err, page, s.do(t, "logs", "web"))
		}

		wantStdout(t, s.must(t, "port", "web"), fmt.Sprintf("8000/tcp -> 127.0.0.1:%d\n", port))
		wantStdout(t, s.must(t, "port", "web", "8000/tcp"), fmt.Sprintf("127.0.0.1:%d\n", port))
		wantStdout(t, s.must(t, "port", "--format", "{{.HostIP}} {{.HostPort}} {{.ContainerPort}}/{{.Protocol}}", "web"), fmt.Sprintf("127.0.0.1 %d 8000/tcp\n", port))
		wantStdout(t, s.must(t, "port", "--format", "json", "web", "8000"), fmt.Sprintf("[\n    {\n        \"ContainerPort\": 8000,\n        \"Protocol\": \"tcp\",\n        \"HostIP\": \"127.0.0.1\",\n        \"HostPort\": %d\n    }\n]\n", port))
		if row, ok := s.psRow(t, "web"); !ok || row.ports != fmt.Sprintf("127.0.0.1:%d->8000/tcp", port) {
			t.Errorf("ps PORTS of web = %q, want 127.0.0.1:%d->8000/tcp", row.ports, port)
		}
		ni := s.netInspect(t, "web")
		if b := ni.NetworkSettings.Ports["8000/tcp"]; len(b) != 1 || b[0].HostIp != "127.0.0.1" || b[0].HostPort != strconv.Itoa(port) {
			t.Errorf("inspect NetworkSettings.Ports = %+v", ni.NetworkSettings.Ports)
		}
		helperP := s.helperProc(t, "web", helper)

		s.must(t, "rm", "-f", "web")
		if alive(helperP) {
			t.Errorf("%s (pid %d) still runs after rm -f", helper, helperP.pid)
		}
		if left := s.helpersOf(id); len(left) > 0 {
			t.Errorf("helpers of the removed container still run: %+v", left)
		}
		if !portFree("tcp", port) {
			t.Errorf("port %d is still bound after rm -f", port)
		}
		if _, err := http.Get(url); err == nil {
			t.Errorf("%s still answers after rm -f", url)
		}
	})
}

// TestNetworkInside: the sandbox has its own interface with the private
// address; a TCP server on the host's 127.0.0.1 answers through the
// helper's host-loopback address, by its name in /etc/hosts (busybox
// wget's -T crashes it: timeout bounds it instead);
// resolv.conf points at the helper's DNS forwarder; --dns, --add-host and
// --hostname land in the files.
func TestNetworkInside(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello from the host's loopback")
	})}
	go srv.Serve(l)
	// Cleanup, not defer: the users' subtests run in parallel, after this
	// function has returned.
	t.Cleanup(func() { srv.Close() })
	hostPort := l.Addr().(*net.TCPAddr).Port

	forEachHelper(t, func(t *testing.T, u *user, helper string) {
		s := u.lcStore(t, "net-in-"+helper)
		script := fmt.Sprintf(`ip -o -4 addr show; ip route; timeout 10 wget -q -O- http://host.containers.internal:%d/; echo; echo ==; cat /etc/resolv.conf; echo ==; cat /etc/hosts`, hostPort)
		r := s.must(t, "run", "--rm", "--net", helper, "bb", "sh", "-c", script)
		out := r.stdout
		var iface string
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) >= 4 && f[2] == "inet" && f[3] == "10.0.2.100/24" {
				iface = f[1]
			}
		}
		if iface == "" || iface == "lo" {
			t.Fatalf("no non-loopback interface with 10.0.2.100/24:\n%s", r)
		}
		if !strings.Contains(out, "default via 10.0.2.2") {
			t.Errorf("no default route through 10.0.2.2:\n%s", r)
		}
		if !strings.Contains(out, "hello from the host's loopback") {
			t.Errorf("the host's 127.0.0.1:%d did not answer through host.containers.internal:\n%s", hostPort, r)
		}
		parts := strings.Split(out, "==\n")
		if len(parts) != 3 {
			t.Fatalf("unexpected output:\n%s", r)
		}
		if resolv := parts[1]; !strings.Contains(resolv, "nameserver 10.0.2.3\n") || strings.Count(resolv, "nameserver") != 1 {
			t.Errorf("resolv.conf should name only the helper's forwarder 10.0.2.3:\n%s", resolv)
		}
		if hosts := parts[2]; !strings.Contains(hosts, "10.0.2.2\thost.containers.internal\n") {
			t.Errorf("hosts lacks host.containers.internal:\n%s", hosts)
		}

		r = s.must(t, "run", "--rm", "--net", helper, "--hostname", "box", "--dns", "192.0.2.53",
			"--add-host", "db:192.0.2.10", "--add-host", "hostside:host-gateway",
			"bb", "sh", "-c", "cat /etc/resolv.conf; echo ==; cat /etc/hosts; echo ==; hostname")
		parts = strings.Split(r.stdout, "==\n")
		if len(parts) != 3 {
			t.Fatalf("unexpected output:\n%s", r)
		}
		if !strings.Contains(parts[0], "nameserver 192.0.2.53\n") || strings.Contains(parts[0], "10.0.2.3") {
			t.Errorf("--dns 192.0.2.53 should replace the nameserver:\n%s", parts[0])
		}
		for _, want := range []string{"10.0.2.100\tbox\n", "192.0.2.10\tdb\n", "10.0.2.2\thostside\n"} {
			if !strings.Contains(parts[1], want) {
				t.Errorf("hosts lacks %q:\n%s", want, parts[1])
			}
		}
		if parts[2] != "box\n" {
			t.Errorf("hostname = %q, want box", parts[2])
		}
	})
}

// TestNetworkPublishUDP: datagrams sent to a published udp port arrive
// inside (the container logs them) and the echo comes back.
func TestNetworkPublishUDP(t *testing.T) {
	forEachHelper(t, func(t *testing.T, u *user, helper string) {
		s := u.lcStore(t, "net-udp-"+helper)
		port := freeUDPPort(t)
		s.mustID(t, "run", "-d", "--name", "echo", "--net", helper,
			"-p", fmt.Sprintf("127.0.0.1:%d:9000/udp", port), "-v", netprobe(t)+":/probe:ro",
			"bb", "/probe", "udp-echo", "9000")
		wantStdout(t, s.must(t, "port", "echo"), fmt.Sprintf("9000/udp -> 127.0.0.1:%d\n", port))

		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		msg := fmt.Sprintf("datagram-%d", time.Now().UnixNano())
		// UDP may be dropped until the listener inside is up: resend until
		// the container logs it.
		var logs result
		echoed := false
		ok := waitFor(10*time.Second, func() bool {
			c.Write([]byte(msg))
			c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			buf := make([]byte, 256)
			if n, err := c.Read(buf); err == nil && string(buf[:n]) == msg {
				echoed = true
			}
			logs = s.do(t, "logs", "echo")
			return strings.Contains(logs.stdout, "got: "+msg+"\n")
		})
		if !ok {
			t.Fatalf("the datagram %q sent to udp port %d never arrived inside:\n%s", msg, port, logs)
		}
		if !echoed {
			// The listener is up now: one more datagram, and up to 2 s
			// for its echo (earlier echoes may come first).
			c.Write([]byte(msg))
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 256)
			for !echoed {
				n, err := c.Read(buf)
				if err != nil {
					break
				}
				echoed = string(buf[:n]) == msg
			}
		}
		// slirp4netns brings the echo back; the pasta of Debian 12
		// (2023-03-09) does not for a datagram from the host's loopback,
		// which is why --net slirp picks slirp4netns for such ports.
		// Said for pasta, required of slirp4netns.
		t.Logf("%s: the echo came back to the host: %v", helper, echoed)
		if helper == "slirp4netns" && !echoed {
			t.Errorf("slirp4netns did not bring the echo of %q back", msg)
		}
		s.must(t, "rm", "-f", "echo")
		if !portFree("udp", port) {
			t.Errorf("udp port %d is still bound after rm -f", port)
		}
	})
}

// TestNetworkPortInUse: a published port something holds is refused with
// 125 naming it, and nothing is left: no container, no helper. `start` of
// a created container refuses it too.
func TestNetworkPortInUse(t *testing.T) {
	forEachHelper(t, func(t *testing.T, u *user, helper string) {
		s := u.lcStore(t, "net-busy-"+helper)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		port := l.Addr().(*net.TCPAddr).Port
		want := fmt.Sprintf("port 127.0.0.1:%d/tcp is already in use", port)

		for _, args := range [][]string{
			{"run", "--rm", "--net", helper, "-p", fmt.Sprintf("%d:80", port), "bb", "true"},
			{"run", "-d", "--name", "busy", "--net", helper, "-p", "127.0.0.1:" + strconv.Itoa(port) + ":80", "bb", "sleep", "100"},
		} {
			r := s.do(t, args...)
			wantCode(t, r, 125)
			wantStderrContains(t, r, want)
		}
		if n := len(s.psJSON(t)); n != 0 {
			t.Errorf("after the refused runs ps -a lists %d containers, want none", n)
		}
		if left := userProcs(u, func(p procInfo) bool { return isHelperComm(p.comm) }); len(left) > 0 {
			t.Errorf("a %s process runs after the refused runs: %+v", helper, left)
		}

		s.mustID(t, "create", "--name", "later", "--net", helper, "-p", fmt.Sprintf("%d:80/tcp", port), "bb", "true")
		r := s.do(t, "start", "-a", "later")
		wantCode(t, r, 125)
		wantStderrContains(t, r, want)
		if st := s.inspect(t, "later").State.Status; st == "running" {
			t.Errorf("later is %s after its start was refused", st)
		}
	})
}

// TestNetworkHelperEndsWithSandbox: SIGKILL of a detached sandbox's init
// ends its helper within 2 s; SIGKILL of the CLI running a foreground
// sandbox ends both the init and the helper.
func TestNetworkHelperEndsWithSandbox(t *testing.T) {
	forEachHelper(t, func(t *testing.T, u *user, helper string) {
		s := u.lcStore(t, "net-kill-"+helper)
		id := s.mustID(t, "run", "-d", "--name", "victim", "--net", helper, "-p", fmt.Sprintf("127.0.0.1:%d:80", freePort(t)), "bb", "sleep", "1000")
		init := s.initOf(t, id)
		helperP := s.helperProc(t, "victim", helper)
		killed := time.Now()
		syscall.Kill(init.pid, syscall.SIGKILL)
		if !waitFor(2*time.Second, func() bool { return !alive(helperP) }) {
			t.Fatalf("%s (pid %d) still runs 2 s after the init was killed", helper, helperP.pid)
		}
		t.Logf("%s ended %v after the init's SIGKILL", helper, time.Since(killed).Round(time.Millisecond))
		if _, ok := s.waitPS(t, "victim", "Exited (137)", 10*time.Second); !ok {
			t.Errorf("victim is not Exited (137) after its init was killed")
		}

		// The watcher of a detached sandbox is its helper's parent too:
		// killed, it takes the init and the helper along.
		id = s.mustID(t, "run", "-d", "--name", "watched", "--net", helper, "bb", "sleep", "1000")
		init = s.initOf(t, id)
		helperP = s.helperProc(t, "watched", helper)
		if helperP.ppid != init.ppid {
			t.Errorf("the helper's parent is pid %d, the init's %d: want the same (the watcher)", helperP.ppid, init.ppid)
		}
		syscall.Kill(init.ppid, syscall.SIGKILL)
		if !waitFor(2*time.Second, func() bool { return !alive(helperP) && !alive(init) }) {
			t.Fatalf("2 s after SIGKILL of the watcher: helper alive %v, init alive %v", alive(helperP), alive(init))
		}
		if _, ok := s.waitPS(t, "watched", "Exited", 10*time.Second); !ok {
			t.Errorf("watched is not Exited after its watcher was killed")
		}

		p := u.startWith(t, s.opts, "run", "--name", "fg", "--net", helper, "bb", "sleep", "1000")
		defer p.kill()
		var fgID string
		if !waitFor(10*time.Second, func() bool {
			r := s.do(t, "inspect", "fg")
			if r.code != 0 {
				return false
			}
			var out []struct {
				Id              string
				NetworkSettings struct{ HelperPid int }
			}
			json.Unmarshal([]byte(r.stdout), &out)
			if len(out) == 1 && out[0].NetworkSettings.HelperPid > 0 {
				fgID = out[0].Id
				return true
			}
			return false
		}) {
			t.Fatalf("the foreground sandbox never reported its helper")
		}
		fgInit := s.initOf(t, fgID)
		fgHelper := s.helperProc(t, "fg", helper)
		syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
		if !waitFor(2*time.Second, func() bool { return !alive(fgHelper) && !alive(fgInit) }) {
			t.Fatalf("2 s after SIGKILL of the CLI: helper alive %v, init alive %v", alive(fgHelper), alive(fgInit))
		}
	})
}

// TestNetworkNoHelper: without pasta and slirp4netns, --net slirp is 125
// naming the packages, and nothing is created; `info` says which helper
// --net slirp uses, or that none is there.
func TestNetworkNoHelper(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "net-none")
		o := s.opts
		o.env = append(append([]string{}, o.env...), "PATH="+fakeHelperPath(t, u, "none", ""))
		r := s.u.runWith(t, o, "run", "--rm", "--net", "slirp", "-p", "8080:80", "bb", "true")
		wantCode(t, r, 125)
		for _, want := range []string{"pasta", "passt", "slirp4netns", "--net host"} {
			wantStderrContains(t, r, want)
		}
		r = s.u.runWith(t, o, "info")
		wantCode(t, r, 0)
		wantStdoutContains(t, r, "pasta: not installed")
		wantStdoutContains(t, r, "--net slirp: unavailable")
		if h, err := exec.LookPath("pasta"); err == nil {
			r = s.must(t, "info")
			wantStdoutContains(t, r, "pasta: "+h)
			wantStdoutContains(t, r, "--net slirp: uses pasta")
		}
		if n := len(s.psJSON(t)); n != 0 {
			t.Errorf("ps -a lists %d containers after the refused run, want none", n)
		}
	})
}

// fakeHelperPath is a PATH holding the id-map helpers and, unless script
// is empty, a fake pasta running it: for the failure paths a real helper
// rarely takes, or for no helper at all.
func fakeHelperPath(t *testing.T, u *user, name, script string) string {
	t.Helper()
	bin := u.mustMkdir(t, filepath.Join(u.home, "path-"+name))
	for _, tool := range []string{"newuidmap", "newgidmap", "fuse-overlayfs"} {
		if p, err := exec.LookPath(tool); err == nil {
			os.Symlink(p, filepath.Join(bin, tool))
		}
	}
	if script != "" {
		u.mustWrite(t, filepath.Join(bin, "pasta"), "#!/bin/sh\n"+script, 0o755)
	}
	return bin
}

// TestNetworkHelperFails: a helper that fails before the network is up
// makes the run exit 125 with the helper's own message, and the payload
// never runs.
func TestNetworkHelperFails(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "net-fail")
		o := s.opts
		o.env = append(append([]string{}, o.env...), "PATH="+fakeHelperPath(t, u, "fail", "echo 'Failed to open tun socket: boom' >&2\nexit 1\n"))
		marker := filepath.Join(u.home, "payload-ran")
		r := s.u.runWith(t, o, "run", "--rm", "--net", "pasta", "-v", u.home+":/h", "bb", "touch", "/h/payload-ran")
		wantCode(t, r, 125)
		wantStderrContains(t, r, "Failed to open tun socket: boom")
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("the payload ran although the network never came up")
		}
	})
}

// TestNetworkInterruptWhileConnecting: ^C (SIGINT to the CLI) while the
// helper is still starting ends the run at once with 130, and the helper
// with it.
func TestNetworkInterruptWhileConnecting(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "net-int")
		o := s.opts
		o.env = append(append([]string{}, o.env...), "PATH="+fakeHelperPath(t, u, "slow", "exec /bin/sleep 1000\n"))
		p := u.startWith(t, o, "run", "--rm", "--net", "pasta", "bb", "true")
		defer p.kill()
		var fake []procInfo
		if !waitFor(10*time.Second, func() bool {
			fake = userProcs(u, func(q procInfo) bool { return q.cmdline == "/bin/sleep 1000" && descendantOf(q.pid, p.pid) })
			return len(fake) == 1
		}) {
			t.Fatalf("the fake helper never started")
		}
		// The init must be waiting for its network: before its Go runtime
		// has installed handlers, a signal to a namespace's PID 1 is lost
		// on the kernel's protection of it and Go exits 2.
		initWaiting := func() bool {
			for _, q := range listProcs() {
				if q.comm == "sandbox-init" && descendantOf(q.pid, p.pid) && blockedReadingFD(q.pid, 4) {
					return true
				}
			}
			return false
		}
		if !waitFor(3*time.Second, initWaiting) {
			t.Logf("cannot see the init block on fd 4 (no access to /proc/PID/syscall?): waiting a second instead")
			time.Sleep(time.Second)
		}
		sent := time.Now()
		syscall.Kill(p.pid, syscall.SIGINT)
		r, ok := p.wait(10 * time.Second)
		if !ok {
			t.Fatalf("the run did not end after SIGINT")
		}
		t.Logf("ended %v after SIGINT", time.Since(sent).Round(time.Millisecond))
		wantCode(t, r, 130)
		if alive(fake[0]) {
			t.Errorf("the helper (pid %d) outlived the interrupted run", fake[0].pid)
		}
	})
}

// blockedReadingFD reports whether a thread of pid sits in read(fd)
// (/proc/PID/task/TID/syscall: "0 0xFD ..." on x86-64; readable by root).
func blockedReadingFD(pid, fd int) bool {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/syscall", pid, task.Name()))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 1 && f[0] == "0" && f[1] == fmt.Sprintf("0x%x", fd) {
			return true
		}
	}
	return false
}

// TestNetworkWithTerminal: -it and a private network together (the
// network is connected before the init sends the pty master).
func TestNetworkWithTerminal(t *testing.T) {
	netHelpers(t)
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)
		master, slave := openPTY(t)
		shown := readTerminal(master)
		cli := u.startWith(t, runOpts{tty: slave}, "run", "--rm", "-it", "--net", "slirp", bb, "sh", "-c", "tty; ip -4 addr show eth0")
		slave.Close()
		r, ok := cli.wait(defaultTimeout)
		screen := shown()
		if !ok || r.code != 0 {
			t.Fatalf("run -it --net slirp: exit %d (finished %v); the terminal showed %q", r.code, ok, screen)
		}
		for _, want := range []string{"/dev/pts/0", "inet 10.0.2.100/24"} {
			if !strings.Contains(screen, want) {
				t.Errorf("the terminal lacks %q; it showed %q", want, screen)
			}
		}
	})
}
