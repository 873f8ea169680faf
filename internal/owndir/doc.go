// Package owndir owns the one rule for a directory that sandbox trusts
// what it finds in (its runtime directory, where the installed init, the
// spare records and the id map's cache live): a directory, the user's,
// that no one else may enter or list. Another user could make
// /tmp/sandbox-UID first, where XDG_RUNTIME_DIR is unset, and fill it.
//
// The package imports only x/sys: the init program links it.
package owndir
