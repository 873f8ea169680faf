package kubebin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/sandbox-dev/sandbox/runtime"
)

// decompress is the program, checked against its digest: a damaged blob
// must not run.
func decompress() ([]byte, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	prog, err := dec.DecodeAll(compressed, nil)
	if err != nil {
		return nil, fmt.Errorf("kube: decompressing its program: %w", err)
	}
	sum := sha256.Sum256(prog)
	if hex.EncodeToString(sum[:]) != strings.TrimSpace(Digest) {
		return nil, errors.New("kube: its program does not match its digest (a damaged build)")
	}
	return prog, nil
}

// ErrUnavailable is Run's error where no kube program is carried.
var ErrUnavailable = errors.New("kube: not available in this build (its program is built for linux/amd64 only)")

// Run executes the helper program with args and stdin, and returns what
// it wrote on stdout and its notes (stderr lines that begin "note: "). A
// failure's error carries the program's message. With dir (the user's
// private runtime directory) the program is installed there once per
// version and executed from its file; otherwise it is decompressed into a
// sealed memfd each time (about 40 ms).
func Run(dir string, args []string, stdin []byte) (stdout []byte, notes []string, err error) {
	if len(compressed) == 0 {
		return nil, nil, ErrUnavailable
	}
	var f *os.File
	if dir != "" {
		if f, err = runtime.InstalledProgram(dir, "helper", Digest, -1, decompress); err != nil {
			runtime.Trace("no installed helper: %v", err)
		}
	}
	if f == nil {
		prog, err := decompress()
		if err != nil {
			return nil, nil, err
		}
		if f, err = runtime.NewSealedMemfd("sandbox-kube", prog); err != nil {
			return nil, nil, fmt.Errorf("kube: %w", err)
		}
	}
	defer f.Close()
	var out, errb bytes.Buffer
	cmd := &exec.Cmd{
		Path:       "/proc/self/fd/3",
		Args:       append([]string{"sandbox-kube"}, args...),
		Env:        []string{},
		Stdin:      bytes.NewReader(stdin),
		Stdout:     &out,
		Stderr:     &errb,
		ExtraFiles: []*os.File{f},
	}
	runErr := cmd.Run()
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		if n, ok := strings.CutPrefix(line, "note: "); ok {
			notes = append(notes, n)
		} else if line != "" {
			msgs = append(msgs, strings.TrimPrefix(line, "sandbox-kube: "))
		}
	}
	if runErr != nil {
		if len(msgs) > 0 {
			return nil, notes, errors.New(strings.Join(msgs, "; "))
		}
		return nil, notes, fmt.Errorf("kube: %w", runErr)
	}
	return out.Bytes(), notes, nil
}
