package container

import (
	"os"
	"path/filepath"
	"time"

	"github.com/sandbox-dev/sandbox/image"
)

// A detached container's monitor restarts it by its restart policy, as
// Docker does: "always" after any exit, "on-failure" after a non-zero one,
// with a delay that doubles from 100 ms up to a minute and starts over
// once a run lasted 10 seconds. A container the user stopped (stop, kill
// with a terminating signal, rm -f) is not restarted: those commands leave
// a stop-requested marker in the container's directory that the monitor
// reads after every exit and during every delay. Starting the container
// again clears it.

const (
	restartFirstDelay = 100 * time.Millisecond
	restartMaxDelay   = time.Minute
	restartResetAfter = 10 * time.Second
)

func stopMarker(s *image.Store, id string) string { return filepath.Join(Dir(s, id), "stop-requested") }

// requestStop tells the container's monitor not to restart it.
func requestStop(s *image.Store, id string) {
	os.WriteFile(stopMarker(s, id), nil, 0o600)
}

func stopRequested(s *image.Store, id string) bool {
	_, err := os.Stat(stopMarker(s, id))
	return err == nil
}

// clearStop is called when the container is started again, by whoever now
// holds its lock.
func clearStop(s *image.Store, id string) { os.Remove(stopMarker(s, id)) }

// shouldRestart applies the policy to an exit. A sandbox error (the
// container could not start) is not retried: it would fail the same way.
func shouldRestart(policy string, code int, err error) bool {
	if err != nil {
		return false
	}
	switch policy {
	case "always":
		return true
	case "on-failure":
		return code != 0
	}
	return false
}

// restartDelay is the wait before the next start.
func restartDelay(prev time.Duration, ran time.Duration) time.Duration {
	if prev == 0 || ran >= restartResetAfter {
		return restartFirstDelay
	}
	return min(prev*2, restartMaxDelay)
}

// sleepUnlessStopped waits d, or less if a stop is requested meanwhile; it
// reports whether the wait ran out (no stop).
func sleepUnlessStopped(s *image.Store, id string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if stopRequested(s, id) {
			return false
		}
		time.Sleep(min(50*time.Millisecond, time.Until(deadline)))
	}
	return !stopRequested(s, id)
}
