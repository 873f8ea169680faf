package runtime

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/runtime/initbin"
)

// The init's memfd holds exactly the blob and can never be written again,
// not even through a descriptor opened for writing before it was sealed.
func TestSealedInit(t *testing.T) {
	if len(initbin.Binary) == 0 {
		t.Skip("no init blob for this architecture: the whole binary is the init")
	}
	f, err := NewSealedMemfd("sandbox-init", initbin.Binary)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(io.NewSectionReader(f, 0, int64(len(initbin.Binary))+1))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, initbin.Binary) {
		t.Fatalf("the memfd holds %d bytes that differ from the %d-byte blob", len(got), len(initbin.Binary))
	}
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{unix.F_SEAL_WRITE, unix.F_SEAL_SHRINK, unix.F_SEAL_GROW, unix.F_SEAL_SEAL} {
		if seals&want == 0 {
			t.Errorf("seals %#x lack %#x", seals, want)
		}
	}
	w, err := os.OpenFile(fdPath(f), os.O_WRONLY, 0)
	if err == nil {
		_, err = w.Write([]byte("x"))
		w.Close()
		if err == nil {
			t.Fatal("wrote to the sealed init")
		}
	}
}

// BenchmarkSealedInit is what every container start pays for its init's
// memfd.
func BenchmarkSealedInit(b *testing.B) {
	for b.Loop() {
		f, err := NewSealedMemfd("sandbox-init", initbin.Binary)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// The installed init is the blob, read-only, in a private directory, and
// a tampered copy (wrong size, writable) is replaced rather than run.
func TestInstalledInit(t *testing.T) {
	if len(initbin.Binary) == 0 {
		t.Skip("no init blob for this architecture: the whole binary is the init")
	}
	dir := filepath.Join(t.TempDir(), "run")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Older versions' inits, left by upgrades (a directory each, or a
	// file in an older layout), go when this one is installed; other
	// files stay.
	older := filepath.Join(dir, "init-0000000000000000")
	oldest := filepath.Join(dir, "init-1111111111111111")
	other := filepath.Join(dir, "exec-socket")
	if err := os.MkdirAll(older, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(older, "sandbox-init"), oldest, other} {
		if err := os.WriteFile(p, []byte("x"), 0o500); err != nil {
			t.Fatal(err)
		}
	}
	f, err := installedInit(dir)
	if err != nil {
		t.Fatal(err)
	}
	name := f.Name()
	f.Close()
	for _, o := range []string{older, oldest} {
		if _, err := os.Stat(o); !os.IsNotExist(err) {
			t.Errorf("an older init (%s) is still there after installing %s: %v", o, name, err)
		}
	}
	// Named as its process is called: the kernel names a process
	// executed from a descriptor after its file.
	if filepath.Base(name) != "sandbox-init" {
		t.Errorf("the installed init is %s, want a file named sandbox-init", name)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("installing the init removed another file: %v", err)
	}
	st, err := os.Stat(name)
	if err != nil || st.Mode().Perm() != 0o555 || st.Size() != int64(len(initbin.Binary)) {
		t.Fatalf("installed %q: %v, %v", name, st.Mode(), err)
	}
	if err := os.Chmod(name, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte("#!/bin/sh\necho pwned\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err = installedInit(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(got, initbin.Binary) {
		t.Fatalf("a tampered init was kept (%d bytes, %v)", len(got), err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := installedInit(dir); err == nil {
		t.Fatal("installed into a directory others can enter")
	}
}

// TestInstallWhileStarting: commands that install the init while they
// start children (a first pull's three unpack tasks at once) all get an
// init they can execute: no child holds the file open for writing into
// the moment another executes it (ETXTBSY).
func TestInstallWhileStarting(t *testing.T) {
	if len(initbin.Binary) == 0 {
		t.Skip("no init blob for this architecture: the whole binary is the init")
	}
	for round := 0; round < 200; round++ {
		dir := filepath.Join(t.TempDir(), "run")
		errs := make(chan error, 8)
		for range 8 {
			go func() {
				f, err := installedInit(dir)
				if err != nil {
					errs <- err
					return
				}
				defer f.Close()
				// Run without sandbox's handshake, the init says so and
				// exits 125: what matters is that it was executed.
				cmd := exec.Command(fdPath(f))
				cmd.ExtraFiles = []*os.File{f}
				cmd.Path = "/proc/self/fd/3"
				err = cmd.Run()
				var ee *exec.ExitError
				if errors.As(err, &ee) && ee.ExitCode() == 125 {
					err = nil
				}
				errs <- err
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}
