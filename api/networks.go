package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	ntypes "github.com/moby/moby/api/types/network"

	"github.com/sandbox-dev/sandbox/container/containertypes"
)

// The modes every Docker client expects to find as networks.
var builtinNetworks = []string{"bridge", "host", "none"}

func networkOut(n containertypes.Network) ntypes.Inspect {
	out := ntypes.Inspect{Network: ntypes.Network{Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver,
		Internal: n.Internal, Labels: n.Labels, Options: map[string]string{}, IPAM: ntypes.IPAM{Driver: "default", Options: map[string]string{}}},
		Containers: map[string]ntypes.EndpointResource{}}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	for _, sn := range n.Subnets {
		p, _ := netip.ParsePrefix(sn.Subnet)
		g, _ := netip.ParseAddr(sn.Gateway)
		out.IPAM.Config = append(out.IPAM.Config, ntypes.IPAMConfig{Subnet: p, Gateway: g})
	}
	return out
}

func builtinOut(name string) ntypes.Inspect {
	return ntypes.Inspect{Network: ntypes.Network{Name: name, ID: name, Scope: "local", Driver: name,
		Labels: map[string]string{}, Options: map[string]string{}, IPAM: ntypes.IPAM{Driver: "default"}},
		Containers: map[string]ntypes.EndpointResource{}}
}

func (s *Server) networkList(w http.ResponseWriter, r *http.Request) error {
	fs, err := filters(r)
	if err != nil {
		return err
	}
	nets, err := s.B.Networks()
	if err != nil {
		return err
	}
	var all []ntypes.Inspect
	for _, b := range builtinNetworks {
		all = append(all, builtinOut(b))
	}
	for _, n := range nets {
		all = append(all, networkOut(n))
	}
	out := []ntypes.Inspect{}
	for _, n := range all {
		if networkMatches(n, fs) {
			out = append(out, n)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func networkMatches(n ntypes.Inspect, fs []string) bool {
	for _, f := range fs {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "name":
			if !strings.Contains(n.Name, v) {
				return false
			}
		case "id":
			if !strings.HasPrefix(n.ID, v) {
				return false
			}
		case "driver":
			if n.Driver != v {
				return false
			}
		case "label":
			lk, lv, hasV := strings.Cut(v, "=")
			have, ok := n.Labels[lk]
			if !ok || (hasV && have != lv) {
				return false
			}
		}
	}
	return true
}

// findNetwork finds a network by name or ID prefix.
func (s *Server) findNetwork(ref string) (containertypes.Network, error) {
	if n, err := s.B.InspectNetwork(ref); err == nil {
		return n, nil
	}
	nets, err := s.B.Networks()
	if err != nil {
		return containertypes.Network{}, err
	}
	for _, n := range nets {
		if strings.HasPrefix(n.ID, ref) {
			return n, nil
		}
	}
	return containertypes.Network{}, fmt.Errorf("%w: %q", containertypes.ErrNoNetwork, ref)
}

func (s *Server) networkInspect(w http.ResponseWriter, r *http.Request) error {
	ref := r.PathValue("id")
	for _, b := range builtinNetworks {
		if ref == b {
			writeJSON(w, http.StatusOK, builtinOut(b))
			return nil
		}
	}
	n, err := s.findNetwork(ref)
	if err != nil {
		return err
	}
	out := networkOut(n)
	list, _ := s.B.PS(false, nil)
	for _, l := range list {
		row, c := l.Row, l.Container
		if !containsName(c.Networks, n.Name) {
			continue
		}
		er := ntypes.EndpointResource{Name: c.Name}
		for _, ep := range row.State.Networks {
			if ep.Network == n.Name {
				if p, err := netip.ParsePrefix(fmt.Sprintf("%s/%d", ep.IP, ep.Prefix)); err == nil {
					er.IPv4Address = p
				}
			}
		}
		out.Containers[c.ID] = er
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func containsName(names []string, n string) bool {
	for _, x := range names {
		if x == n {
			return true
		}
	}
	return false
}

func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request) error {
	var req ntypes.CreateRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Driver != "" && req.Driver != "bridge" {
		return badRequest(fmt.Errorf("network driver %q: only bridge is served (a switch of the user's, docs/networks.md)", req.Driver))
	}
	if req.Internal {
		return badRequest(errors.New("internal networks are not served: every member keeps its own outbound access"))
	}
	if req.EnableIPv6 != nil && *req.EnableIPv6 {
		return badRequest(errors.New("IPv6 networks are not served: networks are IPv4 only"))
	}
	o := containertypes.NetworkOptions{Labels: req.Labels}
	if req.IPAM != nil && len(req.IPAM.Config) > 0 {
		c := req.IPAM.Config[0]
		if c.Subnet.IsValid() {
			o.Subnet = c.Subnet.String()
		}
		if c.Gateway.IsValid() {
			o.Gateway = c.Gateway.String()
		}
	}
	n, err := s.B.CreateNetwork(req.Name, o)
	if err != nil {
		if strings.Contains(err.Error(), "exists already") {
			return conflict(err)
		}
		return badRequest(err)
	}
	writeJSON(w, http.StatusCreated, ntypes.CreateResponse{ID: n.ID})
	return nil
}

func (s *Server) networkRemove(w http.ResponseWriter, r *http.Request) error {
	n, err := s.findNetwork(r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.B.RemoveNetwork(n.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) networkPrune(w http.ResponseWriter, r *http.Request) error {
	removed, err := s.B.PruneNetworks()
	if err != nil {
		return err
	}
	if removed == nil {
		removed = []string{}
	}
	writeJSON(w, http.StatusOK, ntypes.PruneReport{NetworksDeleted: removed})
	return nil
}

func (s *Server) networkConnect(w http.ResponseWriter, r *http.Request) error {
	var req ntypes.ConnectRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	n, err := s.findNetwork(r.PathValue("id"))
	if err != nil {
		return err
	}
	var aliases []string
	if req.EndpointConfig != nil {
		aliases = req.EndpointConfig.Aliases
	}
	if err := s.B.ConnectNetwork(n.Name, req.Container, aliases); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) networkDisconnect(w http.ResponseWriter, r *http.Request) error {
	var req ntypes.DisconnectRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	n, err := s.findNetwork(r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.B.DisconnectNetwork(n.Name, req.Container); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
