package main

import (
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/sandbox-dev/sandbox/kube"
)

func fullPod() kube.Pod {
	timeout, yes := 7, true
	return kube.Pod{
		Name: "web-pod", Restart: "on-failure", Hostname: "web", Network: "slirp",
		AddHosts: []string{"db:10.0.0.5", "cache:10.0.0.5", "gw:host-gateway"},
		Containers: []kube.Container{{
			Name: "web_1", Image: "busybox", Command: []string{"/bin/sh", "-c"}, CommandSet: true, Args: []string{"httpd -f"},
			Env:     []kube.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "x=y"}},
			Workdir: "/srv", User: "1000:100", ReadOnly: true,
			Ports: []kube.Port{{ContainerPort: 80, HostPort: 8080, HostIP: "127.0.0.1", Protocol: "tcp"}, {ContainerPort: 53, Protocol: "udp"}},
			Mounts: []kube.Mount{
				{Type: "bind", Source: "/home/u/www", Target: "/www", ReadOnly: true},
				{Type: "tmpfs", Target: "/tmp", Size: 64 << 20},
				{Type: "bind", Source: "/home/u/other", Target: "/www/"},
				{Type: "volume", Source: "data", Target: "/data", ReadOnly: true},
			},
			Memory: 256 << 20, CPUs: 1.5, Pids: 100, MemorySwap: 512 << 20, IOLimits: 1,
			CapAdd: []string{"CAP_NET_ADMIN"}, CapDrop: []string{"all"}, NoNewPrivileges: &yes,
			Seccomp: "unconfined", StopTimeout: &timeout, Devices: []string{"/dev/fuse", "/dev/zero:/dev/z"},
		}},
	}
}

