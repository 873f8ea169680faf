//go:build !amd64

package sysmon

// LinkFlags is empty here: the entry is written for linux/amd64.
const LinkFlags = ""

// Linked is false here.
func Linked() bool { return false }

// Entered is false here.
func Entered() bool { return false }

// Monitor is 0 here.
func Monitor() int { return 0 }

// Settle does nothing here.
func Settle() {}

// Done does nothing here.
func Done() {}
