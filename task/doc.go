// Package task is the registry of the functions sandbox runs inside a
// fresh user namespace with the store's id map — unpacking a layer,
// packing a container's changes, removing a tree owned by subordinate ids
// — as containers/storage's reexec package is for its own. Packages
// register their tasks from an init func; runtime.RunTask starts the init
// program (cmd/sandbox-init, which links the layer tasks and runtime's
// own) or, for a task only the CLI registers (image's verify), this
// binary in the namespace, where runtime's child side looks
// the task up here and runs it. The package imports nothing of sandbox's, so any
// package may register without depending on the runtime.
package task
