// Package layer converts between layer tarballs and directories: it unpacks a
// tar stream into a layer directory confined with os.Root (no "..", absolute
// name or symlink can write outside it), turns OCI whiteouts into the overlay
// form, and packs a directory into a deterministic tar.
package layer
