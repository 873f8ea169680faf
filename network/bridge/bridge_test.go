package bridge

import (
	"encoding/binary"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func testSwitch(t *testing.T) *switch_ {
	t.Helper()
	n := Network{Key: "k", Name: "app", Subnet: netip.MustParsePrefix("10.89.3.0/29"), Gateway: netip.MustParseAddr("10.89.3.1")}
	s := newSwitch(n)
	s.dir = t.TempDir()
	return s
}

func TestLastAddr(t *testing.T) {
	for p, want := range map[string]string{"10.89.0.0/24": "10.89.0.255", "10.90.7.128/25": "10.90.7.255", "10.0.0.0/8": "10.255.255.255"} {
		if got := lastAddr(netip.MustParsePrefix(p)).String(); got != want {
			t.Errorf("lastAddr(%s) = %s, want %s", p, got, want)
		}
	}
}

// Addresses are given lowest first, never the gateway or the broadcast,
// and the subnet running out is an error that says so.
func TestJoinAddresses(t *testing.T) {
	s := testSwitch(t)
	var got []string
	for i := range 5 {
		m, ep, err := s.join(Member{ID: string(rune('a' + i)), Name: string(rune('a' + i))})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ep.IP)
		if m.mac != macFor(m.ip) || ep.MAC != "02:42:0a:59:03:0"+string(rune('2'+i)) {
			t.Errorf("member %d: MAC %s", i, ep.MAC)
		}
	}
	want := []string{"10.89.3.2", "10.89.3.3", "10.89.3.4", "10.89.3.5", "10.89.3.6"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("addresses %v, want %v", got, want)
		}
	}
	if _, _, err := s.join(Member{ID: "f"}); err == nil {
		t.Error("a /29 gave a sixth address")
	}
	if _, _, err := s.join(Member{ID: "a"}); err == nil {
		t.Error("a container joined twice")
	}
}

// A frame whose source is not its member's own is dropped.
func TestSourceChecked(t *testing.T) {
	s := testSwitch(t)
	m, _, _ := s.join(Member{ID: "a", Name: "a"})
	frame := func(srcIP netip.Addr) []byte {
		f := make([]byte, 34)
		copy(f[6:12], m.mac[:])
		binary.BigEndian.PutUint16(f[12:14], etherIPv4)
		a := srcIP.As4()
		copy(f[26:30], a[:])
		return f
	}
	if !s.sourceIsMember(m, frame(m.ip)) {
		t.Error("the member's own address was refused")
	}
	if s.sourceIsMember(m, frame(netip.MustParseAddr("10.89.3.5"))) {
		t.Error("another address was taken as the member's")
	}
	if s.sourceIsMember(m, []byte{1, 2, 3}) {
		t.Error("a runt frame passed")
	}
}

// DNS: a member's name and alias, in the search domain too; other names
// in the search domain are NXDOMAIN without asking anyone.
func TestDNS(t *testing.T) {
	s := testSwitch(t)
	web, _, _ := s.join(Member{ID: "0123456789abcdef", Name: "web", Aliases: []string{"www"}})
	r, w, _ := os.Pipe()
	defer r.Close()
	web.tap = w // attached
	asker, _, _ := s.join(Member{ID: "x", Name: "asker"})
	ask := func(name string) (dnsmessage.RCode, []netip.Addr) {
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, RecursionDesired: true})
		b.StartQuestions()
		b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
		q, _ := b.Finish()
		var p dnsmessage.Parser
		h, err := p.Start(s.dns(asker, q))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p.SkipAllQuestions()
		var ips []netip.Addr
		for {
			a, err := p.AnswerHeader()
			if err != nil {
				break
			}
			ar, _ := p.AResource()
			_ = a
			ips = append(ips, netip.AddrFrom4(ar.A))
		}
		return h.RCode, ips
	}
	for _, n := range []string{"web.", "www.", "web.dns.sandbox.", "0123456789ab."} {
		if rc, ips := ask(n); rc != dnsmessage.RCodeSuccess || len(ips) != 1 || ips[0] != web.ip {
			t.Errorf("%s: %v %v, want %s", n, rc, ips, web.ip)
		}
	}
	if rc, _ := ask("nosuch.dns.sandbox."); rc != dnsmessage.RCodeNameError {
		t.Errorf("an unknown name in the search domain: %v, want NXDOMAIN", rc)
	}
}
