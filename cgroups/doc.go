// Package cgroups will own resource limits through cgroups v2 (delegation
// detection, limits, stats, OOM events). Until that lands, sandbox refuses
// every limit flag rather than running without it.
package cgroups
