// Package runtime starts containers: the parent side re-executes this binary
// into new user, mount, PID, UTS and IPC namespaces (and network, with
// --net none) and completes the id-map handshake; the child side, as the
// container's PID 1, assembles the root filesystem, pivots into it, starts
// the payload with reduced capabilities, forwards signals, reaps orphans and
// exits with the payload's status. It also runs short tasks (unpacking a
// layer, removing a tree) inside a user namespace with the store's id map,
// and, in subid mode, makes spare user namespaces whose maps are written
// ahead for the next start (spare.go). docs/handshake.md draws the
// sequence.
package runtime
