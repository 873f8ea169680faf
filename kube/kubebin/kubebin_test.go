package kubebin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/program/programtest"
)

// TestBlobMatchesSource: a change to the kube program's source (or to
// package kube) without `go generate ./kube/kubebin` fails here.
func TestBlobMatchesSource(t *testing.T) {
	programtest.CheckBlob(t, programtest.Blob{Package: "../../cmd/sandbox-kube", Program: gzipped, Gzipped: true,
		Digest: Digest, GoVersion: GoVersion, Generate: "go generate ./kube/kubebin"})
}

// TestRunGenerate runs the embedded program on a small pod.
func TestRunGenerate(t *testing.T) {
	if len(gzipped) == 0 {
		t.Skip("no kube program for this architecture")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o700) // a runtime directory only the user can enter
	// An older version's copy goes when this one is installed.
	if err := os.WriteFile(filepath.Join(dir, "helper-0000000000000000"), []byte("x"), 0o500); err != nil {
		t.Fatal(err)
	}
	out, notes, err := Run(dir, []string{"generate", "--type", "pod"}, []byte(`{"name":"web","containers":[{"name":"web","image":"busybox","args":["httpd","-f"],"pids":10}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind: Pod", "name: web", "image: busybox", "- httpd"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "pids") {
		t.Errorf("notes = %q, want one about the pids limit", notes)
	}
	installed, _ := filepath.Glob(filepath.Join(dir, "helper-*"))
	if len(installed) != 1 || !strings.HasSuffix(installed[0], strings.TrimSpace(Digest)[:16]) {
		t.Errorf("installed helpers: %q, want this version's alone", installed)
	}
	// Without a directory: from a memfd, each time.
	if _, _, err := Run("", []string{"generate", "--type", "cronjob"}, []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "valid types are pod, deployment, job") {
		t.Errorf("an unknown type: %v", err)
	}
}

// TestCLIStaysLight: the sandbox binary itself never links the Kubernetes
// API types (10 MB, 2 ms of package initialisation at every start) nor the
// CDI library; only the helper program does.
func TestCLIStaysLight(t *testing.T) {
	programtest.CheckCLIStaysLight(t, func(p string) bool {
		return strings.HasPrefix(p, "k8s.io/") || strings.HasPrefix(p, "sigs.k8s.io/") || strings.HasPrefix(p, "tags.cncf.io/")
	}, "the Kubernetes types and the CDI library", "cmd/sandbox-kube")
}
