package umask

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Current reads back what umask(2) set, and leaves it as it was.
func TestCurrent(t *testing.T) {
	for _, m := range []int{0o022, 0o077, 0o002, 0} {
		old := unix.Umask(m)
		got := Current()
		unix.Umask(old)
		if got != uint32(m) {
			t.Errorf("with umask %#o, Current() = %#o", m, got)
		}
	}
}
