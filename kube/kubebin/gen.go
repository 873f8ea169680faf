//go:build ignore

// gen builds cmd/sandbox-kube the one reproducible way and compresses it:
// the embedded blob and the test that checks it (kubebin_test.go) both run
// this.
//
//	go run gen.go [-o FILE]   (FILE.zst, FILE.goversion, FILE.sha256)
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/klauspost/compress/zstd"
)

func main() {
	out := flag.String("o", "sandbox-kube.amd64", "output file, before .zst")
	flag.Parse()
	raw := *out + ".raw"
	defer os.Remove(raw)
	// -trimpath and an empty build ID make the bytes depend only on the
	// source and the toolchain, not on where or when it was built.
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", raw, "../../cmd/sandbox-kube")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1", "GOFLAGS=")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		die("building sandbox-kube: %v", err)
	}
	v, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		die("go env GOVERSION: %v", err)
	}
	b, err := os.ReadFile(raw)
	if err != nil {
		die("%v", err)
	}
	// One encoder thread: the same input always gives the same bytes.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		die("%v", err)
	}
	z := enc.EncodeAll(b, nil)
	sum := sha256.Sum256(b)
	for name, content := range map[string][]byte{
		*out + ".zst":       z,
		*out + ".goversion": []byte(strings.TrimSpace(string(v)) + "\n"),
		*out + ".sha256":    []byte(hex.EncodeToString(sum[:]) + "\n"),
	} {
		if err := os.WriteFile(name, content, 0o644); err != nil {
			die("%v", err)
		}
	}
}

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}
