package network

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParsePort(t *testing.T) {
	tests := []struct {
		in   string
		want Port
	}{
		{"8080:80", Port{"127.0.0.1", 8080, 80, "tcp"}},
		{"8080:80/udp", Port{"127.0.0.1", 8080, 80, "udp"}},
		{"0.0.0.0:8080:80/tcp", Port{"0.0.0.0", 8080, 80, "tcp"}},
		{"192.0.2.1:1:65535", Port{"192.0.2.1", 1, 65535, "tcp"}},
	}
	for _, tt := range tests {
		got, err := ParsePort(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParsePort(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"80", "8080:80/sctp", "0:80", "8080:65536", "x:80", "localhost:8080:80", ":8080:80", "[]:8080:80", "[::1:8080:80", "1:2:3:4", "[::1]:8080:80"} {
		if p, err := ParsePort(bad); err == nil {
			t.Errorf("ParsePort(%q) = %+v, want an error", bad, p)
		}
	}
}

func TestParsePortsRefusesTheSameHostPortTwice(t *testing.T) {
	_, err := ParsePorts([]string{"8080:80", "127.0.0.1:8080:81"})
	if err == nil || !strings.Contains(err.Error(), "both publish 127.0.0.1:8080/tcp") {
		t.Fatalf("err = %v", err)
	}
	// The same port number for tcp and udp is two ports.
	ps, err := ParsePorts([]string{"53:53/tcp", "53:53/udp"})
	if err != nil || len(ps) != 2 {
		t.Fatalf("tcp and udp on one number: %v, %v", ps, err)
	}
}

func TestPortString(t *testing.T) {
	p := Port{"127.0.0.1", 8080, 80, "tcp"}
	if got := p.String(); got != "127.0.0.1:8080->80/tcp" {
		t.Errorf("String = %q", got)
	}
	if got := (Port{"::1", 53, 5353, "udp"}).String(); got != "[::1]:53->5353/udp" {
		t.Errorf("String = %q", got)
	}
}

func TestCheckFree(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	err = CheckFree([]Port{{"127.0.0.1", port, 80, "tcp"}})
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), "127.0.0.1:") {
		t.Fatalf("a held port: %v", err)
	}
	// The same number for udp is free.
	if err := CheckFree([]Port{{"127.0.0.1", port, 80, "udp"}}); err != nil {
		t.Fatalf("udp on a tcp-held number: %v", err)
	}
}

func TestPastaArgsForwardOnlyPublishedPorts(t *testing.T) {
	o := Options{Pid: 42, Ports: []Port{{"127.0.0.1", 8080, 80, "tcp"}, {"0.0.0.0", 5353, 53, "udp"}, {"192.0.2.1", 8443, 443, "tcp"}}}
	args := pastaArgs(o, "/run/x/pasta.pid")
	pairs := map[string][]string{}
	for i := 0; i+1 < len(args); i++ {
		if strings.HasPrefix(args[i], "--") && !strings.HasPrefix(args[i+1], "--") {
			pairs[args[i]] = append(pairs[args[i]], args[i+1])
		}
	}
	want := map[string][]string{
		"--tcp-ports": {"127.0.0.1/8080:80", "192.0.2.1/8443:443"},
		"--udp-ports": {"5353:53"},
		"--tcp-ns":    {"none"},
		"--udp-ns":    {"none"},
		"--netns":     {"/proc/42/ns/net"},
		"--userns":    {"/proc/42/ns/user"},
		"--address":   {ContainerIP},
		"--gateway":   {HostLoopback},
	}
	for k, v := range want {
		if !reflect.DeepEqual(pairs[k], v) {
			t.Errorf("%s = %q, want %q (args %q)", k, pairs[k], v, args)
		}
	}
	// No published port: nothing forwarded either way (pasta's default
	// would forward every bound port).
	args = pastaArgs(Options{Pid: 1}, "p")
	if got := strings.Join(args, " "); !strings.Contains(got, "--tcp-ports none") || !strings.Contains(got, "--udp-ports none") {
		t.Errorf("without ports: %q", got)
	}
}

func TestHelperTextDropsSyslogNoise(t *testing.T) {
	var b lockedBuffer
	b.Write([]byte("Failed to send 51 bytes to syslog\nCouldn't bind port 80\nFailed to send 7 bytes to syslog\n\nsecond line\n"))
	if got := b.Text(); got != "Couldn't bind port 80; second line" {
		t.Errorf("Text = %q", got)
	}
}

func TestFindNamesThePackages(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for mode, want := range map[string]string{"slirp": "passt", "pasta": "passt", "slirp4netns": "slirp4netns package"} {
		_, _, err := Find(mode, nil)
		if !errors.Is(err, ErrNoHelper) || !strings.Contains(err.Error(), want) {
			t.Errorf("Find(%q) = %v, want ErrNoHelper naming %q", mode, err, want)
		}
	}
}

func TestParsePortsRefusesOverlappingAddresses(t *testing.T) {
	for _, specs := range [][]string{
		{"0.0.0.0:8080:80", "8080:81"},
		{"127.0.0.1:8080:80", "0.0.0.0:8080:81"},
	} {
		if _, err := ParsePorts(specs); err == nil || !strings.Contains(err.Error(), "both publish") {
			t.Errorf("ParsePorts(%q) = %v, want a clash", specs, err)
		}
	}
	// Different addresses, or protocols, do not clash.
	if _, err := ParsePorts([]string{"127.0.0.1:8080:80", "192.0.2.1:8080:80", "0.0.0.0:8080:80/udp"}); err != nil {
		t.Errorf("no clash expected: %v", err)
	}
}

func TestParsePortMappedIPv4(t *testing.T) {
	p, err := ParsePort("[::ffff:127.0.0.1]:9090:80")
	if err != nil || p.HostIP != "127.0.0.1" {
		t.Fatalf("ParsePort = %+v, %v; want host IP 127.0.0.1", p, err)
	}
}

func TestFindPrefersSlirp4netnsForLoopbackUDP(t *testing.T) {
	dir := t.TempDir()
	for _, h := range []string{"pasta", "slirp4netns"} {
		if err := os.WriteFile(filepath.Join(dir, h), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	tcp := []Port{{"127.0.0.1", 8080, 80, "tcp"}}
	udp := []Port{{"127.0.0.1", 5353, 53, "udp"}}
	udpOut := []Port{{"0.0.0.0", 5353, 53, "udp"}}
	for _, tt := range []struct {
		mode  string
		ports []Port
		want  Helper
	}{
		{"slirp", nil, Pasta}, {"slirp", tcp, Pasta}, {"slirp", udp, Slirp4netns}, {"slirp", udpOut, Pasta},
		{"pasta", udp, Pasta}, {"slirp4netns", tcp, Slirp4netns},
	} {
		if h, _, err := Find(tt.mode, tt.ports); err != nil || h != tt.want {
			t.Errorf("Find(%q, %v) = %q, %v; want %q", tt.mode, tt.ports, h, err, tt.want)
		}
	}
}

func TestFindChecksTheTunDevice(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pasta"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	old := tunPath
	defer func() { tunPath = old }()
	tunPath = filepath.Join(dir, "missing-tun")
	_, _, err := Find("slirp", nil)
	if err == nil || !strings.Contains(err.Error(), tunPath) || !strings.Contains(err.Error(), "modprobe tun") {
		t.Fatalf("Find with no tun device = %v", err)
	}
}
