package tests

// kube generate (issue 14): the YAML decodes strictly into the Kubernetes
// API types, round-trips, and says what the container sandbox makes from
// the same launch would run.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/sandbox-dev/sandbox/container"
	"github.com/sandbox-dev/sandbox/network"
)

// decodePod decodes YAML strictly and checks that it round-trips.
func decodePod(t *testing.T, y string) corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict([]byte(y), &pod); err != nil {
		t.Fatalf("strict decoding into a Pod: %v\n%s", err, y)
	}
	again, err := yaml.Marshal(&pod)
	if err != nil {
		t.Fatal(err)
	}
	var back corev1.Pod
	if err := yaml.UnmarshalStrict(again, &back); err != nil || !reflect.DeepEqual(back, pod) {
		t.Fatalf("the pod does not round-trip (%v):\n%s\n---\n%s", err, y, again)
	}
	return pod
}

// inspectConfig is a container's configuration as `inspect` shows it.
func (s *store) inspectConfig(t *testing.T, ref string) container.Config {
	t.Helper()
	var out []struct{ Config container.Config }
	if err := json.Unmarshal([]byte(s.must(t, "inspect", ref).stdout), &out); err != nil || len(out) != 1 {
		t.Fatalf("inspect %s: %v", ref, err)
	}
	return out[0].Config
}

// wantSameApp checks that k says what cfg runs: image, command, env,
// working directory, user, mounts, ports, limits, restart policy.
func wantSameApp(t *testing.T, pod corev1.Pod, k corev1.Container, cfg container.Config) {
	t.Helper()
	if k.Image != cfg.Image {
		t.Errorf("image %q, the container's is %q", k.Image, cfg.Image)
	}
	if cfg.EntrypointSet && !slices.Equal(k.Command, cfg.Entrypoint) || !cfg.EntrypointSet && k.Command != nil {
		t.Errorf("command %q, the container's entrypoint %q (set %v)", k.Command, cfg.Entrypoint, cfg.EntrypointSet)
	}
	if !slices.Equal(k.Args, cfg.Cmd) {
		t.Errorf("args %q, the container's command %q", k.Args, cfg.Cmd)
	}
	var env []string
	for _, e := range k.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	if !slices.Equal(env, cfg.Env) {
		t.Errorf("env %q, the container's %q", env, cfg.Env)
	}
	if k.WorkingDir != cfg.Workdir {
		t.Errorf("workingDir %q, the container's %q", k.WorkingDir, cfg.Workdir)
	}
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	if len(k.VolumeMounts) != len(cfg.Volumes) {
		t.Fatalf("%d volume mounts, the container has %d: %+v", len(k.VolumeMounts), len(cfg.Volumes), k.VolumeMounts)
	}
	for i, m := range k.VolumeMounts {
		want := cfg.Volumes[i]
		v := vols[m.Name]
		got := "?"
		switch {
		case v.HostPath != nil:
			got = "bind " + v.HostPath.Path
		case v.EmptyDir != nil:
			got = "tmpfs "
		}
		src := want.Source
		if want.Type == "tmpfs" {
			src = ""
		}
		if got != want.Type+" "+src || m.MountPath != want.Target || m.ReadOnly != want.ReadOnly {
			t.Errorf("volume mount %+v (%s), the container's %+v", m, got, want)
		}
	}
	ports, err := network.ParsePorts(cfg.Ports)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Ports) != len(ports) {
		t.Fatalf("ports %+v, the container's %+v", k.Ports, ports)
	}
	for i, p := range ports {
		got := k.Ports[i]
		if int(got.ContainerPort) != p.ContainerPort || int(got.HostPort) != p.HostPort || got.HostIP != p.HostIP || strings.ToLower(string(got.Protocol)) != p.Proto {
			t.Errorf("port %+v, the container's %+v", got, p)
		}
	}
	if m := cfg.Resources.Memory; m > 0 && k.Resources.Limits.Memory().Value() != m {
		t.Errorf("memory limit %v, the container's %d", k.Resources.Limits.Memory(), m)
	}
	if c := cfg.Resources.CPUs; c > 0 && k.Resources.Limits.Cpu().MilliValue() != int64(c*1000+0.5) {
		t.Errorf("cpu limit %v, the container's %v", k.Resources.Limits.Cpu(), c)
	}
	wantRestart := map[string]corev1.RestartPolicy{"": "Never", "no": "Never", "on-failure": "OnFailure", "always": "Always"}[cfg.Restart]
	if pod.Spec.RestartPolicy != wantRestart {
		t.Errorf("restartPolicy %q, the container's restart %q", pod.Spec.RestartPolicy, cfg.Restart)
	}
	ro := k.SecurityContext != nil && k.SecurityContext.ReadOnlyRootFilesystem != nil && *k.SecurityContext.ReadOnlyRootFilesystem
	if ro != cfg.ReadOnly {
		t.Errorf("readOnlyRootFilesystem %v, the container's read_only %v", ro, cfg.ReadOnly)
	}
}

