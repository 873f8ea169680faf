// Package api serves the Docker Engine API (`sandbox system service`) on a
// unix socket of the user's own, so that the docker CLI, Docker Compose and
// other clients of that API drive sandbox's containers, images, volumes and
// networks.
//
// It is a front end and nothing more: each request calls the same library
// entry point the command line calls (package container, image), on the
// same store, so a container made through the API is one `sandbox ps`
// lists, and the service holds no state that a restart of it would lose
// (exec sessions aside, which Docker also forgets). It reaches the store
// only through a calls.Backend (package api/backend answers it) and uses
// nothing else of the library but its types and pure functions. A create request goes
// through the same launch merge and checks as `sandbox run` (config.toml's
// defaults, then the request as the top layer): a limit that cannot be
// enforced is refused as run refuses it.
//
// Containers the API starts run detached, watched as `run -d` watches
// them; the service can exit or be killed without stopping one. Attaching
// follows a container's log; standard input cannot be attached to a
// running container (exec can take it).
//
// Types are the API's own (github.com/moby/moby/api). docs/api.md lists the
// endpoints served, the version, and what is refused.
package api
