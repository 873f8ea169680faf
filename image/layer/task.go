package layer

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/sandbox-dev/sandbox/task"
)

// The unpack task runs inside a user namespace with the store's id map (see
// runtime.RunTask), so that what Unpack chowns lands on the right host ids.
// Tasks are registered with package task, in the small init program
// (cmd/sandbox-init), which runs them, and in the whole sandbox binary,
// which runs them where no init program is carried.
func init() {
	task.Register(UnpackTask, unpackTask)
	task.Register(AssembleTask, assembleTask)
	task.Register(PackTask, packTask)
}

// PackTask writes a container's writable layer (an overlay upper
// directory) to stdout as a layer tar: whiteouts and opaque directories in
// the OCI form, owners as the container sees them. Arguments: the
// directory, then paths to leave out when they are empty (the mount points
// sandbox itself made, such as etc/hosts).
const PackTask = "pack"

// MtimeArg, as the pack task's first argument with seconds since the epoch
// after it, sets every entry's mtime (PackOptions.Mtime).
const MtimeArg = "--mtime="

func packTask(args []string, _ io.Reader) error {
	var opts PackOptions
	if len(args) > 0 && strings.HasPrefix(args[0], MtimeArg) {
		sec, err := strconv.ParseInt(strings.TrimPrefix(args[0], MtimeArg), 10, 64)
		if err != nil {
			return fmt.Errorf("pack: %q: %w", args[0], err)
		}
		t := time.Unix(sec, 0).UTC()
		opts.Mtime, args = &t, args[1:]
	}
	if len(args) < 1 {
		return errors.New("pack: want a directory")
	}
	mountPoints := map[string]bool{}
	for _, p := range args[1:] {
		mountPoints[p] = true
	}
	skip := func(rel string, fi os.FileInfo) bool {
		if !mountPoints[rel] {
			return false
		}
		if fi.Mode().IsRegular() {
			return fi.Size() == 0
		}
		if fi.IsDir() {
			entries, err := os.ReadDir(filepath.Join(args[0], rel))
			return err == nil && len(entries) == 0
		}
		return false
	}
	w := bufio.NewWriterSize(os.Stdout, 256<<10)
	opts.Skip = skip
	if err := PackDirWith(args[0], w, opts); err != nil {
		return err
	}
	return w.Flush()
}

// AssembleTask is the task that writes a stored layer's original tar to
// its stdout; its argument is the layer directory (holding diff/ and the
// split record). It runs in the user namespace because files owned by
// subordinate ids may be unreadable to the user outside.
const AssembleTask = "assemble"

// SplitName is the split record's file name beside a layer's diff/.
const SplitName = "tar-split.gz"

func assembleTask(args []string, _ io.Reader) error {
	if len(args) != 1 {
		return errors.New("assemble: want a layer directory")
	}
	f, err := os.Open(filepath.Join(args[0], SplitName))
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("reading %q: %w", f.Name(), err)
	}
	w := bufio.NewWriterSize(os.Stdout, 256<<10)
	if err := Assemble(zr, filepath.Join(args[0], "diff"), w); err != nil {
		return err
	}
	return w.Flush()
}

// UnpackTask is the task's name: args are the staging directory and
// "chown" or "nochown"; stdin is the uncompressed tar. It unpacks into
// <staging>/diff and writes the Stats as JSON to <staging>/stats.json.
const UnpackTask = "unpack"

// stdinBuffer is the unpack task's read buffer.
const stdinBuffer = 64 << 10

// unpackGCPercent is the unpack task's GOGC. What it allocates is
// mostly garbage at once (a Debian base's tar headers and names, 13 MB),
// over about 2.5 MB live (the split record's compressor, the contents'
// buffers, async.go): at the default 100 the heap grew to twice that
// between collections. Unpacking Debian outside the task, six runs, the
// peak RSS was 12.3 MiB at 100 and 10.3 MiB at 50; the collector runs
// twice as often over a small heap, for no time the unpack shows.
const unpackGCPercent = 50

func unpackTask(args []string, stdin io.Reader) error {
	if len(args) != 2 {
		return errors.New("unpack: want a staging directory and a chown mode")
	}
	debug.SetGCPercent(unpackGCPercent)
	diff := filepath.Join(args[0], "diff")
	if err := os.Mkdir(diff, 0o755); err != nil {
		return err
	}
	split, err := os.Create(filepath.Join(args[0], SplitName))
	if err != nil {
		return err
	}
	defer split.Close()
	// The split record is mostly tar headers and zero padding: the
	// fastest level shrinks it nearly as well as the default, at a fraction
	// of the time spent in the task.
	zw, err := gzip.NewWriterLevel(split, gzip.BestSpeed)
	if err != nil {
		return err
	}
	// stdin is a pipe: buffered, a tar header or a small file is not a
	// system call of its own.
	in := bufio.NewReaderSize(stdin, stdinBuffer)
	st, err := Unpack(in, diff, Options{Chown: args[1] == "chown", Split: zw})
	if err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("writing the split record: %w", err)
	}
	if err := split.Close(); err != nil {
		return fmt.Errorf("writing the split record: %w", err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(args[0], "stats.json"), b, 0o644)
}
