// Package cgroups owns resource limits through cgroup v2: finding where an
// unprivileged user may make cgroups (a delegated subtree the process
// already lives in, or a scope the systemd user manager delegates on
// request), checking each limit against the delegated controllers before
// anything starts, making a container's cgroup with its limits (the init
// is started straight into it with clone3), reading its OOM and pids
// events and its usage for stats, and removing it.
//
// Detection never writes: on a host whose cgroups are v1 or hybrid, or
// where nothing is delegated, sandbox only reports why limits cannot work.
package cgroups
