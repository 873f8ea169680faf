package layer

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/sandbox-dev/sandbox/runtime"
)

// The unpack task runs inside a user namespace with the store's id map (see
// runtime.RunTask), so that what Unpack chowns lands on the right host ids.
// It lives here, not in package image, because the container init binary
// carries it and must stay small.
func init() {
	runtime.RegisterTask(UnpackTask, unpackTask)
}

// UnpackTask is the task's name: args are the staging directory and
// "chown" or "nochown"; stdin is the uncompressed tar. It unpacks into
// <staging>/diff and writes the Stats as JSON to <staging>/stats.json.
const UnpackTask = "unpack"

func unpackTask(args []string, stdin io.Reader) error {
	if len(args) != 2 {
		return errors.New("unpack: want a staging directory and a chown mode")
	}
	diff := filepath.Join(args[0], "diff")
	if err := os.Mkdir(diff, 0o755); err != nil {
		return err
	}
	st, err := Unpack(stdin, diff, Options{Chown: args[1] == "chown"})
	if err != nil {
		return err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(args[0], "stats.json"), b, 0o644)
}
