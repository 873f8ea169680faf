package container

import (
	"encoding/json"

	"github.com/sandbox-dev/sandbox/image"
)

// Prewarm makes, on another goroutine, what the first JSON encoding or
// decoding of each type a container's creation reads or writes costs a
// process (encoding/json's per-type caches, built by reflection: 0.3 ms
// for these types here). A start runs serially on one core while the
// other idles; a command that creates a container calls this first, and
// its own work finds the caches made.
func Prewarm() {
	go func() {
		image.Prewarm() // resolution comes first
		json.Marshal(&Container{})
		json.Marshal(&State{})
	}()
}
