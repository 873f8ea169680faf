package image

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sandbox-dev/sandbox/userns"
)

// TestTempDirSurvivesConcurrentSweeps: a staging directory is never swept
// while its owner holds it, whatever sweeps run meanwhile (they did: the
// lock file used to appear unlocked for an instant).
func TestTempDirSurvivesConcurrentSweeps(t *testing.T) {
	s, err := Open(t.TempDir(), userns.Mapping{Mode: userns.ModeSingle}, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					s.SweepTemp()
				}
			}
		}()
	}
	for i := 0; i < 400; i++ {
		dir, release, err := s.TempDir()
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("TempDir: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o600); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("iteration %d: the staging directory was swept while held: %v", i, err)
		}
		release()
	}
	close(stop)
	wg.Wait()
}