// TestGeneratePod: every field of a container lands where docs/kube.md
// says, the YAML decodes strictly into the API types, and what cannot be
// said is noted.
func TestGeneratePod(t *testing.T) {
	p := fullPod()
	p.Networks = []string{"backend"}
	p.Containers[0].LeftOut = []string{"labels", "ulimits"}
	out, notes, err := generate(p, "pod")
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := yaml.UnmarshalStrict(out, &pod); err != nil {
		t.Fatalf("strict decoding: %v\n%s", err, out)
	}
	if pod.Kind != "Pod" || pod.APIVersion != "v1" || pod.Name != "web-pod" {
		t.Errorf("object %s/%s %q", pod.APIVersion, pod.Kind, pod.Name)
	}
	s := pod.Spec
	if s.RestartPolicy != corev1.RestartPolicyOnFailure || s.Hostname != "web" || s.HostNetwork {
		t.Errorf("restart %q, hostname %q, hostNetwork %v", s.RestartPolicy, s.Hostname, s.HostNetwork)
	}
	if s.TerminationGracePeriodSeconds == nil || *s.TerminationGracePeriodSeconds != 7 {
		t.Errorf("terminationGracePeriodSeconds = %v, want 7", s.TerminationGracePeriodSeconds)
	}
	if want := []corev1.HostAlias{{IP: "10.0.0.5", Hostnames: []string{"db", "cache"}}}; !reflect.DeepEqual(s.HostAliases, want) {
		t.Errorf("hostAliases = %+v", s.HostAliases)
	}
	c := s.Containers[0]
	if c.Name != "web-1" || c.Image != "busybox" || c.WorkingDir != "/srv" {
		t.Errorf("container %q image %q workdir %q", c.Name, c.Image, c.WorkingDir)
	}
	if !reflect.DeepEqual(c.Command, []string{"/bin/sh", "-c"}) || !reflect.DeepEqual(c.Args, []string{"httpd -f"}) {
		t.Errorf("command %q args %q", c.Command, c.Args)
	}
	if want := []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "x=y"}}; !reflect.DeepEqual(c.Env, want) {
		t.Errorf("env = %+v", c.Env)
	}
	if len(c.Ports) != 2 || c.Ports[0] != (corev1.ContainerPort{ContainerPort: 80, HostPort: 8080, HostIP: "127.0.0.1", Protocol: "TCP"}) || c.Ports[1].Protocol != "UDP" || c.Ports[1].HostPort != 0 {
		t.Errorf("ports = %+v", c.Ports)
	}
	if len(s.Volumes) != 4 || len(c.VolumeMounts) != 4 {
		t.Fatalf("volumes %+v mounts %+v", s.Volumes, c.VolumeMounts)
	}
	if v := s.Volumes[0]; v.Name != "www-host" || v.HostPath == nil || v.HostPath.Path != "/home/u/www" || !c.VolumeMounts[0].ReadOnly || c.VolumeMounts[0].MountPath != "/www" {
		t.Errorf("bind volume %+v mount %+v", v, c.VolumeMounts[0])
	}
	if v := s.Volumes[1]; v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory || v.EmptyDir.SizeLimit.Value() != 64<<20 {
		t.Errorf("tmpfs volume %+v", v)
	}
	if s.Volumes[2].Name != "www-host-1" {
		t.Errorf("a second volume at the same place is named %q, want www-host-1", s.Volumes[2].Name)
	}
	if v := s.Volumes[3]; v.Name != "data-pvc" || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "data" || v.HostPath != nil || !c.VolumeMounts[3].ReadOnly {
		t.Errorf("named volume %+v mount %+v, want the claim data", v, c.VolumeMounts[3])
	}
	if c.Resources.Limits.Memory().Value() != 256<<20 || c.Resources.Limits.Cpu().MilliValue() != 1500 {
		t.Errorf("limits = %v", c.Resources.Limits)
	}
	sc := c.SecurityContext
	if sc == nil || sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Add, []corev1.Capability{"NET_ADMIN"}) || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Fatalf("capabilities = %+v", sc)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.SeccompProfile.Type != corev1.SeccompProfileTypeUnconfined ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || *sc.RunAsUser != 1000 || *sc.RunAsGroup != 100 {
		t.Errorf("securityContext = %+v", sc)
	}
	if pod.Annotations["pids-limit.sandbox.dev/web-1"] != "100" {
		t.Errorf("annotations = %v", pod.Annotations)
	}
	joined := strings.Join(notes, "\n")
	if pod.Annotations["devices.sandbox.dev/web-1"] != "/dev/fuse,/dev/zero:/dev/z" {
		t.Errorf("devices annotation = %q", pod.Annotations["devices.sandbox.dev/web-1"])
	}
	for _, want := range []string{"host-gateway", "pids limit", "memory_swap", "I/O limits", "devices have no Kubernetes field",
		"network backend: a user-defined network", "web-1: labels has no Kubernetes field", "web-1: ulimits has no Kubernetes field"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no note says %q:\n%s", want, joined)
		}
	}
	// Round trip: what the YAML decodes to encodes to the same YAML.
	again, err := yaml.Marshal(&pod)
	if err != nil || string(append([]byte(header), again...)) != string(out) {
		t.Errorf("the pod does not round-trip:\n%s\n---\n%s", out, again)
	}
}

// TestGenerateKinds: a Deployment of one replica that always restarts, and
// a Job that never restarts unless asked to on failure.
func TestGenerateKinds(t *testing.T) {
	p := fullPod()
	out, notes, err := generate(p, "deployment")
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(out, &d); err != nil {
		t.Fatalf("strict decoding: %v", err)
	}
	if d.Kind != "Deployment" || *d.Spec.Replicas != 1 || d.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways ||
		!reflect.DeepEqual(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("deployment %+v", d.Spec)
	}
	if !strings.Contains(strings.Join(notes, "\n"), "always restart") {
		t.Errorf("no note on the restart policy: %q", notes)
	}
	p.Restart = ""
	out, _, err = generate(p, "job")
	if err != nil {
		t.Fatal(err)
	}
	var j batchv1.Job
	if err := yaml.UnmarshalStrict(out, &j); err != nil {
		t.Fatalf("strict decoding: %v", err)
	}
	if j.Kind != "Job" || j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("job %+v", j.Spec.Template.Spec.RestartPolicy)
	}
	p.Network = "host"
	out, _, _ = generate(p, "pod")
	var pod corev1.Pod
	yaml.UnmarshalStrict(out, &pod)
	if !pod.Spec.HostNetwork {
		t.Error("the host's network is not hostNetwork")
	}
}
