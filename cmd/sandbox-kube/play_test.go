package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestPlayRoundTrip: play of what generate writes gives back the pod,
// limits kept as annotations included.
func TestPlayRoundTrip(t *testing.T) {
	p := fullPod()
	p.AddHosts = p.AddHosts[:2] // host-gateway cannot go through Kubernetes
	p.Containers[0].Name = "web-1"
	p.Containers[0].CapAdd, p.Containers[0].CapDrop = []string{"NET_ADMIN"}, []string{"ALL"}
	p.Containers[0].IOLimits = 0
	for _, kind := range []string{"pod", "deployment", "job"} {
		out, _, err := generate(p, kind)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := play(out)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if len(plan.Unsupported) > 0 {
			t.Errorf("%s: play of generate's YAML lists %+v", kind, plan.Unsupported)
		}
		got := plan.Pods[0]
		want := p
		want.Kind = kind
		switch kind {
		case "deployment":
			want.Restart = "always"
		case "job":
			want.Restart = "on-failure"
		}
		// A tmpfs without a target's name is named by play after its
		// volume; generate names volumes after targets.
		for i := range got.Containers[0].Mounts {
			got.Containers[0].Mounts[i].Volume = ""
		}
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Errorf("%s: round trip gave\n%s\nwant\n%s", kind, gb, wb)
		}
	}
}

// TestPlayHandWritten: the hand-written Deployment of the integration
// test: ConfigMap values in env and as files, unsupported fields with
// their lines.
func TestPlayHandWritten(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "tests", "testdata", "kube-web.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "HOSTPORT", "8080")
	plan, err := play([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	c := plan.Pods[0].Containers[0]
	if plan.Pods[0].Kind != "deployment" || plan.Pods[0].Network != "slirp" {
		t.Errorf("pod %+v", plan.Pods[0])
	}
	if len(c.Env) != 2 || c.Env[0].Value != "bonjour" || c.Env[1].Value != "production" {
		t.Errorf("env %+v", c.Env)
	}
	if len(c.Mounts) != 1 || c.Mounts[0].Type != "files" || !reflect.DeepEqual(c.Mounts[0].Files, map[string]string{"index.html": "<h1>hello from a ConfigMap</h1>\n"}) {
		t.Errorf("mounts %+v", c.Mounts)
	}
	var fields []string
	for _, u := range plan.Unsupported {
		line := strings.Split(text, "\n")[u.Line-1]
		if !strings.Contains(line, u.Field[strings.LastIndex(u.Field, ".")+1:]+":") {
			t.Errorf("%s is reported at line %d: %q", u.Field, u.Line, line)
		}
		fields = append(fields, u.Field)
	}
	want := []string{"spec.template.spec.nodeSelector", "spec.template.spec.containers[].livenessProbe", "spec.template.spec.containers[].resources.requests"}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("unsupported = %q, want %q", fields, want)
	}
}
