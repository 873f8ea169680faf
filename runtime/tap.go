package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A container on user-defined networks (network/bridge) has one tap device
// per network in its own network namespace. Its init makes them, with
// their addresses, before the root is assembled (/dev/net/tun is the
// host's then), and at the network stage sends their descriptors to the
// parent on the sync socket, which hands them to the networks' switches
// (Options.Taps). The init keeps none: a tap whose switch exits goes away.

// tunDevice is where the init opens /dev/net/tun: the host's by path while
// its root is being assembled; after pivot_root, through the O_PATH
// descriptor keepTunDevice kept (each open makes a new tap in the opener's
// network namespace, so a later `network connect` can make one).
var tunDevice = "/dev/net/tun"

// keepTunDevice keeps a way back to /dev/net/tun for a container with a
// network of its own. The init's descriptors reach no payload (close-on-
// exec) and the init is not dumpable.
func keepTunDevice() {
	fd, err := unix.Open("/dev/net/tun", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err == nil {
		tunDevice = fmt.Sprintf("/proc/self/fd/%d", fd)
	}
}

// MakeTap asks the init listening on socket for one more tap (a network
// connected to a running container) and returns its descriptor.
func MakeTap(socket string, t Tap) (*os.File, error) {
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: socket, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("reaching the container's init: %w", err)
	}
	defer conn.Close()
	b, _ := json.Marshal(ExecRequest{Tap: &t})
	if _, _, err := conn.WriteMsgUnix(b, nil, nil); err != nil {
		return nil, err
	}
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("reading the init's answer: %w", err)
	}
	var r execReply
	if err := json.Unmarshal(buf[:n], &r); err != nil {
		return nil, err
	}
	if r.Error != "" {
		return nil, errors.New(r.Error)
	}
	return fdFromOOB(oob[:oobn])
}

// Tap is one interface the init makes.
type Tap struct {
	Name string
	MAC  string
	// Addr is the interface's address with its prefix, 10.89.0.2/24.
	Addr string
}

// ifreq is struct ifreq: a name and a 24-byte union.
type ifreq struct {
	name [unix.IFNAMSIZ]byte
	data [24]byte
}

func ioctlIfreq(fd int, req uintptr, ifr *ifreq) error {
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(ifr))); errno != 0 {
		return errno
	}
	return nil
}

// makeTaps makes the taps, configured and up, and returns their
// descriptors in the same order.
func makeTaps(taps []Tap) ([]int, error) {
	if len(taps) == 0 {
		return nil, nil
	}
	sock, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("configuring the network interfaces: %w", err)
	}
	defer unix.Close(sock)
	var fds []int
	for _, t := range taps {
		fd, err := makeTap(sock, t)
		if err != nil {
			for _, f := range fds {
				unix.Close(f)
			}
			return nil, fmt.Errorf("making interface %s for %s: %w", t.Name, t.Addr, err)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

func makeTap(sock int, t Tap) (int, error) {
	prefix, err := netip.ParsePrefix(t.Addr)
	if err != nil || !prefix.Addr().Is4() {
		return -1, fmt.Errorf("bad address %q", t.Addr)
	}
	mac, err := net.ParseMAC(t.MAC)
	if err != nil || len(mac) != 6 {
		return -1, fmt.Errorf("bad MAC address %q", t.MAC)
	}
	fd, err := unix.Open(tunDevice, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		if os.IsPermission(err) {
			return -1, fmt.Errorf("opening /dev/net/tun: %w (root can allow it: chmod 0666 /dev/net/tun, as Debian has it)", err)
		}
		return -1, fmt.Errorf("opening /dev/net/tun: %w", err)
	}
	var ifr ifreq
	copy(ifr.name[:unix.IFNAMSIZ-1], t.Name)
	*(*uint16)(unsafe.Pointer(&ifr.data[0])) = unix.IFF_TAP | unix.IFF_NO_PI
	if err := ioctlIfreq(fd, unix.TUNSETIFF, &ifr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("TUNSETIFF: %w", err)
	}
	steps := []struct {
		what string
		req  uintptr
		set  func(*ifreq)
	}{
		{"setting its MAC address", unix.SIOCSIFHWADDR, func(r *ifreq) {
			*(*uint16)(unsafe.Pointer(&r.data[0])) = unix.ARPHRD_ETHER
			copy(r.data[2:8], mac)
		}},
		{"setting its address", unix.SIOCSIFADDR, func(r *ifreq) { setInet4(r, prefix.Addr().As4()) }},
		{"setting its netmask", unix.SIOCSIFNETMASK, func(r *ifreq) {
			m := net.CIDRMask(prefix.Bits(), 32)
			setInet4(r, [4]byte(m))
		}},
		{"bringing it up", unix.SIOCSIFFLAGS, func(r *ifreq) {
			*(*uint16)(unsafe.Pointer(&r.data[0])) = unix.IFF_UP | unix.IFF_RUNNING
		}},
	}
	for _, st := range steps {
		var r ifreq
		copy(r.name[:unix.IFNAMSIZ-1], t.Name)
		st.set(&r)
		if err := ioctlIfreq(sock, st.req, &r); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("%s: %w", st.what, err)
		}
	}
	return fd, nil
}

// setInet4 puts a struct sockaddr_in with addr in r's union.
func setInet4(r *ifreq, addr [4]byte) {
	*(*uint16)(unsafe.Pointer(&r.data[0])) = unix.AF_INET
	copy(r.data[4:8], addr[:])
}

// sendTaps sends the taps' descriptors to the parent as one message on the
// sync socket, and closes ours.
func sendTaps(fds []int) error {
	err := unix.Sendmsg(fdSync, []byte{'T'}, unix.UnixRights(fds...), nil, 0)
	for _, fd := range fds {
		unix.Close(fd)
	}
	if err != nil {
		return fmt.Errorf("handing the network interfaces to the parent: %w", err)
	}
	return nil
}

// receiveTaps reads the n descriptors the init sent (sendTaps).
func (c *child) receiveTaps(n int) ([]*os.File, error) {
	oob := make([]byte, unix.CmsgSpace(4*n))
	buf := make([]byte, 1)
	_, oobn, _, _, err := unix.Recvmsg(int(c.sync.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("receiving the network interfaces from the sandbox init: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	var fds []int
	if err == nil {
		for _, m := range msgs {
			if f, err := unix.ParseUnixRights(&m); err == nil {
				fds = append(fds, f...)
			}
		}
	}
	var files []*os.File
	for i, fd := range fds {
		files = append(files, os.NewFile(uintptr(fd), fmt.Sprintf("tap%d", i)))
	}
	if len(files) != n || buf[0] != 'T' {
		for _, f := range files {
			f.Close()
		}
		return nil, fmt.Errorf("the sandbox init sent %d network interfaces, not %d", len(files), n)
	}
	return files, nil
}
