// Package config owns the user's defaults (config.toml) and the TOML
// launch files (app.toml): the storage locations, the schema of every key
// (keys.go, values.go), decoding with each value's position, units,
// validation, and the layered merge of defaults, config.toml, a launch
// file and the command's flags.
package config
