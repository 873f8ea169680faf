// Package backend answers the Docker API server's calls (api/calls) with
// the library: package container and image on one store, with the user's
// config.toml. It is the store's side of `sandbox system service`.
package backend
