// Package rawsig puts a signal handler written in assembly, of a few
// instructions and no Go, in place of the Go runtime's for a signal, and
// the runtime's back: the kernel's struct sigaction, and the restorer
// every such handler returns through (rt_sigreturn). Package idle's
// forwarding and package sysmon's timer slack use it. linux/amd64 only.
package rawsig
