package container

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/runtime"
)

// TestCurrentStateConcurrentCompletion: commands that look at a resident
// container at the moment its init has ended (wait and logs -f, in the
// lifecycle test) each try to record the end. Whichever finds the exit
// record already taken by another must answer with what that one
// recorded, not infer a kill (137).
func TestCurrentStateConcurrentCompletion(t *testing.T) {
	s := &image.Store{Root: t.TempDir()}
	if err := os.Mkdir(filepath.Join(s.Root, "containers"), 0o700); err != nil {
		t.Fatal(err)
	}
	const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	dir := Dir(s, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"lock":           nil,
		"container.json": mustJSON(&Container{ID: id, Name: "burst", Config: Config{Image: "img"}}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	started := time.Now().UTC().Add(-time.Second)
	for round := 0; round < 200; round++ {
		// The recorded init: this process, with a start time that is not
		// its own, so it reads as gone.
		if err := writeState(s, id, State{Status: Running, Pid: os.Getpid(), PidStart: 1, StartedAt: started}); err != nil {
			t.Fatal(err)
		}
		rec, _ := json.Marshal(runtime.ExitRecord{ExitCode: 3, FinishedAt: time.Now().UTC()})
		if err := os.WriteFile(filepath.Join(dir, runtime.ExitRecordName), rec, 0o600); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		got := make([]State, 4)
		for i := range got {
			wg.Go(func() { got[i] = CurrentState(s, id) })
		}
		wg.Wait()
		for _, st := range got {
			if st.Status != Exited || st.ExitCode != 3 || st.Killed {
				t.Fatalf("round %d: a concurrent look at the ended container answered %+v, want exited with the recorded 3", round, st)
			}
		}
	}
}

// TestWaitRemoved: a wait on a container that is removed meanwhile (a
// --rm one that ended) returns: with the code it left, where it left one,
// else saying it was removed. It used to wait for ever, the state of a
// removed container reading as created.
func TestWaitRemoved(t *testing.T) {
	for _, kept := range []bool{false, true} {
		s := &image.Store{Root: t.TempDir(), RunDir: t.TempDir()}
		if err := os.Mkdir(filepath.Join(s.Root, "containers"), 0o700); err != nil {
			t.Fatal(err)
		}
		const id = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
		c := &Container{ID: id, Name: "gone", Config: Config{Image: "img", Rm: true}}
		addContainer(t, s, c)
		type result struct {
			code int
			err  error
		}
		done := make(chan result, 1)
		go func() {
			code, err := Wait(s, "gone")
			done <- result{code, err}
		}()
		time.Sleep(100 * time.Millisecond)
		if kept {
			keepRemovedExit(s, c, 7, false)
		}
		if err := os.RemoveAll(Dir(s, id)); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if kept && (r.err != nil || r.code != 7) {
				t.Errorf("wait on a removed container that left 7: %d, %v", r.code, r.err)
			}
			if !kept && !errors.Is(r.err, ErrNotFound) {
				t.Errorf("wait on a removed container that left no code: %d, %v; want ErrNotFound", r.code, r.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("wait on a container removed meanwhile (kept code: %v) did not return", kept)
		}
	}
}

// TestRemoveRefRemovedMeanwhile: rm -f of a running container that is
// removed while rm waits for its recorder to let go (its --rm, another
// rm) succeeds: the container is gone, as asked. It used to fail on the
// lock file's directory being gone.
func TestRemoveRefRemovedMeanwhile(t *testing.T) {
	s := &image.Store{Root: t.TempDir()}
	for _, d := range []string{"containers", "tmp"} {
		if err := os.Mkdir(filepath.Join(s.Root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	const id = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	c := &Container{ID: id, Name: "busy", Config: Config{Image: "img", Rm: true}}
	addContainer(t, s, c)
	// Its recorder: the lock, held; its init: a sleep.
	lock, err := os.OpenFile(filepath.Join(Dir(s, id), "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	init := exec.Command("sleep", "30")
	if err := init.Start(); err != nil {
		t.Fatal(err)
	}
	go init.Wait()
	start, _, err := runtime.ProcessStart(init.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeState(s, id, State{Status: Running, Pid: init.Process.Pid, PidStart: start}); err != nil {
		t.Fatal(err)
	}
	go func() {
		// The recorder removes it, as a --rm one's does, and lets go.
		time.Sleep(200 * time.Millisecond)
		os.Rename(Dir(s, id), filepath.Join(s.Root, "tmp", "gone"))
		lock.Close()
	}()
	if _, err := RemoveRef(s, "busy", true, false); err != nil {
		t.Errorf("rm -f of a container removed meanwhile: %v", err)
	}
}

// TestCurrentStateDuringRestart: a command that looks at a resident
// container while a restart starts it again (the old init gone, the lock
// the start's, the record emptied for the new run) answers with the new
// run, and leaves the new run's state and record alone. It used to wait
// for the lock to be let go, give up, and record the new run as killed
// (137), after which no command could control it.
func TestCurrentStateDuringRestart(t *testing.T) {
	s := &image.Store{Root: t.TempDir()}
	if err := os.Mkdir(filepath.Join(s.Root, "containers"), 0o700); err != nil {
		t.Fatal(err)
	}
	const id = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	addContainer(t, s, &Container{ID: id, Name: "svc", Config: Config{Image: "img"}})
	// The old run: its init gone (this process, another start time), its
	// record written.
	started := time.Now().UTC().Add(-time.Minute)
	if err := writeState(s, id, State{Status: Running, Pid: os.Getpid(), PidStart: 1, StartedAt: started}); err != nil {
		t.Fatal(err)
	}
	record := filepath.Join(Dir(s, id), runtime.ExitRecordName)
	rec, _ := json.Marshal(runtime.ExitRecord{ExitCode: 0, FinishedAt: time.Now().UTC()})
	if err := os.WriteFile(record, rec, 0o600); err != nil {
		t.Fatal(err)
	}
	// The restart's start: it holds the lock.
	lock, err := lockContainer(s, &Container{ID: id, Name: "svc"}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	looked := make(chan State, 1)
	go func() { looked <- CurrentState(s, id) }()
	time.Sleep(100 * time.Millisecond)
	// It empties the record and records its new init, which lives.
	init := exec.Command("sleep", "30")
	if err := init.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		init.Process.Kill()
		init.Wait()
	}()
	pidStart, _, err := runtime.ProcessStart(init.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(record, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	running := State{Status: Running, Pid: init.Process.Pid, PidStart: pidStart, StartedAt: time.Now().UTC()}
	if err := writeState(s, id, running); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-looked:
		if st.Status != Running || st.Pid != running.Pid {
			t.Errorf("a look during the restart answered %+v, want the new run, running as %d", st, running.Pid)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a look during the restart did not return")
	}
	if st := readState(s, id); st.Status != Running || st.Pid != running.Pid {
		t.Errorf("after the look, the state is %+v, want the new run's", st)
	}
	if _, err := os.Stat(record); err != nil {
		t.Errorf("the new run's exit record is gone: %v", err)
	}
}

// addContainer makes c's directory and record in s.
func addContainer(t *testing.T, s *image.Store, c *Container) {
	t.Helper()
	if err := os.Mkdir(Dir(s, c.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(Dir(s, c.ID), "container.json"), recordJSON(c), 0o600); err != nil {
		t.Fatal(err)
	}
}
