package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// TestLogin: against a registry that wants a password (htpasswd), push
// and pull fail with a 125 naming the registry until `login`; a wrong
// password is refused (125, nothing stored); after login push and pull
// work, with the credentials in $XDG_RUNTIME_DIR/containers/auth.json (or
// REGISTRY_AUTH_FILE), Podman's file; after logout they fail again.
func TestLogin(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(baseDir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("tester:"+string(hash)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := startRegistryWith(t, "auth:\n  htpasswd:\n    realm: sandbox-tests\n    path: "+htpasswd+"\n")
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "login")
		authFile := filepath.Join(u.home, "auth-"+u.mode+".json")
		s.opts.env = append(s.opts.env, "REGISTRY_AUTH_FILE="+authFile)
		dest := reg.ref("private/bb-" + u.mode + ":1")

		r := s.do(t, "push", "--tls-verify=false", "bb", dest)
		wantCode(t, r, 125)
		wantStderrContains(t, r, "sandbox login "+reg.host)

		r = s.withStdin(t, "wrong\n", "login", "--tls-verify=false", "-u", "tester", "--password-stdin", reg.host)
		wantCode(t, r, 125)
		wantStderrContains(t, r, reg.host)
		wantStderrContains(t, r, "refused")
		if _, err := os.Stat(authFile); err == nil {
			b, _ := os.ReadFile(authFile)
			if strings.Contains(string(b), reg.host) {
				t.Fatalf("a refused login stored credentials:\n%s", b)
			}
		}

		r = s.withStdin(t, "s3cret\n", "login", "--tls-verify=false", "-u", "tester", "--password-stdin", reg.host)
		wantCode(t, r, 0)
		b, err := os.ReadFile(authFile)
		if err != nil || !strings.Contains(string(b), `"`+reg.host+`"`) {
			t.Fatalf("after login, %s holds (%v):\n%s", authFile, err, b)
		}
		if fi, err := os.Stat(authFile); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("the credentials file's mode is %v (%v), want 0600", fi.Mode().Perm(), err)
		}
		s.must(t, "push", "--tls-verify=false", "bb", dest)
		s.must(t, "rmi", "bb")
		s.must(t, "pull", "--tls-verify=false", dest)
		s.must(t, "run", "--rm", dest, "true")

		s.must(t, "logout", reg.host)
		r = s.do(t, "pull", "--tls-verify=false", dest)
		wantCode(t, r, 125)
		wantStderrContains(t, r, "sandbox login "+reg.host)
		r = s.do(t, "logout", reg.host)
		wantCode(t, r, 125)
		wantStderrContains(t, r, "not logged in")
	})
}
