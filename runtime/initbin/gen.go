//go:build ignore

// gen builds cmd/sandbox-init the one reproducible way: the embedded blob
// and the test that checks it (initbin_test.go) both run this.
//
//	go run gen.go [-o FILE]
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

func main() {
	out := flag.String("o", "sandbox-init.amd64", "output file")
	flag.Parse()
	// -trimpath and an empty build ID make the bytes depend only on the
	// source and the toolchain, not on where or when it was built.
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", *out, "../../cmd/sandbox-init")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1", "GOFLAGS=")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building sandbox-init:", err)
		os.Exit(1)
	}
	// The toolchain is part of the source: record it beside the blob.
	v, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "go env GOVERSION:", err)
		os.Exit(1)
	}
	ver := strings.TrimSpace(string(v))
	b, err := os.ReadFile(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The digest names the installed copy (runtime/initexe.go): computing
	// it at every start would cost milliseconds.
	sum := sha256.Sum256(b)
	for ext, content := range map[string]string{".goversion": ver, ".sha256": hex.EncodeToString(sum[:])} {
		if err := os.WriteFile(*out+ext, []byte(content+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
