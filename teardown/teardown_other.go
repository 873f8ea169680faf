//go:build !amd64

package teardown

import "golang.org/x/sys/unix"

// Defer does nothing here: the holder is written for amd64 only.
func Defer() (int, error) { return 0, unix.ENOSYS }
