package bridge

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// dns answers one query sent to the gateway: a member's name (A: its
// address; other types: no records), any name in SearchDomain that is not
// one (NXDOMAIN, without asking anyone), and other names by asking the
// host's resolvers. nil: no answer at all (an unreadable query).
func (s *switch_) dns(from *member, query []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil || h.Response {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(q.Name.String()), ".")
	ip, ours := s.lookup(from, name)
	if !ours && !strings.HasSuffix(name, "."+SearchDomain) && name != SearchDomain {
		if r := forward(s.upstream, query); r != nil {
			return r
		}
		return answer(h, q, dnsmessage.RCodeServerFailure, netip.Addr{})
	}
	if !ours {
		return answer(h, q, dnsmessage.RCodeNameError, netip.Addr{})
	}
	if q.Type != dnsmessage.TypeA {
		ip = netip.Addr{}
	}
	return answer(h, q, dnsmessage.RCodeSuccess, ip)
}

func answer(h dnsmessage.Header, q dnsmessage.Question, rcode dnsmessage.RCode, ip netip.Addr) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true,
		RecursionDesired: h.RecursionDesired, RecursionAvailable: true, RCode: rcode})
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil
	}
	if ip.IsValid() {
		rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 5}
		if b.AResource(rh, dnsmessage.AResource{A: ip.As4()}) != nil {
			return nil
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// forward asks the host's resolvers, in turn, and returns the first reply.
func forward(servers []string, query []byte) []byte {
	buf := make([]byte, 65536)
	for _, srv := range servers {
		c, err := net.Dial("udp", net.JoinHostPort(srv, "53"))
		if err != nil {
			continue
		}
		c.SetDeadline(time.Now().Add(4 * time.Second))
		if _, err := c.Write(query); err == nil {
			if n, err := c.Read(buf); err == nil {
				c.Close()
				return append([]byte(nil), buf[:n]...)
			}
		}
		c.Close()
	}
	return nil
}

// hostResolvers are the nameservers of the host's resolv.conf.
func hostResolvers(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if _, err := netip.ParseAddr(fields[1]); err == nil {
				out = append(out, fields[1])
			}
		}
	}
	return out
}
