package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sandbox-dev/sandbox/container/containertypes"
	"github.com/sandbox-dev/sandbox/image"
	"github.com/sandbox-dev/sandbox/network"
	"github.com/sandbox-dev/sandbox/network/bridge"
	"github.com/sandbox-dev/sandbox/runtime"
)

// User-defined networks (`sandbox network create NAME`) are records in the
// store, networks/NAME.json; containers on one reach each other by name.
// While a network has running members, its switch (network/bridge) runs
// in the user's runtime directory; the record is all that outlives them.

var (
	ErrNoNetwork    = containertypes.ErrNoNetwork
	ErrNetworkInUse = containertypes.ErrNetworkInUse
)

// Network is a user-defined network's record (package containertypes).
type Network = containertypes.Network

// Subnet is a network's subnet and gateway (package containertypes).
type Subnet = containertypes.Subnet

// NetworkOptions are `network create`'s choices (package containertypes).
type NetworkOptions = containertypes.NetworkOptions

// networksDirName is the store's directory of network records.
const networksDirName = "networks"

func networksDir(s *image.Store) string { return filepath.Join(s.Root, networksDirName) }

func networkPath(s *image.Store, name string) string {
	return filepath.Join(networksDir(s), name+".json")
}

// switchDir is where the networks' switches listen.
func switchDir(s *image.Store) (string, error) {
	if s.RunDir == "" {
		return "", errors.New("user-defined networks need a runtime directory ($XDG_RUNTIME_DIR)")
	}
	if err := runtime.PrivateDir(s.RunDir); err != nil {
		return "", err
	}
	dir := filepath.Join(s.RunDir, "networks")
	return dir, os.MkdirAll(dir, 0o700)
}

// CreateNetwork makes network name.
func CreateNetwork(s *image.Store, name string, o NetworkOptions) (Network, error) {
	if err := checkKey("name", name); err != nil {
		return Network{}, fmt.Errorf("network name %q: %w", name, err)
	}
	if network.IsMode(name) || name == "bridge" {
		return Network{}, fmt.Errorf("network name %q is a network mode (%s, and Docker's bridge): choose another name", name, strings.Join(network.Modes, ", "))
	}
	if _, err := InspectNetwork(s, name); err == nil {
		return Network{}, fmt.Errorf("network %s exists already (sandbox network inspect %s)", name, name)
	}
	existing, err := Networks(s)
	if err != nil {
		return Network{}, err
	}
	subnet, gw, err := pickSubnet(o, existing)
	if err != nil {
		return Network{}, err
	}
	n := Network{Name: name, ID: image.RandomHex(32), Driver: "bridge", Created: time.Now().UTC(),
		Subnets: []Subnet{{Subnet: subnet.String(), Gateway: gw.String()}}, DNSEnabled: true, Labels: o.Labels}
	if err := os.MkdirAll(networksDir(s), 0o700); err != nil {
		return Network{}, err
	}
	// Written aside and linked into place: of two creates of one name,
	// one wins.
	tmp := networkPath(s, name) + "." + image.RandomHex(4)
	if err := image.WriteFileAtomic(tmp, mustJSON(n), 0o600); err != nil {
		return Network{}, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, networkPath(s, name)); err != nil {
		if errors.Is(err, os.ErrExist) {
			return Network{}, fmt.Errorf("network %s exists already (sandbox network inspect %s)", name, name)
		}
		return Network{}, fmt.Errorf("making network %s: %w", name, err)
	}
	return n, nil
}

