package container

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

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
