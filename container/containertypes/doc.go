// Package containertypes holds the container records that package
// container answers with and that need nothing of it to read: the
// statuses, state.json, a ps row, a volume's and a network's records, the
// choices of logs and network create, and the sentinel errors. Package
// container names each of them again (type aliases, variables), so its
// callers are unchanged; a program that only reads them (the Docker API
// server) does not link the library.
package containertypes
