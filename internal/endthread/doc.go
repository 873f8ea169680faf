// Package endthread runs a function on an operating-system thread of its
// own that ends once the function returns, for tests of what the kernel
// ties to a thread rather than to its process: a child's parent-death
// signal comes with the end of the thread that cloned it, and a program's
// exit_group ends that thread before its others. Only tests use it.
package endthread
