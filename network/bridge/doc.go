// Package bridge owns a user-defined network's switch (`sandbox network
// create NAME`): one small process per network in use, running as the user
// in the host's namespaces, that joins its containers at layer 2 and serves
// their names over DNS.
//
// Each container on the network has a tap device (eth1, eth2, …) that its
// init makes in the container's own network namespace and hands out; the
// switch holds the tap's descriptor and moves Ethernet frames between the
// taps of its members. It answers ARP and ping for the network's gateway
// address, and DNS there: the members' names, aliases and short IDs, other
// names forwarded to the host's resolvers. Outbound traffic and published
// ports do not go through it: each container keeps its own private network
// helper (pasta or slirp4netns) on eth0 for those.
//
// Why taps and a switch in user space, not a bridge device in a shared
// network namespace as rootless Podman has: moving one end of a veth pair
// between two network namespaces needs CAP_NET_ADMIN over both owning user
// namespaces, so every container would have to live in one user namespace
// entered with setns, which a Go program cannot do once it runs threads. A
// tap needs nothing but the container's own namespace.
//
// The switch lives while the network has members: the first container to
// join starts it (Dial), and it exits when its last member has exited and
// no one is joining. It checks every frame's source address against the
// member it came from, so no container can speak as another.
//
// The switch is a stage of the small init program (runtime.InitMain), so
// it costs no more memory than an init.
package bridge
