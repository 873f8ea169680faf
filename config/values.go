package config

import "github.com/sandbox-dev/sandbox/network"

// The fixed values of launch keys, for their checks, their messages and
// shell completion alike.

// NetworkModes are the modes network (--net) takes besides the names of
// user-defined networks.
var NetworkModes = network.Modes

// RestartPolicies are the values of restart (--restart).
var RestartPolicies = []string{"no", "on-failure", "always"}
