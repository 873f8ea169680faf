package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/internal/owndir"
	"github.com/sandbox-dev/sandbox/runtime/initbin"
)

// The container's PID 1 is not this binary but the small init program
// (cmd/sandbox-init) it carries: this binary is 31 MB and initialises
// dozens of packages the init never uses, which cost every start
// milliseconds and every running sandbox megabytes.
//
// The init runs from a file installed once per boot and version in the
// user's runtime directory ($XDG_RUNTIME_DIR/sandbox/init-<digest>/
// sandbox-init, read-only, in directories only the user can enter),
// executed through an open
// descriptor. A file, not a memfd per start: copying the blob (2.9 MB
// then, 4.6 MB now) into a memfd cost 2.5–3.5 ms, and each memfd is a private copy in memory,
// where a file's pages are shared by every running sandbox. Nothing in a
// container can reach the file: not by path (no volume may contain the
// runtime directory, container.Validate), not through /proc/1/exe (the init
// is not dumpable, and a running program's file cannot be opened for
// writing: ETXTBSY). Where the directory is unusable (or mounted noexec),
// a sealed memfd holds the init instead; where no blob exists, this
// binary is its own init.

// openInit returns the init program as a read-only descriptor to execute,
// or nil: then the caller executes this binary.
func openInit(dir string) *os.File {
	if len(initbin.Binary) == 0 {
		return nil
	}
	if dir != "" {
		f, err := installedInit(dir)
		if err == nil {
			return f
		}
		Trace("no installed init: %v", err)
	}
	f, err := NewSealedMemfd("sandbox-init", initbin.Binary)
	if err != nil {
		Trace("no init memfd either, re-executing the whole binary: %v", err)
		return nil
	}
	return f
}

// installedInit opens dir/init-<digest>/sandbox-init, installing it first
// if needed.
func installedInit(dir string) (*os.File, error) {
	return InstalledProgram(dir, "init", initbin.Digest, int64(len(initbin.Binary)),
		func(w io.Writer) error {
			_, err := io.Copy(w, ProgramBytesReader(initbin.Binary))
			return err
		})
}

// InstalledProgram opens dir/NAME-<digest>/sandbox-NAME, a program
// carried in this binary, installing it first if needed (read-only, in
// directories only the user can enter) with the bytes write writes. An
// installed copy is accepted when it is the user's own read-only regular
// file of size bytes (size < 0: any). Installing removes other versions'
// copies. The file is named as its process is to be called: the kernel
// names a process executed from a descriptor after the file, before the
// program can name itself (a raw start's PID 1 runs beside its payload
// from that moment).
func InstalledProgram(dir, name, digest string, size int64, write func(io.Writer) error) (*os.File, error) {
	if err := PrivateDir(dir); err != nil {
		return nil, err
	}
	version := filepath.Join(dir, name+"-"+strings.TrimSpace(digest)[:16])
	if err := PrivateDir(version); err != nil {
		return nil, err
	}
	path := filepath.Join(version, "sandbox-"+name)
	// One install at a time in this process: a pull's unpack tasks,
	// started three at once, would each write a copy.
	installMu.Lock()
	defer installMu.Unlock()
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err == nil {
		if err = checkInstalled(f, size); err == nil {
			return f, nil
		}
		f.Close()
		Trace("reinstalling %s: %v", path, err)
	}
	// A program installed there could not be executed (EACCES at the
	// execve): the caller takes a sealed memfd instead. /tmp, where the
	// runtime directory is without XDG_RUNTIME_DIR, is often mounted
	// noexec. Checked only here, off a start's path: nothing is ever
	// installed on such a filesystem.
	var fs unix.Statfs_t
	if err := unix.Statfs(dir, &fs); err == nil && fs.Flags&unix.ST_NOEXEC != 0 {
		return nil, fmt.Errorf("%q is on a filesystem mounted noexec", dir)
	}
	// No child may be started while the file is open for writing: one
	// that inherited the descriptor would hold it until its own execve,
	// and an execve of the program meanwhile fails with ETXTBSY (Go issue
	// 22315). os/exec and package spawn take the write side of ForkLock.
	syscall.ForkLock.RLock()
	tmp, err := os.CreateTemp(dir, "."+name+"-*")
	if err != nil {
		syscall.ForkLock.RUnlock()
		return nil, fmt.Errorf("installing the sandbox %s in %q: %w", name, dir, err)
	}
	defer os.Remove(tmp.Name())
	err = write(chunkWriter{tmp})
	if err == nil {
		// Executable by anyone who holds it, read-only: the directory
		// (0700, the user's) keeps everyone else from its path, and a
		// keep-id container's root, a subordinate id, must execute the
		// init through its descriptor.
		err = tmp.Chmod(0o555)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	syscall.ForkLock.RUnlock()
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return nil, fmt.Errorf("installing the sandbox %s as %q: %w", name, path, err)
	}
	// Other versions' copies are left by upgrades (megabytes each): a
	// directory each, or a file where an older layout put it. One in use
	// keeps running from its open file; a start of an older binary that
	// comes later installs its own again.
	if old, _ := filepath.Glob(filepath.Join(dir, name+"-*")); len(old) > 0 {
		for _, o := range old {
			if o != version {
				os.RemoveAll(o)
			}
		}
	}
	if f, err = os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0); err != nil {
		return nil, err
	}
	if err := checkInstalled(f, size); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// installMu serialises InstalledProgram.
