// Package cgrouptypes holds what a reading of a container's cgroup gives
// (Usage), apart from package cgroups, which names it again: a program
// that only shows the counters (the Docker API server) does not link the
// cgroup code, its config or D-Bus.
package cgrouptypes
