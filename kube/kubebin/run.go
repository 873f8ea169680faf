package kubebin

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/sandbox-dev/sandbox/program"
)

// blob is the kube program; its installed copy is named helper-<digest>.
var blob = program.Blob{Name: "helper", Program: "sandbox-kube", Gzipped: gzipped, Digest: Digest}

// ErrUnavailable is Run's error where no kube program is carried.
var ErrUnavailable = errors.New("kube: not available in this build (its program is built for linux/amd64 only)")

// Run executes the helper program with args and stdin, and returns what
// it wrote on stdout and its notes (stderr lines that begin "note: "). A
// failure's error carries the program's message. With dir (the user's
// private runtime directory) the program is installed there once per
// version and executed from its file; otherwise it is decompressed into a
// sealed memfd each time (about 90 ms, most of it gzip).
func Run(dir string, args []string, stdin []byte) (stdout []byte, notes []string, err error) {
	if !blob.Available() {
		return nil, nil, ErrUnavailable
	}
	f, err := blob.Open(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("kube: %w", err)
	}
	defer f.Close()
	var out, errb bytes.Buffer
	cmd := blob.Command(f, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &out, &errb
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
