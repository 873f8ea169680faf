// Command gen builds one of the programs sandbox carries, the one
// reproducible way: the go:generate step of each blob package and the
// test that checks the blob (programtest.CheckBlob) both run it.
//
//	go run ../../program/gen [-gzip] -o FILE PACKAGE
//
// writes FILE (or FILE.gz, compressed), FILE.goversion (the toolchain,
// which is part of the source: another one builds other bytes) and
// FILE.sha256 (the digest of the program, uncompressed, which names its
// installed copy: computing it at every start would cost milliseconds).
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// entryDirective names a program's ELF entry point, in a line of one of
// its main package's files: "//sandbox:entry SYMBOL". The init's is the
// idle stage's (package idle), which starts the Go runtime itself unless
// it is to run without it.
const entryDirective = "//sandbox:entry "

// entry is the symbol the program in dir names as its entry, or "" for
// the linker's own.
func entry(dir string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", err
	}
	sym := ""
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, entryDirective); ok {
				if sym != "" {
					return "", fmt.Errorf("%s names its entry twice", dir)
				}
				sym = strings.TrimSpace(v)
			}
		}
	}
	return sym, nil
}

func main() {
	out := flag.String("o", "", "output file (before .gz)")
	compress := flag.Bool("gzip", false, "write FILE.gz, compressed, instead of FILE")
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		die("usage: gen [-gzip] -o FILE PACKAGE")
	}
	raw := *out
	if *compress {
		raw = *out + ".raw"
		defer os.Remove(raw)
	}
	// -trimpath and an empty build ID make the bytes depend only on the
	// source and the toolchain, not on where or when it was built.
	ldflags := "-s -w -buildid="
	sym, err := entry(flag.Arg(0))
	if err != nil {
		die("%v", err)
	}
	if sym != "" {
		ldflags += " -E " + sym
	}
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags="+ldflags, "-o", raw, flag.Arg(0))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1", "GOFLAGS=")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		die("building %s: %v", flag.Arg(0), err)
	}
	v, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		die("go env GOVERSION: %v", err)
	}
	b, err := os.ReadFile(raw)
	if err != nil {
		die("%v", err)
	}
	sum := sha256.Sum256(b)
	files := map[string][]byte{
		*out + ".goversion": []byte(strings.TrimSpace(string(v)) + "\n"),
		*out + ".sha256":    []byte(hex.EncodeToString(sum[:]) + "\n"),
	}
	if *compress {
		files[*out+".gz"] = gzipped(b)
	}
	for name, content := range files {
		if err := os.WriteFile(name, content, 0o644); err != nil {
			die("%v", err)
		}
	}
}

// gzipped is b compressed as program.Blob decompresses it: the standard
// library's gzip at its best compression, with a header that names no
// file and no time (gzip.Writer's zero Header), so the bytes depend only
// on b and the Go version.
func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		die("%v", err)
	}
	zw.Header = gzip.Header{OS: 255} // no Name, ModTime zero: written as 0
	if _, err := zw.Write(b); err != nil {
		die("compressing: %v", err)
	}
	if err := zw.Close(); err != nil {
		die("compressing: %v", err)
	}
	return buf.Bytes()
}

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gen: "+format+"\n", args...)
	os.Exit(1)
}
