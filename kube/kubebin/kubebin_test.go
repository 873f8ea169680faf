package kubebin

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestBlobMatchesSource rebuilds cmd/sandbox-kube exactly as go generate
// does and compares the program with the embedded one: a change to its
// source (or to package kube) without `go generate ./kube/kubebin` fails
// here.
func TestBlobMatchesSource(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the blob is built for linux/amd64 only")
	}
	have, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		t.Skipf("no go toolchain to rebuild the kube program with: %v", err)
	}
	if v := strings.TrimSpace(string(have)); v != strings.TrimSpace(GoVersion) {
		t.Skipf("the blob was built by %s, this toolchain is %s: the bytes can only match with the same one", strings.TrimSpace(GoVersion), v)
	}
	out := filepath.Join(t.TempDir(), "sandbox-kube.amd64")
	if msg, err := exec.Command("go", "run", "gen.go", "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("go run gen.go: %v\n%s", err, msg)
	}
	built, err := os.ReadFile(out + ".zst")
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	want, err := dec.DecodeAll(built, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dec.DecodeAll(compressed, nil)
	if err != nil {
		t.Fatalf("the embedded blob does not decompress: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the embedded kube program (%d bytes) is not what its source builds (%d bytes): run go generate ./kube/kubebin", len(got), len(want))
	}
	if sum, _ := os.ReadFile(out + ".sha256"); strings.TrimSpace(string(sum)) != strings.TrimSpace(Digest) {
		t.Fatalf("Digest %s is not the program's SHA-256 %s", strings.TrimSpace(Digest), sum)
	}
}

// TestRunGenerate runs the embedded program on a small pod.
func TestRunGenerate(t *testing.T) {
	if len(compressed) == 0 {
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
	out, err := exec.Command("go", "list", "-deps", "../..").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "k8s.io/") || strings.HasPrefix(p, "sigs.k8s.io/") || strings.HasPrefix(p, "tags.cncf.io/") {
			t.Errorf("the sandbox binary imports %s: keep the Kubernetes types and the CDI library in cmd/sandbox-kube", p)
		}
	}
}