// TestKubeGenerateExamples: the YAML of each launch file in examples/
// says what `create` of the same file makes.
func TestKubeGenerateExamples(t *testing.T) {
	examples, err := filepath.Glob(filepath.Join("..", "examples", "*", "*.toml"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	forEachUser(t, func(t *testing.T, u *user) {
		s, conf := u.launchStore(t, "kube")
		// Limits are compared, not enforced: this host may lack cgroup v2.
		u.mustWrite(t, conf, "cgroups = \"best-effort\"\n", 0o644)
		for _, ex := range examples {
			name := filepath.Base(filepath.Dir(ex))
			file := filepath.Join(u.copyExample(t, name), filepath.Base(ex))
			r := s.must(t, "kube", "generate", "--config", file)
			pod := decodePod(t, r.stdout)
			if len(pod.Spec.Containers) != 1 {
				t.Fatalf("%s: %d containers", name, len(pod.Spec.Containers))
			}
			id := s.mustID(t, "create", "--config", file)
			cfg := s.inspectConfig(t, id)
			// A file that names no container gets its base name, as up
			// gives it.
			want := cfg.Name
			if want == "" {
				want = strings.TrimSuffix(filepath.Base(ex), ".toml")
			}
			if pod.Name != want+"-pod" || pod.Spec.Containers[0].Name != want {
				t.Errorf("%s: pod %q container %q, want %q", name, pod.Name, pod.Spec.Containers[0].Name, want)
			}
			t.Run(name, func(t *testing.T) { wantSameApp(t, pod, pod.Spec.Containers[0], cfg) })
			if cfg.Resources.Pids > 0 && !strings.Contains(r.stderr, "pids limit") {
				t.Errorf("%s: a pids limit with no note:\n%s", name, r)
			}
			s.must(t, "rm", id)
		}
	})
}

// TestKubeGenerateContainers: containers become one pod holding them all;
// --type, -f and bad input.
func TestKubeGenerateContainers(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s, conf := u.launchStore(t, "kubectr")
		u.mustWrite(t, conf, "cgroups = \"best-effort\"\n", 0o644)
		data := u.mustMkdir(t, filepath.Join(u.home, "kube-data"))
		s.must(t, "create", "--name", "web", "-e", "A=1", "-e", "B=two words", "-w", "/srv",
			"-v", data+":/data:ro", "--restart", "always", "--memory", "64m", "busybox", "httpd", "-f")
		s.must(t, "create", "--name", "side", "--entrypoint", "/bin/sh", "busybox", "-c", "sleep 1")
		r := s.must(t, "kube", "generate", "web", "side")
		pod := decodePod(t, r.stdout)
		if pod.Name != "web-pod" || len(pod.Spec.Containers) != 2 {
			t.Fatalf("pod %q with %d containers:\n%s", pod.Name, len(pod.Spec.Containers), r.stdout)
		}
		wantSameApp(t, pod, pod.Spec.Containers[0], s.inspectConfig(t, "web"))
		side := pod.Spec.Containers[1]
		if side.Name != "side" || !slices.Equal(side.Command, []string{"/bin/sh"}) || !slices.Equal(side.Args, []string{"-c", "sleep 1"}) {
			t.Errorf("second container %+v", side)
		}

		out := filepath.Join(u.home, "web.yaml")
		s.must(t, "kube", "generate", "--type", "deployment", "-f", out, "web")
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		y := string(b)
		if !strings.Contains(y, "kind: Deployment") || !strings.Contains(y, "replicas: 1") {
			t.Errorf("--type deployment -f wrote:\n%s", y)
		}
		for _, bad := range []struct {
			args []string
			want string
		}{
			{[]string{"kube", "generate", "--type", "cronjob", "web"}, "valid types are pod, deployment, job"},
			{[]string{"kube", "generate"}, "needs a CONTAINER or --config FILE"},
			{[]string{"kube", "generate", "nosuch"}, "nosuch"},
			{[]string{"kube", "generate", "--config", filepath.Join(u.home, "none.toml")}, "none.toml"},
		} {
			r := s.do(t, bad.args...)
			wantCode(t, r, 125)
			if !strings.Contains(r.stderr, bad.want) {
				t.Errorf("%v: stderr lacks %q:\n%s", bad.args, bad.want, r)
			}
		}
	})
}

