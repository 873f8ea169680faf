// Package fuseoverlay assembles a container's root filesystem from its image
// layers and its writable layer, inside the container's own user and mount
// namespaces. Three drivers, tried in this order when none is forced:
//
//   - overlay: the kernel's overlayfs with the userxattr option, which an
//     unprivileged user may mount in its own user namespace since Linux 5.11;
//   - fuse-overlayfs: the same layout served by the fuse-overlayfs helper, for
//     kernels that refuse the first;
//   - vfs: a plain copy of every layer into the writable layer, slow and big,
//     the last resort.
//
// Layers are in the overlay form (whiteouts are 0/0 character devices, opaque
// directories carry user.overlay.opaque=y), as package image/layer writes
// them, so all three drivers read the same directories.
package fuseoverlay
