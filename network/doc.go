// Package network owns a sandbox's private network (--net slirp): it picks
// the user-mode network helper (pasta from the passt package, else
// slirp4netns), starts it against the sandbox's network namespace once the
// init exists, waits until the namespace's interface is configured,
// publishes ports from the host into the sandbox, and ends the helper with
// the sandbox. It also parses and checks published ports (-p), and knows the
// fixed addresses inside: the sandbox is 10.0.2.100/24, 10.0.2.2 reaches
// the host's loopback, and 10.0.2.3 forwards DNS to the host's resolvers.
//
// Both helpers are given the same addresses, so what a container sees does
// not depend on which one is installed.
package network