// lineOf is the 1-based line of the first line of text that contains s.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("no line has %q", s)
	return 0
}

// TestKubePlay: a Deployment and its ConfigMap, written by hand, serve the
// ConfigMap's file through a published port; the fields sandbox cannot
// honour are listed with their lines; kube down leaves nothing.
func TestKubePlay(t *testing.T) {
	tmpl, err := os.ReadFile(filepath.Join("testdata", "kube-web.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	forEachUser(t, func(t *testing.T, u *user) {
		netHelpers(t) // the pod gets a network of its own
		s, conf := u.launchStore(t, "kubeplay")
		u.mustWrite(t, conf, "cgroups = \"best-effort\"\n", 0o644)
		port := freePort(t)
		text := strings.ReplaceAll(string(tmpl), "HOSTPORT", strconv.Itoa(port))
		file := u.mustWrite(t, filepath.Join(u.home, "web.yaml"), text, 0o644)

		r := s.must(t, "kube", "play", file)
		for _, f := range []struct{ field, line string }{
			{"spec.template.spec.nodeSelector", "nodeSelector:"},
			{"spec.template.spec.containers[].livenessProbe", "livenessProbe:"},
			{"spec.template.spec.containers[].resources.requests", "requests:"},
		} {
			want := fmt.Sprintf("%s:%d: %s (Deployment/web) is not honoured", file, lineOf(t, text, f.line), f.field)
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
		}
		body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/index.html", port), 15*time.Second)
		if err != nil || body != "<h1>hello from a ConfigMap</h1>\n" {
			t.Errorf("served %q (%v), want the ConfigMap's index.html", body, err)
		}
		r = s.must(t, "exec", "web-httpd", "sh", "-c", `echo "$GREETING $MODE"`)
		wantStdout(t, r, "bonjour production\n")

		r = s.must(t, "kube", "down", file)
		wantStdout(t, r, "web-httpd\n")
		if r := s.must(t, "ps", "-aq"); r.stdout != "" {
			t.Errorf("containers left after kube down: %q", r.stdout)
		}
		if left := dirEntries(t, filepath.Join(s.root, "kube")); len(left) > 0 {
			t.Errorf("kube down left the pods' volumes: %v", left)
		}
		wantCode(t, s.do(t, "kube", "down", file), 125)

		// Refused before anything is made.
		for _, bad := range []struct{ yaml, want string }{
			{"apiVersion: v1\nkind: Pod\nmetadata: {name: two}\nspec:\n  containers:\n  - {name: a, image: busybox, args: [sleep, '100']}\n  - {name: b}\n", "image"},
			{"apiVersion: v1\nkind: Pod\nmetadata: {name: nocmd}\nspec:\n  containers:\n  - {name: a, image: busybox, args: [sleep, '100']}\n  - {name: b, image: busybox}\n", "no command given"},
			{"apiVersion: v1\nkind: Pod\nmetadata: {name: typo}\nspec:\n  containers:\n  - {name: a, image: busybox, comand: [true]}\n", `line 6: spec.containers[].comand: unknown field`},
			{"apiVersion: v1\nkind: Service\nmetadata: {name: svc}\n", `kind "Service"`},
			// A member takes no limits yet: refused before the pod is made.
			{"apiVersion: v1\nkind: Pod\nmetadata: {name: lim}\nspec:\n  containers:\n  - {name: a, image: busybox, args: [sleep, '100'], resources: {limits: {memory: 64Mi}}}\n  - {name: b, image: busybox, args: [sleep, '100']}\n", "lim-a: --pod lim: limits on a member of a pod are not supported yet"},
		} {
			f := u.mustWrite(t, filepath.Join(u.home, "bad.yaml"), bad.yaml, 0o644)
			r := s.do(t, "kube", "play", f)
			wantCode(t, r, 125)
			if !strings.Contains(r.stderr, bad.want) {
				t.Errorf("stderr lacks %q:\n%s", bad.want, r)
			}
			if r.stdout != "" {
				t.Errorf("a refused play printed what it made: %q", r.stdout)
			}
			if r := s.must(t, "ps", "-aq"); r.stdout != "" {
				t.Errorf("a refused play made containers: %q", r.stdout)
			}
		}
	})
}

