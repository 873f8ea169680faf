// Package config owns the user's defaults (config.toml) and, later, TOML
// launch files: schema, units and validation. Today it holds the storage
// locations and the defaults the CLI merges with its flags.
package config
