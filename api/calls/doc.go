// Package calls is the contract between the Docker API server (package
// api) and the store it serves (package api/backend): the Backend
// interface, the options it takes beside the library's own types, and
// the sentinel that marks a refused request. The server uses nothing of
// the library but its types and pure functions, and reaches the store
// only through a Backend, so that it need not run in the process that
// holds the store.
package calls
