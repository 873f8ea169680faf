package image

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/sandbox-dev/sandbox/image/layer"
	"github.com/sandbox-dev/sandbox/task"
)

// verifyTask is the task a store check runs in the user namespace: it
// rebuilds each layer directory given as an argument from its split
// record and writes one line per layer to stdout: the directory, a tab,
// and "sha256:<hex>" of the rebuilt tar, or "error: " and why it could
// not be rebuilt (a file gone, the record unreadable). One task serves
// every layer, so a check sets up one user namespace, not one per layer.
//
// It is registered here, in the CLI, and not with the layer tasks the
// init program runs: it would link crypto/sha256 into the init, whose
// package initialisation every exec and health check would pay (0.03
// ms) for a command as rare as `system check`. It runs in this binary
// (runtime.RunTask with no init directory).
const verifyTask = "verify"

func init() {
	task.Register(verifyTask, func(args []string, _ io.Reader) error {
		w := bufio.NewWriter(os.Stdout)
		for _, dir := range args {
			sum, err := rebuildDigest(dir)
			if err != nil {
				fmt.Fprintf(w, "%s\terror: %s\n", dir, strings.ReplaceAll(err.Error(), "\n", " "))
			} else {
				fmt.Fprintf(w, "%s\t%s\n", dir, sum)
			}
		}
		return w.Flush()
	})
}

// rebuildDigest is the digest of the tar a layer directory rebuilds to.
func rebuildDigest(dir string) (string, error) {
	f, err := os.Open(filepath.Join(dir, layer.SplitName))
	if err != nil {
		return "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("reading %q: %w", f.Name(), err)
	}
	h := sha256.New()
	if err := layer.Assemble(zr, filepath.Join(dir, "diff"), h); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