// TestKubePlayRoundTrip: kube play of what kube generate writes for each
// example makes the container `create` makes of the launch file: same
// command, env, mounts, ports and the rest, field by field.
func TestKubePlayRoundTrip(t *testing.T) {
	examples, _ := filepath.Glob(filepath.Join("..", "examples", "*", "*.toml"))
	forEachUser(t, func(t *testing.T, u *user) {
		s, conf := u.launchStore(t, "kuberound")
		u.mustWrite(t, conf, "cgroups = \"best-effort\"\n", 0o644)
		for _, ex := range examples {
			name := filepath.Base(filepath.Dir(ex))
			file := filepath.Join(u.copyExample(t, name), filepath.Base(ex))
			yamlFile := filepath.Join(u.home, name+".yaml")
			r := s.must(t, "kube", "generate", "--config", file, "-f", yamlFile)
			id := s.mustID(t, "create", "--config", file)
			want := s.inspectConfig(t, id)
			r = s.must(t, "kube", "play", "--start=false", yamlFile)
			if strings.Contains(r.stderr, "not honoured") {
				t.Errorf("%s: play of generate's own YAML lists fields:\n%s", name, r.stderr)
			}
			got := s.inspectConfig(t, strings.TrimSpace(r.stdout))
			t.Run(name, func(t *testing.T) {
				if want.Network == "none" {
					want.Network = "slirp" // noted by generate: a pod always has a network
				}
				// What differs by design: the name (POD-CONTAINER), and
				// the file that made it.
				got.Name, want.Name = "", ""
				got.LaunchFile, want.LaunchFile = "", ""
				got.Detach, want.Detach = false, false // play runs pods detached
				gb, _ := json.MarshalIndent(got, "", "  ")
				wb, _ := json.MarshalIndent(want, "", "  ")
				if string(gb) != string(wb) {
					t.Errorf("kube play made:\n%s\ncreate --config made:\n%s", gb, wb)
				}
			})
			s.must(t, "kube", "down", yamlFile)
			s.must(t, "rm", id)
		}
	})
}

// TestKubeNamedVolume: a named volume goes to Kubernetes as a
// persistentVolumeClaim of its name, and kube play makes it that named
// volume again, with its data: not a hostPath named after the volume, as
// generate wrote until December 8.
func TestKubeNamedVolume(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s, conf := u.launchStore(t, "kubevol")
		u.mustWrite(t, conf, "cgroups = \"best-effort\"\n", 0o644)
		s.must(t, "run", "--rm", "-v", "kdata:/data", "busybox", "sh", "-c", "echo kept > /data/f")
		id := s.mustID(t, "create", "--name", "reader", "-v", "kdata:/data:ro", "busybox", "cat", "/data/f")
		yamlFile := filepath.Join(u.home, "reader.yaml")
		s.must(t, "kube", "generate", "-f", yamlFile, "reader")
		b, err := os.ReadFile(yamlFile)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "claimName: kdata") || strings.Contains(string(b), "hostPath") {
			t.Errorf("the named volume is not the claim kdata:\n%s", b)
		}
		want := s.inspectConfig(t, id).Volumes
		s.must(t, "rm", id)
		r := s.must(t, "kube", "play", "--start=false", yamlFile)
		if strings.Contains(r.stderr, "not honoured") {
			t.Errorf("play of generate's own YAML lists fields:\n%s", r.stderr)
		}
		played := strings.TrimSpace(r.stdout)
		if got := s.inspectConfig(t, played).Volumes; !reflect.DeepEqual(got, want) {
			t.Errorf("kube play's volumes %+v, the container's were %+v", got, want)
		}
		// Run as the pod runs it: the volume's data is there.
		s.must(t, "kube", "down", yamlFile)
		played = strings.TrimSpace(s.must(t, "kube", "play", yamlFile).stdout)
		if !waitFor(10*time.Second, func() bool { return s.do(t, "logs", played).stdout == "kept\n" }) {
			t.Errorf("the played container's output is %q, want the volume's file; ps -a:\n%s", s.do(t, "logs", played), s.do(t, "ps", "-a").stdout)
		}
		s.must(t, "kube", "down", yamlFile)
		wantStdout(t, s.must(t, "volume", "ls", "-q"), "kdata\n")
	})
}