var installMu sync.Mutex

// installChunk is how much of a program InstalledProgram writes at a
// time. On filesystems with large folios (ext4 from Linux 6.16) a write
// fills the page cache with folios as large as it is, up to 2 MiB, and
// the kernel maps a large folio whole at a fault where it fits in the
// mapping (6.18): one write of the init program left a 1 MiB folio in
// its read-only data, and a resident init that touched one page of it
// kept all 1024 KiB mapped. Written 64 KiB at a time, no folio is larger
// than the 64 KiB a fault maps around itself anyway.
const installChunk = 64 << 10

// chunkWriter writes to f at most installChunk bytes at a time.
type chunkWriter struct{ f *os.File }

func (c chunkWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k, err := c.f.Write(b[:min(len(b), installChunk)])
		n += k
		if err != nil {
			return n, err
		}
		b = b[k:]
	}
	return n, nil
}

// checkInstalled accepts the user's own read-only regular file of size
// bytes (size < 0: any). (Its name carries the digest; who could have
// changed its content could also change this binary.)
func checkInstalled(f *os.File, size int64) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return errors.New("not a regular file")
	case int(st.Uid) != os.Getuid():
		return fmt.Errorf("owned by uid %d", st.Uid)
	case st.Mode&0o222 != 0:
		return fmt.Errorf("writable (mode %o)", st.Mode&0o777)
	case size >= 0 && st.Size != size:
		return fmt.Errorf("%d bytes, not %d", st.Size, size)
	}
	if st.Mode&0o555 != 0o555 {
		// Installed by a version that made it 0500 (install's comment).
		return unix.Fchmod(int(f.Fd()), 0o555)
	}
	return nil
}

// PrivateDir makes dir if missing and checks that only this user can
// enter it.
func PrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return err
	}
	if !owndir.Private(&st, os.Getuid()) {
		return fmt.Errorf("%q must be a directory of yours that only you can enter", dir)
	}
	return nil
}

// NewSealedMemfd makes a memfd holding b that can never change again: a
// program to execute that nothing, not even a descriptor to it, can alter.
func NewSealedMemfd(name string, b []byte) (*os.File, error) {
	flags := unix.MFD_CLOEXEC | unix.MFD_ALLOW_SEALING
	// MFD_EXEC: under vm.memfd_noexec=1 a memfd is otherwise not
	// executable. Linux before 6.3 does not know the flag (EINVAL).
	fd, err := unix.MemfdCreate(name, flags|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.MemfdCreate(name, flags)
	}
	if err != nil {
		return nil, fmt.Errorf("creating a memfd for %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	if err := fillMemfd(fd, b); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing %s to its memfd: %w", name, err)
	}
	// Sealed before anything executes it: an inherited writable
	// descriptor could otherwise still change the running program.
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals|unix.F_SEAL_EXEC)
	if errors.Is(err, unix.EINVAL) { // F_SEAL_EXEC is Linux 6.3+
		_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("sealing the memfd of %s: %w", name, err)
	}
	return f, nil
}

// fillMemfd copies b, which is part of this binary's mapped file, into fd.
// The kernel copies it from the page cache of our executable (sendfile at
// the file offset /proc/self/maps gives): half the time of write(), which
// would first fault the 3 MB into this process.
func fillMemfd(fd int, b []byte) error {
	if off, ok := fileOffset(b); ok {
		if exe, err := os.Open("/proc/self/exe"); err == nil {
			defer exe.Close()
			done := 0
			for done < len(b) {
				n, err := unix.Sendfile(fd, int(exe.Fd()), &off, len(b)-done)
				if err != nil || n == 0 {
					break
				}
				done += n
			}
			if done == len(b) {
				return nil
			}
			// A short copy (the binary replaced on disk): start over.
			if err := unix.Ftruncate(fd, 0); err != nil {
				return err
			}
			if _, err := unix.Seek(fd, 0, 0); err != nil {
				return err
			}
		}
	}
	for off := 0; off < len(b); {
		n, err := unix.Write(fd, b[off:])
		if err != nil {
			return err
		}
		off += n
	}
	return nil
}

// fileOffset finds where b lies in this process's executable file, from
// the mapping that holds it.
func fileOffset(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	addr := uint64(uintptr(unsafe.Pointer(&b[0])))
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, false
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		off, err3 := strconv.ParseUint(fields[2], 16, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		if addr >= start && addr+uint64(len(b)) <= end {
			return int64(off + addr - start), true
		}
	}
	return 0, false
}
