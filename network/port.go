package network

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
)

// DefaultHostIP is where a published port listens when -p names no
// address: the host's loopback, so that publishing never exposes a
// sandbox to the network by surprise (give 0.0.0.0 for that).
const DefaultHostIP = "127.0.0.1"

// Port is one published port: HostIP:HostPort on the host forwards to
// ContainerPort inside, for Proto "tcp" or "udp".
type Port struct {
	HostIP        string `json:"host_ip"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
	Proto         string `json:"proto"`
}

// ErrPortInUse is a published host port that something else holds.
var ErrPortInUse = errors.New("already in use")

// ParsePort reads -p's [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp]. An IPv6
// address in brackets ([::1]:8080:80) is understood, and refused: the
// private network is IPv4 only.
func ParsePort(s string) (Port, error) {
	spec, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return Port{}, fmt.Errorf("protocol %q: use tcp or udp", proto)
	}
	ip := ""
	if strings.HasPrefix(spec, "[") {
		end := strings.Index(spec, "]:")
		if end < 0 {
			return Port{}, errors.New("want [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp], like 8080:80 or [::1]:8080:80")
		}
		ip, spec = spec[1:end], spec[end+2:]
		if ip == "" {
			return Port{}, errors.New("empty address in brackets: write [::1]:8080:80, or leave the address out")
		}
	}
	parts := strings.Split(spec, ":")
	if len(parts) == 3 && ip == "" {
		ip, parts = parts[0], parts[1:]
		if ip == "" {
			return Port{}, errors.New("empty address before the host port: write 8080:80 or 127.0.0.1:8080:80")
		}
	}
	if len(parts) != 2 {
		return Port{}, errors.New("want [IP:]HOSTPORT:CONTAINERPORT[/tcp|udp], like 8080:80")
	}
	if ip == "" {
		ip = DefaultHostIP
	}
	parsed := net.ParseIP(ip)
	if parsed == nil {
		return Port{}, fmt.Errorf("%q is not an IP address (like 127.0.0.1)", ip)
	}
	if parsed.To4() == nil {
		return Port{}, fmt.Errorf("%s is an IPv6 address: the private network is IPv4 only (as slirp4netns's); publish on 127.0.0.1 or 0.0.0.0", ip)
	}
	// ::ffff:127.0.0.1 is 127.0.0.1, and is written so for the helpers.
	ip = parsed.To4().String()
	var nums [2]int
	for i, n := range parts {
		v, err := strconv.Atoi(n)
		if err != nil || v < 1 || v > 65535 {
			return Port{}, fmt.Errorf("port %q: want a number from 1 to 65535", n)
		}
		nums[i] = v
	}
	return Port{HostIP: ip, HostPort: nums[0], ContainerPort: nums[1], Proto: proto}, nil
}

// ParsePorts parses every spec and refuses two that publish the same host
// port and protocol on overlapping addresses (the same one, or 0.0.0.0 and
// any other): the helper could bind only the first.
func ParsePorts(specs []string) ([]Port, error) {
	var ports []Port
	var specOf []string
	var errs []error
	for _, s := range specs {
		p, err := ParsePort(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("invalid port %q: %w", s, err))
			continue
		}
		clash := false
		for i, q := range ports {
			if q.HostPort == p.HostPort && q.Proto == p.Proto && (q.HostIP == p.HostIP || q.HostIP == "0.0.0.0" || p.HostIP == "0.0.0.0") {
				errs = append(errs, fmt.Errorf("ports %q and %q both publish %s", specOf[i], s, p.HostAddr()))
				clash = true
				break
			}
		}
		if !clash {
			ports = append(ports, p)
			specOf = append(specOf, s)
		}
	}
	return ports, errors.Join(errs...)
}

// HostAddr is the host side, as "127.0.0.1:8080/tcp".
func (p Port) HostAddr() string {
	return net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort)) + "/" + p.Proto
}

// String is the podman/docker PORTS form: "127.0.0.1:8080->80/tcp".
func (p Port) String() string {
	return fmt.Sprintf("%s->%d/%s", net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort)), p.ContainerPort, p.Proto)
}

// CheckFree binds every published host port for a moment, so that a port
// something else holds is refused before anything starts, naming the port
// (the helper would otherwise fail later with a less clear message).
func CheckFree(ports []Port) error {
	for _, p := range ports {
		addr := net.JoinHostPort(p.HostIP, strconv.Itoa(p.HostPort))
		var err error
		// tcp4/udp4: the helpers bind IPv4 only, and "tcp" on 0.0.0.0
		// would be a dual-stack socket that an IPv6-only holder blocks.
		if p.Proto == "udp" {
			var c net.PacketConn
			if c, err = net.ListenPacket("udp4", addr); err == nil {
				c.Close()
			}
		} else {
			var l net.Listener
			if l, err = net.Listen("tcp4", addr); err == nil {
				l.Close()
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, syscall.EADDRINUSE):
			return fmt.Errorf("port %s is %w on the host: stop what holds it or publish another host port", p.HostAddr(), ErrPortInUse)
		case errors.Is(err, syscall.EACCES):
			return fmt.Errorf("publishing port %s: ports below 1024 need privileges: publish a port of 1024 or more (or lower net.ipv4.ip_unprivileged_port_start)", p.HostAddr())
		case errors.Is(err, syscall.EADDRNOTAVAIL):
			return fmt.Errorf("publishing port %s: the host has no address %s", p.HostAddr(), p.HostIP)
		default:
			return fmt.Errorf("publishing port %s: %w", p.HostAddr(), err)
		}
	}
	return nil
}
