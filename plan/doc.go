// Package plan owns the container's filesystem setup as a list of system
// calls: a Plan is built in ordinary Go from what is known before the
// container exists (the spec, the host's paths) and executed by code that
// makes system calls and nothing else: no allocation, no stack growth,
// no pointer written to the heap, nothing of the Go runtime.
//
// Building and executing are apart so that the same plan can be run by
// the Go init, as it is now, and by a process that has no Go runtime to
// call on: the child of a vfork-style clone (package spawn), which shares
// the CLI's memory and stack. One builder is then the only place that
// says what a container's /dev, /proc and /sys look like.
//
// Every path inside the container is resolved with openat2 and
// RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS from a descriptor of the root,
// so that a symlink in the image (say /proc -> /) can never point a mount
// or a new file at the host's tree; a mount then goes to /proc/self/fd/N
// of the opened target. This needs Linux 5.6 (openat2); read-only binds
// use mount_setattr (5.12) and fall back to a remount before that.
//
// The builder remembers what earlier ops leave in place: a directory an
// op made or mounted on is not made again, and in a directory that was
// empty (a tmpfs the plan mounted) a target is made without a look first;
// a file made for a bind is opened for writing, and that descriptor is
// the mount's target.
//
// A few ops work with the new mount API at fixed descriptors (FSMount,
// OpenFixed, OpenTreeFixed, then AttachTree): a mount made, or a host
// file cloned, in one mount namespace and attached after a setns into
// another, where the kernel would refuse the mount (a proc where none is
// visible) or the host's path is out of reach.
package plan