// pickSubnet is the subnet asked for, checked, or the first 10.89.N.0/24
// no network has.
func pickSubnet(o NetworkOptions, existing []Network) (netip.Prefix, netip.Addr, error) {
	taken := func(p netip.Prefix) string {
		for _, n := range existing {
			for _, sn := range n.Subnets {
				if q, err := netip.ParsePrefix(sn.Subnet); err == nil && q.Overlaps(p) {
					return n.Name
				}
			}
		}
		return ""
	}
	var subnet netip.Prefix
	if o.Subnet != "" {
		p, err := netip.ParsePrefix(o.Subnet)
		if err != nil || !p.Addr().Is4() || p.Bits() > 29 || p.Bits() < 8 {
			return subnet, netip.Addr{}, fmt.Errorf("--subnet %q: give an IPv4 subnet from /8 to /29, like 10.90.0.0/24", o.Subnet)
		}
		subnet = p.Masked()
		if q, _ := netip.ParsePrefix(network.ContainerIP + "/24"); q.Overlaps(subnet) {
			return subnet, netip.Addr{}, fmt.Errorf("--subnet %s overlaps %s, every container's private network: choose another", subnet, q.Masked())
		}
		if other := taken(subnet); other != "" {
			return subnet, netip.Addr{}, fmt.Errorf("--subnet %s overlaps network %s's", subnet, other)
		}
	} else {
		for i := 0; i < 256 && !subnet.IsValid(); i++ {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 89, byte(i), 0}), 24)
			if taken(p) == "" {
				subnet = p
			}
		}
		if !subnet.IsValid() {
			return subnet, netip.Addr{}, errors.New("every subnet 10.89.0.0/24 to 10.89.255.0/24 is taken: give --subnet")
		}
	}
	gw := subnet.Addr().Next()
	if o.Gateway != "" {
		g, err := netip.ParseAddr(o.Gateway)
		if err != nil || !subnet.Contains(g) || g == subnet.Addr() {
			return subnet, netip.Addr{}, fmt.Errorf("--gateway %q: give an address in %s", o.Gateway, subnet)
		}
		gw = g
	}
	return subnet, gw, nil
}

// InspectNetwork reads network name's record.
func InspectNetwork(s *image.Store, name string) (Network, error) {
	b, err := os.ReadFile(networkPath(s, name))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Network{}, fmt.Errorf("%w: %q (see `sandbox network ls`)", ErrNoNetwork, name)
		}
		return Network{}, err
	}
	var n Network
	if err := json.Unmarshal(b, &n); err != nil {
		return Network{}, fmt.Errorf("reading network %s: %w", name, err)
	}
	return n, nil
}

