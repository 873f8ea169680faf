package tests

// Pods (issue 14): containers that share a network, its published ports,
// IPC and a hostname.

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// podRow is a row of `pod ps`.
func (s *store) podRow(t *testing.T, name string) []string {
	t.Helper()
	for _, line := range strings.Split(s.must(t, "pod", "ps").stdout, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 1 && f[1] == name {
			return f
		}
	}
	return nil
}

// TestPod: a pod of two busybox containers, one serving httpd on the
// pod's 127.0.0.1:8080, the other fetching it over localhost; the port
// published on the pod answers on the host; a member's init killed with
// SIGKILL shows in pod ps; pod rm -f leaves no process, helper or
// directory.
func TestPod(t *testing.T) {
	netHelpers(t)
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "pod")
		www := u.mustMkdir(t, filepath.Join(u.home, "pod-www"))
		page := "served in a pod for " + u.mode + "\n"
		u.mustWrite(t, filepath.Join(www, "index.html"), page, 0o644)
		port := freePort(t)

		infra := s.mustID(t, "pod", "create", "--name", "app", "-p", fmt.Sprintf("127.0.0.1:%d:8080", port))
		s.mustID(t, "run", "-d", "--pod", "app", "--name", "web", "-v", www+":/www:ro", "bb", "httpd", "-f", "-p", "127.0.0.1:8080", "-h", "/www")

		// The sidecar reaches the web server on the pod's localhost (the
		// server may take a moment to listen).
		var r result
		waitFor(10*time.Second, func() bool {
			r = s.do(t, "run", "--rm", "--pod", "app", "bb", "wget", "-qO-", "http://127.0.0.1:8080/")
			return r.code == 0
		})
		wantCode(t, r, 0)
		wantStdout(t, r, page)
		// Same hostname, same network: the pod's.
		h1 := s.must(t, "exec", "web", "hostname").stdout
		h2 := s.must(t, "run", "--rm", "--pod", "app", "bb", "hostname").stdout
		if h1 != h2 || h1 != infra[:12]+"\n" {
			t.Errorf("hostnames %q and %q, want the pod's %q", h1, h2, infra[:12])
		}
		// The host reaches the pod's published port.
		body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", port), 10*time.Second)
		if err != nil || body != page {
			t.Errorf("the pod's published port served %q (%v), want %q", body, err, page)
		}
		if row := s.podRow(t, "app"); len(row) < 2 || row[0] != infra[:12] || row[2] != "Running" || row[len(row)-2] != "1" || row[len(row)-1] != "1" {
			t.Errorf("pod ps row = %q, want app Running with 1 container, 1 running", row)
		}

		// Members have nothing of the pod's to choose.
		for _, bad := range []struct {
			args []string
			want string
		}{
			{[]string{"run", "--pod", "app", "-p", "9000:9000", "bb", "true"}, "publish them with `sandbox pod create -p`"},
			{[]string{"run", "--pod", "app", "--hostname", "h", "bb", "true"}, "the hostname is the pod's"},
			{[]string{"run", "--pod", "nosuch", "bb", "true"}, `no such pod: "nosuch"`},
			{[]string{"exec", "app-infra", "true"}, "runs nothing to exec into"},
		} {
			r := s.do(t, bad.args...)
			wantCode(t, r, 125)
			if !strings.Contains(r.stderr, bad.want) {
				t.Errorf("%v: stderr lacks %q:\n%s", bad.args, bad.want, r)
			}
		}

		// A member's init killed: pod ps sees it.
		pid, _ := strconv.Atoi(strings.TrimSpace(s.must(t, "inspect", "--format", "{{.State.Pid}}", "web").stdout))
		if pid <= 0 {
			t.Fatalf("web's init pid %d", pid)
		}
		syscall.Kill(pid, syscall.SIGKILL)
		waitFor(5*time.Second, func() bool {
			row := s.podRow(t, "app")
			return len(row) > 1 && row[len(row)-1] == "0"
		})
		if row := s.podRow(t, "app"); len(row) < 2 || row[len(row)-1] != "0" {
			t.Errorf("after SIGKILL of web's init, pod ps row = %q, want 0 running", row)
		}

		// The infra's init killed: the pod and its members are exited, as
		// a container's state is after a SIGKILL.
		s.must(t, "pod", "start", "app")
		ipid, _ := strconv.Atoi(strings.TrimSpace(s.must(t, "inspect", "--format", "{{.State.Pid}}", "app-infra").stdout))
		if ipid <= 0 {
			t.Fatalf("the infra's init pid %d", ipid)
		}
		syscall.Kill(ipid, syscall.SIGKILL)
		waitFor(5*time.Second, func() bool {
			row := s.podRow(t, "app")
			return len(row) > 2 && row[2] == "Exited" && row[len(row)-1] == "0"
		})
		if row := s.podRow(t, "app"); len(row) < 3 || row[2] != "Exited" || row[len(row)-1] != "0" {
			t.Errorf("after SIGKILL of the infra's init, pod ps row = %q, want Exited with 0 running", row)
		}
		if st := s.must(t, "inspect", "--format", "{{.State.Status}}", "web").stdout; st != "exited\n" {
			t.Errorf("web is %q after its infra was killed", st)
		}

		// rm -f takes everything: containers, processes, helper, directories.
		s.must(t, "pod", "rm", "-f", "app")
		if r := s.must(t, "ps", "-aq"); r.stdout != "" {
			t.Errorf("containers left after pod rm -f: %q", r.stdout)
		}
		if row := s.podRow(t, "app"); row != nil {
			t.Errorf("pod ps still lists app: %q", row)
		}
		waitFor(5*time.Second, func() bool {
			return len(userProcs(u, func(p procInfo) bool {
				return p.comm == "sandbox-init" || isHelperComm(p.comm) || p.cmdline == "httpd -f -p 127.0.0.1:8080 -h /www"
			})) == 0
		})
		if left := userProcs(u, func(p procInfo) bool {
			return p.comm == "sandbox-init" || isHelperComm(p.comm) || strings.HasPrefix(p.cmdline, "httpd")
		}); len(left) > 0 {
			t.Errorf("processes left after pod rm -f: %+v", left)
		}
		if left := settledEntries(t, filepath.Join(s.root, "containers")); len(left) > 0 {
			t.Errorf("containers/ holds %v after pod rm -f", left)
		}
		if !portFree("tcp", port) {
			t.Errorf("the pod's port %d is still bound after pod rm -f", port)
		}
		wantCode(t, s.do(t, "pod", "rm", "app"), 125)
	})
}

