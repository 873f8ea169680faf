// Package endpoint holds a container's place on a user-defined network
// (Endpoint), as the network's switch gives it and the container's state
// records it: a type with no code, so that what only reads it (the API
// server) links neither the switch nor the container package.
package endpoint
