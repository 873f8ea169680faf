// Package layer converts between layer tarballs and directories used as
// overlayfs lower layers.
//
// Unpack writes a tar stream into a layer directory confined with os.Root:
// no "..", absolute name or symlink can make it write outside the
// directory, and it never writes through a symlink at all. OCI whiteouts
// become the overlay form (0/0 character devices, and user.overlay.opaque=y
// on opaque directories, as overlayfs mounted with userxattr reads them), so
// the kernel's overlayfs, fuse-overlayfs and a plain copy all see the same
// layer. Everything it does works unprivileged: devices are skipped, and
// ownership from the tar is applied only when asked.
//
// PackDir does the reverse, deterministically, turning the overlay form back
// into OCI whiteouts. (Compressed layers are decoded before they get
// here: image.Decompress.)
package layer
