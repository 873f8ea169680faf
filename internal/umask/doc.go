// Package umask reads the process's file mode creation mask without
// changing it: umask(2) can only set it, and setting it to read it back
// races with every other thread that creates a file meanwhile.
package umask