// TestKubePod: kube generate of a pod writes one Pod holding its
// containers, with the pod's published port; kube play of that YAML makes
// a pod again whose members share localhost; kube down removes it all.
func TestKubePod(t *testing.T) {
	netHelpers(t)
	forEachUser(t, func(t *testing.T, u *user) {
		s, conf := u.launchStore(t, "kubepod")
		u.mustWrite(t, conf, "cgroups = \"best-effort\"\n", 0o644)
		port := freePort(t)
		s.mustID(t, "pod", "create", "--name", "app", "-p", fmt.Sprintf("127.0.0.1:%d:8080", port))
		s.mustID(t, "create", "--pod", "app", "--name", "web", "-e", "ROLE=web", "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc")
		s.mustID(t, "create", "--pod", "app", "--name", "side", "busybox", "sleep", "1000")
		r := s.must(t, "kube", "generate", "app")
		pod := decodePod(t, r.stdout)
		if pod.Name != "app" || len(pod.Spec.Containers) != 2 || pod.Spec.Containers[0].Name != "web" || pod.Spec.Containers[1].Name != "side" {
			t.Fatalf("pod %q with containers %+v", pod.Name, pod.Spec.Containers)
		}
		if p := pod.Spec.Containers[0].Ports; len(p) != 1 || int(p[0].HostPort) != port || p[0].ContainerPort != 8080 {
			t.Errorf("the pod's published port is %+v, want %d -> 8080", p, port)
		}
		yamlFile := u.mustWrite(t, filepath.Join(u.home, "app.yaml"), r.stdout, 0o644)
		s.must(t, "pod", "rm", "-f", "app")

		s.must(t, "kube", "play", yamlFile)
		r = s.must(t, "ps", "--pod", "--format", "{{.Names}} {{.PodName}}")
		for _, want := range []string{"app-web app", "app-side app", "app-infra app"} {
			if !strings.Contains(r.stdout, want+"\n") {
				t.Errorf("ps lacks %q:\n%s", want, r.stdout)
			}
		}
		var got result
		waitFor(10*time.Second, func() bool {
			got = s.do(t, "exec", "app-side", "wget", "-qO-", "http://127.0.0.1:8080/hostname")
			return got.code == 0
		})
		wantCode(t, got, 0)
		if body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/hostname", port), 10*time.Second); err != nil || body != got.stdout {
			t.Errorf("the pod's port served %q (%v), the sidecar got %q", body, err, got.stdout)
		}
		s.must(t, "kube", "down", yamlFile)
		if r := s.must(t, "ps", "-aq"); r.stdout != "" {
			t.Errorf("containers left after kube down: %q", r.stdout)
		}
		if row := s.podRow(t, "app"); row != nil {
			t.Errorf("pod left after kube down: %q", row)
		}
	})
}
