package api

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	ctypes "github.com/moby/moby/api/types/container"
	ntypes "github.com/moby/moby/api/types/network"

	"github.com/sandbox-dev/sandbox/api/backend"
	"github.com/sandbox-dev/sandbox/api/calls"
	"github.com/sandbox-dev/sandbox/config"
)

func TestVersionLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		less bool
	}{{"1.24", "1.41", true}, {"1.41", "1.41", false}, {"1.9", "1.41", true}, {"1.41", "1.40", false}, {"2.0", "1.99", false}} {
		if got := versionLess(c.a, c.b); got != c.less {
			t.Errorf("versionLess(%s, %s) = %v", c.a, c.b, got)
		}
	}
}

func TestFilters(t *testing.T) {
	for _, raw := range []string{`{"label":{"a=b":true},"status":{"exited":true}}`, `{"label":["a=b"],"status":["exited"]}`} {
		r := httptest.NewRequest("GET", "/containers/json?filters="+raw, nil)
		got, err := filters(r)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(sortedStrings(got), " ") != "label=a=b status=exited" {
			t.Errorf("filters(%s) = %q", raw, got)
		}
	}
	r := httptest.NewRequest("GET", "/containers/json?filters=nonsense", nil)
	if _, err := filters(r); err == nil || status(err) != 400 {
		t.Errorf("bad filters: %v", err)
	}
}

func sortedStrings(in []string) []string { return slices.Sorted(slices.Values(in)) }

// appFrom is the launch layer the backend makes of a create request, after
// the request crossed as JSON, as it does to the store's process.
func appFrom(req ctypes.CreateRequest, name string) (*config.App, error) {
	cr, err := createRequest(req, name)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(cr)
	if err != nil {
		return nil, err
	}
	var crossed calls.CreateRequest
	if err := json.Unmarshal(b, &crossed); err != nil {
		return nil, err
	}
	return backend.Layer(crossed)
}

// A create request becomes the same launch values as the flags would;
// what sandbox cannot honour is refused by name.
func TestAppFromRequest(t *testing.T) {
	pids := int64(50)
	req := ctypes.CreateRequest{
		Config: &ctypes.Config{Image: "bb", Cmd: []string{"sh", "-c", "true"}, Env: []string{"A=1"}, Labels: map[string]string{"k": "v"}},
		HostConfig: &ctypes.HostConfig{NetworkMode: "app", Binds: []string{"data:/data:ro"}, AutoRemove: true,
			RestartPolicy: ctypes.RestartPolicy{Name: "unless-stopped"},
			Resources:     ctypes.Resources{Memory: 64 << 20, NanoCPUs: 1500000000, PidsLimit: &pids}},
		NetworkingConfig: &ntypes.NetworkingConfig{EndpointsConfig: map[string]*ntypes.EndpointSettings{"app": {Aliases: []string{"web"}}}},
	}
	a, err := appFrom(req, "/named")
	if err != nil {
		t.Fatal(err)
	}
	if a.Image != "bb" || a.Name != "named" || a.Network != "app" || strings.Join(a.NetworkAliases, ",") != "web" ||
		a.Env["A"] != "1" || a.Restart != "always" || a.Resources.Memory != 64<<20 || a.Resources.CPUs != 1.5 || a.Resources.Pids != 50 {
		t.Errorf("launch from the request: %+v", a)
	}
	if len(a.Mounts) != 1 || a.Mounts[0].Type != "volume" || a.Mounts[0].Source != "data" || !a.Mounts[0].ReadOnly || a.Sources["mount /data"] == "" {
		t.Errorf("mounts: %+v (sources %v)", a.Mounts, a.Sources)
	}

	req.HostConfig.CPUShares = 512
	req.HostConfig.Links = []string{"x:y"}
	_, err = appFrom(req, "")
	if err == nil || !strings.Contains(err.Error(), "CpuShares") || !strings.Contains(err.Error(), "Links") {
		t.Errorf("unsupported fields were not refused by name: %v", err)
	}
	req.HostConfig.CPUShares, req.HostConfig.Links = 0, nil
	req.HostConfig.NetworkMode = "bridge"
	req.NetworkingConfig = nil
	a, err = appFrom(req, "")
	if err != nil || a.Network != "slirp" {
		t.Errorf("Docker's bridge: network %q, %v; want slirp", a.Network, err)
	}
	req.Config.Labels = map[string]string{"=bad": "x"}
	if _, err := appFrom(req, ""); err == nil {
		t.Error("a label without a key passed its key's check")
	}
}

// A healthcheck's exec form becomes a shell command of its quoted words.
func TestHealthcheckExecForm(t *testing.T) {
	req := ctypes.CreateRequest{Config: &ctypes.Config{Image: "bb", Healthcheck: &ctypes.HealthConfig{Test: []string{"CMD", "test", "-e", "/it's"}, Interval: 2 * time.Second}}}
	a, err := appFrom(req, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := `'test' '-e' '/it'\''s'`; a.HealthCmd != want || a.HealthInterval != "2s" {
		t.Errorf("health_cmd %q, interval %q; want %q, 2s", a.HealthCmd, a.HealthInterval, want)
	}
}

// A published port without a host port gets a free one, as Docker's
// ephemeral ports; PublishAllPorts publishes every exposed port so.
func TestEphemeralPorts(t *testing.T) {
	p80, _ := ntypes.ParsePort("80/tcp")
	p53, _ := ntypes.ParsePort("53/udp")
	req := ctypes.CreateRequest{
		Config:     &ctypes.Config{Image: "bb", ExposedPorts: ntypes.PortSet{p80: {}, p53: {}}},
		HostConfig: &ctypes.HostConfig{PortBindings: ntypes.PortMap{p80: {{HostPort: ""}}}, PublishAllPorts: true},
	}
	a, err := appFrom(req, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Ports) != 2 {
		t.Fatalf("ports %q, want two", a.Ports)
	}
	for _, p := range a.Ports {
		host, rest, _ := strings.Cut(p, ":")
		if host == "" || host == "0" || (rest != "80/tcp" && rest != "53/udp") {
			t.Errorf("port %q: want a picked host port for 80/tcp and 53/udp", p)
		}
	}
}

// The die event waits while an attach stream is open, and for dieGrace
// after the last one ends, so a client that asks for the exit code when
// its stream ends has it before die (docker-compose's attached up).
func TestAttachDrained(t *testing.T) {
	var s Server
	if !s.attachDrained("c1", time.Now()) {
		t.Fatal("a container never attached to is not drained")
	}
	s.attachBegin("c1")
	s.attachBegin("c1")
	if s.attachDrained("c1", time.Now()) {
		t.Fatal("drained with two attach streams open")
	}
	s.attachEnd("c1")
	if s.attachDrained("c1", time.Now()) {
		t.Fatal("drained with one attach stream still open")
	}
	s.attachEnd("c1")
	if s.attachDrained("c1", time.Now()) {
		t.Fatal("drained at once after the last stream ended, before dieGrace")
	}
	if !s.attachDrained("c1", time.Now().Add(dieGrace)) {
		t.Fatal("not drained dieGrace after the last stream ended")
	}
	if !s.attachDrained("c2", time.Now()) || !s.attachDrained("c1", time.Now()) {
		t.Fatal("drained containers must stay drained")
	}
}
