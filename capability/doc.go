// Package capability owns the Linux capabilities as sandbox names them:
// the table of CAP_ names and numbers, docker's default set a container's
// root keeps, and the bounding set that results from cap_add and cap_drop.
// It imports only the standard library and x/sys, so the sandbox init can
// use it as well as the CLI.
package capability
