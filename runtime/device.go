package runtime

// Device is a host device node given to the container (--device): bound,
// not made, since a rootless sandbox cannot mknod; it keeps its host owner
// and mode.
type Device struct {
	Source   string // the host's node
	Target   string // where it appears in the container
	ReadOnly bool   // no "w" in its permissions
}
