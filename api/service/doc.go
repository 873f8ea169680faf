// Package service runs `sandbox system service`: it makes or takes the
// listening socket (a unix socket only the user can reach, or the one
// systemd passed), starts the API server's program (cmd/sandbox-api,
// carried by api/apibin) with that socket and a socket to itself, and
// answers the program's calls to the store (api/backend) until the
// program ends. Where no program is carried (not amd64), it serves the
// API itself.
package service
