package network

import (
	"fmt"
	"net"
	"strings"
)

// HostGateway is the --add-host address that means "the host": 10.0.2.2 in
// a private network, 127.0.0.1 with the host's.
const HostGateway = "host-gateway"

// ParseAddHost reads --add-host NAME:IP (docker's form). NAME may hold no
// space, control character, '#' or '/', which would change what the
// /etc/hosts line says; IP is an address or host-gateway.
func ParseAddHost(h string) (name, ip string, err error) {
	name, ip, ok := strings.Cut(h, ":")
	bad := strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '#' || r == '/' }) >= 0
	if !ok || name == "" || bad {
		return "", "", fmt.Errorf("want NAME:IP, like db:10.0.2.2 or api:%s", HostGateway)
	}
	if ip != HostGateway && net.ParseIP(ip) == nil {
		return "", "", fmt.Errorf("%q is not an IP address (or %s)", ip, HostGateway)
	}
	return name, ip, nil
}
