package bridge

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Serve runs the switch of network n until it has no member left: it
// listens in dir, says it is ready by closing ready, and returns when it
// exits. It is run as its own process (runtime.InitMain, stage "bridge").
func Serve(dir string, n Network, ready *os.File) error {
	lock, err := os.OpenFile(lockPath(dir, n.Key), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	sock := socketPath(dir, n.Key)
	os.Remove(sock) // a switch that was killed; we are started under the lock
	lfd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(lfd, &unix.SockaddrUnix{Name: sock}); err != nil {
		return fmt.Errorf("listening on %s: %w", sock, err)
	}
	if err := unix.Listen(lfd, 16); err != nil {
		return err
	}
	s := newSwitch(n)
	s.dir = dir
	s.upstream = hostResolvers("/etc/resolv.conf")
	defer os.Remove(membersPath(dir, n.Key))
	s.idle = make(chan struct{}, 1)
	go s.accept(lfd)
	go s.followMembers()
	ready.Close()
	for range s.idle {
		// Nobody joins while we hold the lock: with no member and no
		// connection now, none can come.
		if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			continue
		}
		s.mu.Lock()
		empty := len(s.members) == 0 && s.conns == 0
		if empty {
			os.Remove(sock)
		}
		s.mu.Unlock()
		if empty {
			return nil
		}
		unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	}
	return nil
}

// switch_ is one network's switch: its members by address and MAC.
type switch_ struct {
	n        Network
	dir      string // where the networks' sockets and member lists are
	gwMAC    [6]byte
	upstream []string
	dnsSlots chan struct{} // DNS answers in flight, bounded

	pubMu   sync.Mutex // one publishMembers at a time
	mu      sync.Mutex
	members map[netip.Addr]*member // reserved or attached
	byMAC   map[[6]byte]*member
	conns   int
	// wake tells followMembers that the set of pidfds changed.
	wakeR, wakeW int
	idle         chan struct{}
}

type member struct {
	Member
	ip    netip.Addr
	mac   [6]byte
	tap   *os.File // nil until attached
	pidfd int
}

func newSwitch(n Network) *switch_ {
	s := &switch_{n: n, members: map[netip.Addr]*member{}, byMAC: map[[6]byte]*member{}, dnsSlots: make(chan struct{}, 64)}
	s.gwMAC = macFor(n.Gateway)
	p := make([]int, 2)
	unix.Pipe2(p, unix.O_CLOEXEC|unix.O_NONBLOCK)
	s.wakeR, s.wakeW = p[0], p[1]
	return s
}

// macFor is the MAC address of ip on the network: locally administered,
// and the address in its last four bytes, as Docker makes them.
func macFor(ip netip.Addr) [6]byte {
	a := ip.As4()
	return [6]byte{0x02, 0x42, a[0], a[1], a[2], a[3]}
}

func (s *switch_) nudge() {
	select {
	case s.idle <- struct{}{}:
	default:
	}
}

func (s *switch_) accept(lfd int) {
	for {
		fd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
		if err != nil {
			if err == unix.EINTR || err == unix.ECONNABORTED {
				continue
			}
			return
		}
		// Only the user who runs the switch may join its network.
		if cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED); err != nil || int(cred.Uid) != os.Getuid() {
			unix.Close(fd)
			continue
		}
		s.mu.Lock()
		s.conns++
		s.mu.Unlock()
		go s.serveConn(fd)
	}
}

// serveConn serves one joining container: join reserves an address for
// as long as the connection lasts, attach makes it a member until its
// init exits.
func (s *switch_) serveConn(fd int) {
	var m *member
	defer func() {
		s.mu.Lock()
		if m != nil && m.tap == nil {
			s.drop(m)
		}
		s.conns--
		s.mu.Unlock()
		unix.Close(fd)
		s.nudge()
	}()
	buf := make([]byte, 8192)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != nil || n == 0 {
			return
		}
		fds := receivedFDs(oob[:oobn])
		var req request
		var r reply
		if err := json.Unmarshal(buf[:n], &req); err != nil {
			r.Error = "unreadable request"
		} else {
			switch {
			case req.Op == "join" && m == nil && req.Member != nil:
				var ep Endpoint
				m, ep, err = s.join(*req.Member)
				if err != nil {
					r.Error = err.Error()
				} else {
					r.Endpoint = &ep
				}
			case req.Op == "leave" && req.Member != nil:
				s.leave(req.Member.ID)
			case req.Op == "attach" && m != nil && m.tap == nil && len(fds) == 2:
				s.attach(m, fds[0], fds[1])
				fds = nil
			default:
				r.Error = fmt.Sprintf("unexpected request %q", req.Op)
			}
		}
		for _, f := range fds {
			unix.Close(f)
		}
		b, _ := json.Marshal(r)
		if _, err := unix.Write(fd, b); err != nil {
			return
		}
	}
}

func receivedFDs(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if f, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, f...)
		}
	}
	return fds
}

// join reserves the lowest free address of the subnet for m.
func (s *switch_) join(m Member) (*member, Endpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.members {
		if o.ID == m.ID {
			return nil, Endpoint{}, fmt.Errorf("container %s is on network %s already", m.Name, s.n.Name)
		}
	}
	last := lastAddr(s.n.Subnet)
	for ip := s.n.Subnet.Masked().Addr().Next(); ip.IsValid() && ip.Less(last); ip = ip.Next() {
		if ip == s.n.Gateway || s.members[ip] != nil {
			continue
		}
		mem := &member{Member: m, ip: ip, mac: macFor(ip), pidfd: -1}
		s.members[ip] = mem
		s.byMAC[mem.mac] = mem
		mac := mem.mac
		return mem, Endpoint{Network: s.n.Name, IP: ip.String(), Prefix: s.n.Subnet.Bits(), Gateway: s.n.Gateway.String(),
			MAC: fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5])}, nil
	}
	return nil, Endpoint{}, fmt.Errorf("network %s has no free address left in %s", s.n.Name, s.n.Subnet)
}

