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

// ErrUnavailable is Run's error where no kube program is carried.
var ErrUnavailable = errors.New("kube: not available in this build (its program is built for linux/amd64 only)")

// Run executes the kube program with args and stdin, and returns what it
// wrote on stdout and its notes (stderr lines that begin "note: "). A
// failure's error carries the program's message.
func Run(args []string, stdin []byte) (stdout []byte, notes []string, err error) {
	if len(compressed) == 0 {
		return nil, nil, ErrUnavailable
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, nil, err
	}
	defer dec.Close()
	prog, err := dec.DecodeAll(compressed, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("kube: decompressing its program: %w", err)
	}
	// The digest is checked: a damaged blob must not run.
	sum := sha256.Sum256(prog)
	if hex.EncodeToString(sum[:]) != strings.TrimSpace(Digest) {
		return nil, nil, errors.New("kube: its program does not match its digest (a damaged build)")
	}
	f, err := runtime.NewSealedMemfd("sandbox-kube", prog)
	if err != nil {
		return nil, nil, fmt.Errorf("kube: %w", err)
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
