// Package image owns the image store under $XDG_DATA_HOME/sandbox:
// content-addressed blobs (configs, manifests), layers unpacked once per
// diff ID and shared by every image that has them, and the reference list
// (images.json). Every write is staged in tmp/ and renamed into place once
// complete; images.json is rewritten atomically; writers hold a file lock.
// So a store a killed command left behind is always readable, and the next
// writer sweeps what the dead one left in tmp/.
//
// The built-in "host" image is not stored: Resolve returns it on demand.
package image
