package container

import (
	"reflect"
	"testing"

	"github.com/sandbox-dev/sandbox/config"
	"github.com/sandbox-dev/sandbox/runtime"
)

// TestKubeLeftOut: what Kubernetes cannot carry is named by its launch
// key, each a key there is, and a container that sets none names none;
// user-defined networks go as such, the pod on a network of its own.
func TestKubeLeftOut(t *testing.T) {
	cfg := Config{Image: "bb", Network: "backend,front", Labels: []string{"a=b"}, Ulimits: []string{"nofile=10"},
		Sysctls: []string{"net.ipv4.ip_forward=1"}, Health: &runtime.HealthCheck{}, GroupAdd: []string{"10"},
		ShmSize: 1 << 20, UserNS: "keep-id", NetworkAliases: []string{"x"}, Privileged: true}
	p, err := KubePod("p", []Config{cfg}, []string{"c"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"group_add", "health_cmd", "labels", "network_aliases", "privileged", "shm_size", "sysctls", "ulimits", "userns"}
	if got := p.Containers[0].LeftOut; !reflect.DeepEqual(got, want) {
		t.Errorf("left out %v, want %v", got, want)
	}
	for _, key := range want {
		if config.Lookup(key) == nil {
			t.Errorf("%q is not a launch key", key)
		}
	}
	if p.Network != "slirp" || !reflect.DeepEqual(p.Networks, []string{"backend", "front"}) {
		t.Errorf("network %q, networks %v", p.Network, p.Networks)
	}
	p, err = KubePod("p", []Config{{Image: "bb"}}, []string{"c"})
	if err != nil || len(p.Containers[0].LeftOut) != 0 || len(p.Networks) != 0 {
		t.Errorf("a plain container: left out %v, networks %v, %v", p.Containers[0].LeftOut, p.Networks, err)
	}
}