// lastAddr is the subnet's broadcast address.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	bits := p.Bits()
	for i := range 4 {
		for b := range 8 {
			if i*8+b >= bits {
				a[i] |= 0x80 >> b
			}
		}
	}
	return netip.AddrFrom4(a)
}

func (s *switch_) attach(m *member, tapFD, pidfd int) {
	unix.SetNonblock(tapFD, true)
	s.mu.Lock()
	m.tap = os.NewFile(uintptr(tapFD), "tap-"+m.Name)
	m.pidfd = pidfd
	s.mu.Unlock()
	unix.Write(s.wakeW, []byte{0})
	s.publishMembers()
	go s.readTap(m)
}

// drop forgets m (s.mu held).
func (s *switch_) drop(m *member) {
	if s.members[m.ip] != m {
		return
	}
	delete(s.members, m.ip)
	delete(s.byMAC, m.mac)
	if m.tap != nil {
		m.tap.Close()
	}
	if m.pidfd >= 0 {
		unix.Close(m.pidfd)
		m.pidfd = -1
	}
}

// followMembers drops each member whose init has exited, and tells Serve
// to look whether the switch is still needed.
func (s *switch_) followMembers() {
	for {
		s.mu.Lock()
		fds := []unix.PollFd{{Fd: int32(s.wakeR), Events: unix.POLLIN}}
		var ms []*member
		for _, m := range s.members {
			if m.pidfd >= 0 {
				fds = append(fds, unix.PollFd{Fd: int32(m.pidfd), Events: unix.POLLIN})
				ms = append(ms, m)
			}
		}
		s.mu.Unlock()
		if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
			return
		}
		if fds[0].Revents != 0 {
			b := make([]byte, 64)
			unix.Read(s.wakeR, b)
		}
		gone := false
		s.mu.Lock()
		for i, m := range ms {
			if fds[i+1].Revents != 0 {
				s.drop(m)
				gone = true
			}
		}
		s.mu.Unlock()
		if gone {
			s.publishMembers()
			s.nudge()
			// The switch lives as long as its network: what a member's
			// stay left (its joining, its names asked) goes back to the
			// system, rather than growing the heap to Go's 4 MiB
			// collection goal (about 11 KiB a container).
			debug.FreeOSMemory()
		}
	}
}

// readTap moves the frames m sends until its tap is closed.
func (s *switch_) readTap(m *member) {
	buf := make([]byte, 65536)
	for {
		n, err := m.tap.Read(buf)
		if err != nil {
			return
		}
		s.frame(m, buf[:n])
	}
}

// lookup answers a name for member from: a member's name, alias or short
// ID, alone or in SearchDomain, on this network or on another network
// from is on too (its switch's member list), so that a container on two
// networks resolves both networks' names whichever nameserver it asks.
func (s *switch_) lookup(from *member, name string) (netip.Addr, bool) {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	name = strings.TrimSuffix(name, "."+SearchDomain)
	s.mu.Lock()
	var here []listedMember
	for _, m := range s.members {
		if m.tap != nil {
			here = append(here, listedMember{Member: m.Member, IP: m.ip.String()})
		}
	}
	s.mu.Unlock()
	if ip, ok := findName(here, name); ok {
		return ip, true
	}
	lists, _ := filepath.Glob(filepath.Join(s.dir, "*"+membersSuffix))
	for _, path := range lists {
		if path == membersPath(s.dir, s.n.Key) {
			continue
		}
		var other []listedMember
		b, err := os.ReadFile(path)
		if err != nil || json.Unmarshal(b, &other) != nil {
			continue
		}
		if !slices.ContainsFunc(other, func(o listedMember) bool { return o.ID == from.ID }) {
			continue // from is not on that network
		}
		if ip, ok := findName(other, name); ok {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

func findName(members []listedMember, name string) (netip.Addr, bool) {
	for _, m := range members {
		match := strings.EqualFold(m.Name, name) || (len(name) >= 12 && strings.HasPrefix(m.ID, name))
		for _, a := range m.Aliases {
			match = match || strings.EqualFold(a, name)
		}
		if ip, err := netip.ParseAddr(m.IP); match && err == nil {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// A switch lists its attached members beside its socket, for the other
// switches' lookups.
const membersSuffix = ".members.json"

func membersPath(dir, key string) string { return filepath.Join(dir, key+membersSuffix) }

type listedMember struct {
	Member
	IP string `json:"ip"`
}

func (s *switch_) publishMembers() {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.Lock()
	list := []listedMember{}
	for _, m := range s.members {
		if m.tap != nil {
			list = append(list, listedMember{Member: m.Member, IP: m.ip.String()})
		}
	}
	s.mu.Unlock()
	b, _ := json.Marshal(list)
	path := membersPath(s.dir, s.n.Key)
	tmp := path + ".tmp"
	if os.WriteFile(tmp, b, 0o600) == nil {
		os.Rename(tmp, path)
	}
}

// leave drops the attached member with container ID id.
func (s *switch_) leave(id string) {
	s.mu.Lock()
	for _, m := range s.members {
		if m.ID == id && m.tap != nil {
			s.drop(m)
		}
	}
	s.mu.Unlock()
	unix.Write(s.wakeW, []byte{0})
	s.publishMembers()
	s.nudge()
}
