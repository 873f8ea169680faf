package program

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/runtime"
)

// Blob is a carried program.
type Blob struct {
	// Name names the installed copy: Name-<digest>.
	Name string
	// Program is the program's own name: its processes' and its memfd's.
	Program string
	// Gzipped is the program, gzip-compressed (program/gen -gzip: the
	// standard library's decoder, so the CLI links no other); empty where
	// no program is built for this architecture.
	Gzipped []byte
	// Digest is the SHA-256 of the program (uncompressed), in hex.
	Digest string
}

// Available says whether this build carries the program.
func (b Blob) Available() bool { return len(b.Gzipped) > 0 }

// decompress writes the program to w, checked against its digest as it
// goes: a damaged blob must not run, and an error at the end tells the
// installer to keep nothing of it.
func (b Blob) decompress(w io.Writer) error {
	zr, err := gzip.NewReader(runtime.ProgramBytesReader(b.Gzipped))
	if err != nil {
		return fmt.Errorf("decompressing the %s program: %w", b.Name, err)
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(io.MultiWriter(w, h), zr, make([]byte, 64<<10)); err != nil {
		return fmt.Errorf("decompressing the %s program: %w", b.Name, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != strings.TrimSpace(b.Digest) {
		return fmt.Errorf("the %s program does not match its digest (a damaged build)", b.Name)
	}
	return nil
}

// Open returns a descriptor of the program. With dir (the user's private
// runtime directory) it is installed there once per version and opened
// from its file; otherwise, or if that fails, it is decompressed into a
// sealed memfd (tens of milliseconds each time).
func (b Blob) Open(dir string) (*os.File, error) {
	if dir != "" {
		f, err := runtime.InstalledProgram(dir, b.Name, b.Digest, -1, b.decompress)
		if err == nil {
			return f, nil
		}
		runtime.Trace("no installed %s: %v", b.Name, err)
	}
	var prog bytes.Buffer
	// The trailer's last 4 bytes are the size (mod 4 GiB): one buffer of
	// that size, not a dozen regrown ones. Only a hint, bounded: a damaged
	// trailer must not allocate gigabytes.
	if n := len(b.Gzipped); n >= 4 {
		prog.Grow(min(int(binary.LittleEndian.Uint32(b.Gzipped[n-4:])), 16*n))
	}
	if err := b.decompress(&prog); err != nil {
		return nil, err
	}
	f, err := runtime.NewSealedMemfd(b.Program, prog.Bytes())
	if err != nil {
		return nil, fmt.Errorf("loading the %s program: %w", b.Name, err)
	}
	return f, nil
}

// Command runs the program opened as f (by Open) with args, an empty
// environment and f as its descriptor 3. The caller sets its stdio and
// closes f once it has started.
func (b Blob) Command(f *os.File, args ...string) *exec.Cmd {
	return &exec.Cmd{
		Path:       "/proc/self/fd/3",
		Args:       append([]string{b.Program}, args...),
		Env:        []string{},
		ExtraFiles: []*os.File{f},
	}
}

// StartWithSocket installs the program in dir (Open), starts it with
// args, env, a unix stream socket to the caller as wire.SocketFD and extra as
// the descriptors after it, and returns the running command and the
// caller's end of the socket. Its stderr is the caller's; its stdout
// and stdin are /dev/null (such a program answers on its socket).
func (b Blob) StartWithSocket(dir string, args, env []string, extra ...*os.File) (*exec.Cmd, *os.File, error) {
	exe, err := b.Open(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", b.Name, err)
	}
	defer exe.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: making its socket: %w", b.Name, err)
	}
	local, remote := os.NewFile(uintptr(fds[0]), b.Name), os.NewFile(uintptr(fds[1]), b.Name)
	defer remote.Close()
	cmd := b.Command(exe, args...)
	cmd.Env = env
	cmd.ExtraFiles = append(append(cmd.ExtraFiles, remote), extra...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		local.Close()
		return nil, nil, fmt.Errorf("%s: starting its program: %w", b.Name, err)
	}
	return cmd, local, nil
}
