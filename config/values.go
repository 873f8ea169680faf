package config

// The fixed values of launch keys, for their checks, their messages and
// shell completion alike.

// NetworkModes are the values of network (--net).
var NetworkModes = []string{"host", "none", "slirp", "pasta", "slirp4netns"}

// RestartPolicies are the values of restart (--restart).
var RestartPolicies = []string{"no", "on-failure", "always"}
