package network

import (
	"slices"
	"strings"
)

// A network setting (--network, the launch key network) is a mode, or the
// names of user-defined networks (`sandbox network create`), comma
// separated. A container on user-defined networks has a private network
// too (eth0, its helper: outbound traffic and published ports), so its
// mode is "slirp".

// Modes are the network modes: host (share the host's), none (only lo),
// slirp (private, with outbound access: pasta, else slirp4netns), or a
// private network by one helper.
var Modes = []string{"host", "none", "slirp", string(Pasta), string(Slirp4netns)}

// IsMode reports whether s is one of the modes (or empty: the default)
// rather than network names.
func IsMode(s string) bool { return s == "" || slices.Contains(Modes, s) }

// Mode is the mode a network setting runs with.
func Mode(setting string) string {
	if IsMode(setting) {
		return setting
	}
	return "slirp"
}

// Names are the user-defined networks a setting names, in order; none for
// a mode.
func Names(setting string) []string {
	if IsMode(setting) {
		return nil
	}
	var out []string
	for _, n := range strings.Split(setting, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}