// Networks lists the networks, by name.
func Networks(s *image.Store) ([]Network, error) {
	entries, err := os.ReadDir(networksDir(s))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var out []Network
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if n, err := InspectNetwork(s, name); err == nil {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// networksOf are the user-defined networks c is on (usersBy's key).
func networksOf(c *Container) []string { return network.Names(c.Config.Network) }

// RemoveNetwork removes network name; one a container is on (running or
// not) is refused, naming the containers.
func RemoveNetwork(s *image.Store, name string) error {
	if _, err := InspectNetwork(s, name); err != nil {
		return err
	}
	users, err := usersBy(s, networksOf)
	if err != nil {
		return err
	}
	if len(users[name]) > 0 {
		return fmt.Errorf("%w: network %s has containers %s: remove them first (sandbox rm), or take them off it (sandbox network disconnect)", ErrNetworkInUse, name, containerNames(users[name]))
	}
	return os.Remove(networkPath(s, name))
}

// PruneNetworks removes every network no container is on.
func PruneNetworks(s *image.Store) ([]string, error) {
	nets, err := Networks(s)
	if err != nil {
		return nil, err
	}
	users, err := usersBy(s, networksOf)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, n := range nets {
		if len(users[n.Name]) > 0 {
			continue
		}
		if err := RemoveNetwork(s, n.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, n.Name)
	}
	return removed, errors.Join(errs...)
}

// checkNetworks checks that the networks a config names exist.
func checkNetworks(s *image.Store, cfg Config) error {
	names := network.Names(cfg.Network)
	if len(names) > 0 && cfg.Pod != "" && !cfg.PodInfra {
		return fmt.Errorf("--network %s: a pod's member is on its pod's network; put the pod on it instead", cfg.Network)
	}
	if len(names) == 0 && len(cfg.NetworkAliases) > 0 {
		return errors.New("--network-alias needs a network made by `sandbox network create` (--network NAME)")
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			return fmt.Errorf("--network %s names network %s twice", cfg.Network, n)
		}
		seen[n] = true
		if _, err := InspectNetwork(s, n); err != nil {
			if errors.Is(err, ErrNoNetwork) {
				var known []string
				nets, _ := Networks(s)
				for _, k := range nets {
					known = append(known, k.Name)
				}
				hint := "make it with `sandbox network create " + n + "`"
				if len(known) > 0 {
					hint += "; the networks are " + strings.Join(known, ", ")
				}
				return fmt.Errorf("--network %s: no network %q: %s (or use a mode: %s)", cfg.Network, n, hint, strings.Join(network.Modes, ", "))
			}
			return err
		}
	}
	return nil
}

// joinNetworks reserves the container's places on its networks, in order:
// the leases give its interfaces' addresses, and hand over its taps
// (runtime.Options.Taps). On error, nothing stays reserved.
func joinNetworks(s *image.Store, c *Container) ([]*bridge.Lease, error) {
	names := network.Names(c.Config.Network)
	if len(names) == 0 {
		return nil, nil
	}
	dir, err := switchDir(s)
	if err != nil {
		return nil, err
	}
	var leases []*bridge.Lease
	fail := func(err error) ([]*bridge.Lease, error) {
		for _, l := range leases {
			l.Close()
		}
		return nil, err
	}
	for _, name := range names {
		rec, err := InspectNetwork(s, name)
		if err != nil {
			return fail(err)
		}
		if len(rec.Subnets) == 0 {
			return fail(fmt.Errorf("network %s has no subnet", name))
		}
		subnet, err1 := netip.ParsePrefix(rec.Subnets[0].Subnet)
		gw, err2 := netip.ParseAddr(rec.Subnets[0].Gateway)
		if err1 != nil || err2 != nil {
			return fail(fmt.Errorf("network %s: bad subnet %q or gateway %q in its record", name, rec.Subnets[0].Subnet, rec.Subnets[0].Gateway))
		}
		m := bridge.Member{ID: c.ID, Name: c.Name, Aliases: c.Config.NetworkAliases}
		l, err := bridge.Join(dir, bridge.Network{Key: rec.ID[:16], Name: name, Subnet: subnet, Gateway: gw}, m, runtime.StartSwitch(s.RunDir))
		if err != nil {
			return fail(err)
		}
		leases = append(leases, l)
	}
	return leases, nil
}

// tapsFor are the interfaces the leases give, for the init to make.
func tapsFor(leases []*bridge.Lease) []runtime.Tap {
	var taps []runtime.Tap
	for i, l := range leases {
		l.Endpoint.Interface = bridge.Interface(i)
		taps = append(taps, tapOf(l.Endpoint))
	}
	return taps
}

func tapOf(ep bridge.Endpoint) runtime.Tap {
	return runtime.Tap{Name: ep.Interface, MAC: ep.MAC, Addr: fmt.Sprintf("%s/%d", ep.IP, ep.Prefix)}
}

// ConnectNetwork puts container ref on network name (with more aliases).
// A running container joins it at once: its init makes one more
// interface, handed to the network's switch, and its resolv.conf gains
// the network's nameserver; a stopped one joins at its next start.
func ConnectNetwork(s *image.Store, name, ref string, aliases []string) error {
	return editNetworks(s, ref, func(c *Container, names []string) ([]string, error) {
		if _, err := InspectNetwork(s, name); err != nil {
			return nil, err
		}
		if c.Config.Pod != "" {
			return nil, fmt.Errorf("%s is in pod %s: a pod's containers are on its network", c.Name, c.Config.Pod)
		}
		if slices.Contains(names, name) {
			return nil, fmt.Errorf("container %s is on network %s already", c.Name, name)
		}
		// The default and slirp become the network's (with a private
		// network of their own still); a mode chosen otherwise stays.
		if m := c.Config.Network; network.IsMode(m) && m != "" && m != "slirp" {
			return nil, fmt.Errorf("container %s has network mode %s, which cannot be joined with a network: make it anew with --network %s", c.Name, m, name)
		}
		for _, a := range aliases {
			if err := checkKey("network_aliases", a); err != nil {
				return nil, err
			}
			if !slices.Contains(c.Config.NetworkAliases, a) {
				c.Config.NetworkAliases = append(c.Config.NetworkAliases, a)
			}
		}
		return append(names, name), nil
	})
}

// DisconnectNetwork takes container ref off network name: a running one at
// once (its interface goes), a stopped one from its next start. With no
// network left it keeps a private network of its own.
func DisconnectNetwork(s *image.Store, name, ref string) error {
	return editNetworks(s, ref, func(c *Container, names []string) ([]string, error) {
		i := slices.Index(names, name)
		if i < 0 {
			return nil, fmt.Errorf("container %s is not on network %s", c.Name, name)
		}
		return slices.Delete(slices.Clone(names), i, i+1), nil
	})
}

func editNetworks(s *image.Store, ref string, edit func(c *Container, names []string) ([]string, error)) error {
	unlock, err := s.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	c, err := Find(s, ref)
	if err != nil {
		return err
	}
	before := network.Names(c.Config.Network)
	names, err := edit(c, before)
	if err != nil {
		return err
	}
	if st := CurrentState(s, c.ID); st.Status == Running {
		if !network.IsPrivate(c.Config.Network) {
			return fmt.Errorf("%w: container %s runs on the host's network (or none): networks can be joined live only by a container with a network of its own; stop it first", ErrRunning, c.Name)
		}
		if err := changeLive(s, c, st, before, names); err != nil {
			return err
		}
	}
	c.Config.Network = strings.Join(names, ",")
	if len(names) == 0 {
		c.Config.Network, c.Config.NetworkAliases = "slirp", nil
	}
	return image.WriteFileAtomic(recordPath(s, c.ID), recordJSON(c), 0o600)
}

// changeLive joins or leaves networks for a running container: the one
// network names has and before has not, or the other way round.
func changeLive(s *image.Store, c *Container, st State, before, after []string) error {
	dir, err := switchDir(s)
	if err != nil {
		return err
	}
	for _, name := range before {
		if slices.Contains(after, name) {
			continue
		}
		rec, err := InspectNetwork(s, name)
		if err != nil {
			return err
		}
		if err := bridge.Leave(dir, bridge.Network{Key: rec.ID[:16], Name: name}, c.ID); err != nil {
			return err
		}
		st.Networks = slices.DeleteFunc(st.Networks, func(ep bridge.Endpoint) bool { return ep.Network == name })
	}
	for _, name := range after {
		if slices.Contains(before, name) {
			continue
		}
		ep, err := joinLive(s, c, st, dir, name)
		if err != nil {
			return err
		}
		st.Networks = append(st.Networks, ep)
	}
	// Only the networks are ours to change, and only while the run we
	// joined is the one recorded: one that ended or was started again
	// meanwhile (its recorder wrote the state) keeps its own record.
	cur := readState(s, c.ID)
	if cur.Status != Running || cur.Pid != st.Pid || cur.PidStart != st.PidStart {
		return nil
	}
	cur.Networks = st.Networks
	if err := writeState(s, c.ID, cur); err != nil {
		return err
	}
	return rewriteResolv(s, c, st.Networks)
}

// joinLive puts a running container on network name.
func joinLive(s *image.Store, c *Container, st State, dir, name string) (bridge.Endpoint, error) {
	rec, err := InspectNetwork(s, name)
	if err != nil {
		return bridge.Endpoint{}, err
	}
	subnet, err1 := netip.ParsePrefix(rec.Subnets[0].Subnet)
	gw, err2 := netip.ParseAddr(rec.Subnets[0].Gateway)
	if err1 != nil || err2 != nil {
		return bridge.Endpoint{}, fmt.Errorf("network %s: bad subnet or gateway in its record", name)
	}
	// The lowest interface name no network of it has.
	iface := ""
	for i := 0; iface == ""; i++ {
		n := bridge.Interface(i)
		if !slices.ContainsFunc(st.Networks, func(ep bridge.Endpoint) bool { return ep.Interface == n }) {
			iface = n
		}
	}
	m := bridge.Member{ID: c.ID, Name: c.Name, Aliases: c.Config.NetworkAliases}
	l, err := bridge.Join(dir, bridge.Network{Key: rec.ID[:16], Name: name, Subnet: subnet, Gateway: gw}, m, runtime.StartSwitch(s.RunDir))
	if err != nil {
		return bridge.Endpoint{}, err
	}
	defer l.Close()
	l.Endpoint.Interface = iface
	tap, err := runtime.MakeTap(execSocket(liveDir(s, c)), tapOf(l.Endpoint))
	if err != nil {
		return bridge.Endpoint{}, fmt.Errorf("making %s in container %s: %w", iface, c.Name, err)
	}
	defer tap.Close()
	if err := l.Attach(tap, st.Pid); err != nil {
		return bridge.Endpoint{}, err
	}
	return l.Endpoint, nil
}

// rewriteResolv rewrites a running container's resolv.conf in place (it is
// bound into the container: a new file would not be seen) for the
// networks it is on now.
func rewriteResolv(s *image.Store, c *Container, networks []bridge.Endpoint) error {
	hostResolv, _ := os.ReadFile("/etc/resolv.conf")
	content := resolvFor(c.Config, string(hostResolv), networks)
	f, err := os.OpenFile(filepath.Join(Dir(s, c.ID), "userdata", "resolv.conf"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
