package bridge

import (
	"encoding/binary"
	"net/netip"
)

// Ethernet, ARP, IPv4, UDP and ICMP, as far as the switch reads and writes
// them. Every length is checked before it is used: a frame comes from a
// container and may be anything.

const (
	etherARP  = 0x0806
	etherIPv4 = 0x0800
	etherIPv6 = 0x86dd
	protoICMP = 1
	protoUDP  = 17
)

var broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// frame delivers one frame m sent: to the gateway (the switch itself), to
// one member, or to all of them.
func (s *switch_) frame(from *member, f []byte) {
	if len(f) < 14 {
		return
	}
	var dst, src [6]byte
	copy(dst[:], f[0:6])
	copy(src[:], f[6:12])
	// A member speaks with its own address only.
	if src != from.mac || !s.sourceIsMember(from, f) {
		return
	}
	switch {
	case dst == s.gwMAC:
		s.toGateway(from, f)
	case dst[0]&1 == 1: // broadcast or multicast
		if binary.BigEndian.Uint16(f[12:14]) == etherARP {
			s.arp(from, f)
		}
		s.flood(from, f)
	default:
		s.mu.Lock()
		to := s.byMAC[dst]
		if to == from || (to != nil && to.tap == nil) {
			to = nil
		}
		s.mu.Unlock()
		if to != nil {
			to.tap.Write(f)
		}
	}
}

// sourceIsMember checks the IPv4 and ARP sender address of f.
func (s *switch_) sourceIsMember(from *member, f []byte) bool {
	if len(f) < 14 {
		return false
	}
	switch binary.BigEndian.Uint16(f[12:14]) {
	case etherIPv4:
		if len(f) < 34 {
			return false
		}
		src := netip.AddrFrom4([4]byte(f[26:30]))
		return src == from.ip || src.IsUnspecified()
	case etherARP:
		if len(f) < 42 {
			return false
		}
		return netip.AddrFrom4([4]byte(f[28:32])) == from.ip
	case etherIPv6:
		return true // link-local neighbour discovery; no IPv6 addresses are given
	}
	return false
}

func (s *switch_) flood(from *member, f []byte) {
	s.mu.Lock()
	var to []*member
	for _, m := range s.members {
		if m != from && m.tap != nil {
			to = append(to, m)
		}
	}
	s.mu.Unlock()
	for _, m := range to {
		m.tap.Write(f)
	}
}

// arp answers a request for the gateway's address.
func (s *switch_) arp(from *member, f []byte) {
	if len(f) < 42 || binary.BigEndian.Uint16(f[20:22]) != 1 { // a request
		return
	}
	if netip.AddrFrom4([4]byte(f[38:42])) != s.n.Gateway {
		return
	}
	r := make([]byte, 42)
	copy(r[0:6], f[6:12])
	copy(r[6:12], s.gwMAC[:])
	binary.BigEndian.PutUint16(r[12:14], etherARP)
	copy(r[14:20], []byte{0, 1, 8, 0, 6, 4})
	binary.BigEndian.PutUint16(r[20:22], 2) // a reply
	copy(r[22:28], s.gwMAC[:])
	gw := s.n.Gateway.As4()
	copy(r[28:32], gw[:])
	copy(r[32:42], f[22:32]) // the asker's MAC and address
	from.tap.Write(r)
}

// toGateway answers what is sent to the gateway: ping, and DNS on udp 53.
// The gateway routes nothing: outbound traffic takes eth0.
func (s *switch_) toGateway(from *member, f []byte) {
	if binary.BigEndian.Uint16(f[12:14]) != etherIPv4 || len(f) < 34 {
		return
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if ip[0]>>4 != 4 || ihl < 20 || total < ihl || total > len(ip) {
		return
	}
	if netip.AddrFrom4([4]byte(ip[16:20])) != s.n.Gateway || binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
		return // not ours, or a fragment
	}
	payload := ip[ihl:total]
	switch ip[9] {
	case protoICMP:
		if len(payload) >= 8 && payload[0] == 8 { // echo request
			r := append([]byte(nil), payload...)
			r[0] = 0
			r[2], r[3] = 0, 0
			binary.BigEndian.PutUint16(r[2:4], checksum(r))
			from.tap.Write(s.ipv4(from, protoICMP, r))
		}
	case protoUDP:
		if len(payload) < 8 {
			return
		}
		sport, dport := binary.BigEndian.Uint16(payload[0:2]), binary.BigEndian.Uint16(payload[2:4])
		ulen := int(binary.BigEndian.Uint16(payload[4:6]))
		if dport != 53 || ulen < 8 || ulen > len(payload) {
			return
		}
		query := append([]byte(nil), payload[8:ulen]...)
		// Bounded: a member that floods the gateway with queries for
		// names the host must resolve gets answers for some, and takes
		// nothing from the others.
		select {
		case s.dnsSlots <- struct{}{}:
		default:
			return
		}
		go func() {
			defer func() { <-s.dnsSlots }()
			answer := s.dns(from, query)
			if answer == nil {
				return
			}
			u := make([]byte, 8+len(answer))
			binary.BigEndian.PutUint16(u[0:2], 53)
			binary.BigEndian.PutUint16(u[2:4], sport)
			binary.BigEndian.PutUint16(u[4:6], uint16(len(u)))
			copy(u[8:], answer) // checksum 0: none, which IPv4 allows
			from.tap.Write(s.ipv4(from, protoUDP, u))
		}()
	}
}

// ipv4 frames payload from the gateway to m.
func (s *switch_) ipv4(to *member, proto byte, payload []byte) []byte {
	f := make([]byte, 14+20+len(payload))
	copy(f[0:6], to.mac[:])
	copy(f[6:12], s.gwMAC[:])
	binary.BigEndian.PutUint16(f[12:14], etherIPv4)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(20+len(payload)))
	ip[8] = 64
	ip[9] = proto
	gw, dst := s.n.Gateway.As4(), to.ip.As4()
	copy(ip[12:16], gw[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[10:12], checksum(ip[:20]))
	copy(ip[20:], payload)
	return f
}

// checksum is the Internet checksum of b.
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
