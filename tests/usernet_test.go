package tests

// User-defined networks (issue 16): containers on one network reach each
// other by name and alias through the network's switch; a container on
// no shared network cannot; outbound traffic and published ports still go
// through each container's own helper; the switch ends with the last
// member; a network in use cannot be removed.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestUserNetwork(t *testing.T) {
	netHelpers(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "the host's loopback answers")
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	hostPort := l.Addr().(*net.TCPAddr).Port

	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "usernet")
		www := u.mustMkdir(t, filepath.Join(u.home, "usernet-www"))
		page := "served on network app for " + u.mode + "\n"
		u.mustWrite(t, filepath.Join(www, "index.html"), page, 0o644)
		port := freePort(t)

		wantStdout(t, s.must(t, "network", "create", "app"), "app\n")
		s.must(t, "network", "create", "--subnet", "10.90.7.0/24", "other")
		if ls := s.must(t, "network", "ls").stdout; !strings.Contains(ls, "app") || !strings.Contains(ls, "10.90.7.0/24") {
			t.Errorf("network ls lacks app or other's subnet:\n%s", ls)
		}
		for _, bad := range []struct {
			args []string
			want string
		}{
			{[]string{"network", "create", "app"}, "exists already"},
			{[]string{"network", "create", "host"}, "is a network mode"},
			{[]string{"network", "create", "--subnet", "10.90.7.128/25", "x"}, "overlaps network other"},
			{[]string{"run", "--rm", "--network", "nosuch", "bb", "true"}, `no network "nosuch"`},
			{[]string{"run", "--rm", "--network-alias", "a", "bb", "true"}, "--network-alias needs a network"},
		} {
			r := s.do(t, bad.args...)
			wantCode(t, r, 125)
			if !strings.Contains(r.stderr, bad.want) {
				t.Errorf("%v: stderr lacks %q:\n%s", bad.args, bad.want, r)
			}
		}

		s.mustID(t, "run", "-d", "--name", "web", "--network", "app", "--network-alias", "www",
			"-p", fmt.Sprintf("127.0.0.1:%d:8000", port), "-v", www+":/www:ro", "bb", "httpd", "-f", "-p", "8000", "-h", "/www")
		var ins []struct {
			NetworkSettings struct {
				Networks map[string]struct{ IPAddress, Gateway string }
			}
		}
		if err := json.Unmarshal([]byte(s.must(t, "inspect", "web").stdout), &ins); err != nil || len(ins) != 1 {
			t.Fatalf("inspect web: %v", err)
		}
		webIP := ins[0].NetworkSettings.Networks["app"].IPAddress
		if !strings.HasPrefix(webIP, "10.89.") || ins[0].NetworkSettings.Networks["app"].Gateway == "" {
			t.Fatalf("web's place on app: %+v, want an address in 10.89.N.0/24", ins[0].NetworkSettings.Networks)
		}

		// By name and by alias, from another container on app; and the
		// host's loopback through 10.0.2.2 still.
		fetch := fmt.Sprintf(`for h in web www web.dns.sandbox; do timeout 10 wget -qO- http://$h:8000/ || echo "no $h"; done; timeout 10 wget -qO- http://10.0.2.2:%d/; echo; ip -o -4 addr show`, hostPort)
		var r result
		waitFor(10*time.Second, func() bool {
			r = s.do(t, "run", "--rm", "--network", "app", "bb", "sh", "-c", fetch)
			return r.code == 0 && strings.Count(r.stdout, page) == 3
		})
		if strings.Count(r.stdout, page) != 3 {
			t.Errorf("a container on app did not get web's page by name, alias and search domain:\n%s", r)
		}
		if !strings.Contains(r.stdout, "the host's loopback answers") {
			t.Errorf("a container on app did not reach the host's loopback through 10.0.2.2:\n%s", r)
		}
		if !strings.Contains(r.stdout, "eth1") || !strings.Contains(r.stdout, "10.89.") {
			t.Errorf("no eth1 with an address on app:\n%s", r)
		}

		// Not on app: no name, and its address leads nowhere that serves
		// the page (whatever the host's network does with 10.89.N.N).
		lone := fmt.Sprintf(`timeout 5 wget -qO- http://web:8000/; timeout 5 wget -qO- http://%s:8000/; true`, webIP)
		for _, netArg := range []string{"other", "slirp"} {
			r := s.do(t, "run", "--rm", "--network", netArg, "bb", "sh", "-c", lone)
			if strings.Contains(r.stdout, page) {
				t.Errorf("a container on %s reached web on app:\n%s", netArg, r)
			}
		}

		// On two networks: both networks' names resolve, whichever
		// switch the resolver asks.
		www2 := u.mustMkdir(t, filepath.Join(u.home, "usernet-www2"))
		page2 := "served on network other\n"
		u.mustWrite(t, filepath.Join(www2, "index.html"), page2, 0o644)
		s.mustID(t, "run", "-d", "--name", "db", "--network", "other", "-v", www2+":/www:ro", "bb", "httpd", "-f", "-p", "8000", "-h", "/www")
		both := `timeout 10 wget -qO- http://web:8000/; timeout 10 wget -qO- http://db:8000/; ip -o -4 addr show`
		waitFor(10*time.Second, func() bool {
			r = s.do(t, "run", "--rm", "--network", "app,other", "bb", "sh", "-c", both)
			return strings.Contains(r.stdout, page) && strings.Contains(r.stdout, page2)
		})
		if !strings.Contains(r.stdout, page) || !strings.Contains(r.stdout, page2) || !strings.Contains(r.stdout, "eth2") {
			t.Errorf("a container on app and other did not reach web and db by name (eth1, eth2):\n%s", r)
		}
		s.must(t, "rm", "-f", "db")

		// Connected while it runs: an interface at once, and names; gone
		// again when disconnected.
		s.mustID(t, "run", "-d", "--name", "late", "--net", "slirp", "bb", "sleep", "100")
		s.must(t, "network", "connect", "--alias", "latecomer", "app", "late")
		var lr result
		waitFor(10*time.Second, func() bool {
			lr = s.do(t, "exec", "late", "sh", "-c", "timeout 5 wget -qO- http://web:8000/; ip -o -4 addr show")
			return strings.Contains(lr.stdout, page)
		})
		if !strings.Contains(lr.stdout, page) || !strings.Contains(lr.stdout, "eth1") {
			t.Errorf("a running container connected to app did not reach web on a new eth1:\n%s", lr)
		}
		if r := s.do(t, "exec", "web", "sh", "-c", "timeout 5 nslookup latecomer 2>&1"); !strings.Contains(r.stdout, "10.89.") {
			t.Errorf("web cannot resolve the alias of a container connected live:\n%s", r)
		}
		s.must(t, "network", "disconnect", "app", "late")
		lr = s.do(t, "exec", "late", "sh", "-c", "timeout 5 wget -qO- http://web:8000/; ip -o link show")
		if strings.Contains(lr.stdout, page) || strings.Contains(lr.stdout, "eth1") {
			t.Errorf("after disconnect, late still reaches web or has eth1:\n%s", lr)
		}
		s.must(t, "rm", "-f", "late")

		// The published port reaches it from the host.
		if body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", port), 10*time.Second); err != nil || body != page {
			t.Errorf("web's published port served %q (%v), want %q", body, err, page)
		}

		// In use: refused, naming the container.
		r = s.do(t, "network", "rm", "app")
		wantCode(t, r, 125)
		if !strings.Contains(r.stderr, "web") {
			t.Errorf("network rm of a network in use does not name web:\n%s", r)
		}
		switches := func() []procInfo {
			return userProcs(u, func(p procInfo) bool { return p.comm == "sandbox-bridge" })
		}
		if len(switches()) != 1 {
			t.Errorf("switches running with web on app: %+v, want one", switches())
		}

		// The last member gone, the switch goes too; the records stay.
		s.must(t, "rm", "-f", "web")
		waitFor(5*time.Second, func() bool { return len(switches()) == 0 })
		if left := switches(); len(left) > 0 {
			t.Errorf("switches left after the last member: %+v", left)
		}
		if left := userProcs(u, func(p procInfo) bool { return isHelperComm(p.comm) || p.comm == "sandbox-init" }); len(left) > 0 {
			t.Errorf("processes left: %+v", left)
		}
		wantStdout(t, s.must(t, "network", "rm", "app"), "app\n")
		wantStdout(t, s.must(t, "network", "prune"), "other\n")
		wantStdout(t, s.must(t, "network", "ls", "-q"), "")
	})
}
