package runtime

import (
	"os"
	"slices"
	"strings"
	"testing"
)

const testPasswd = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment line
alice:x:1000:1000:Alice:/home/alice:/bin/sh

bob:x:1001:100::/home/bob:/bin/sh
short:x:2000:2000
weird:x:notanumber:0::/:/bin/sh
`

const testGroup = `root:x:0:
daemon:x:1:
wheel:x:10:alice,bob
users:x:100:bob
alice:x:1000:alice
docker:x:999:carol,alice
audio:x:29:alicex
staff:x:50:alice
short:x:60
bad:x:nan:alice
`

func TestResolveUserFrom(t *testing.T) {
	tests := []struct {
		spec string
		want execUser
	}{
		{"", execUser{UID: 0, GID: 0, Home: "/root"}},
		{"root", execUser{UID: 0, GID: 0, Home: "/root"}},
		{"0", execUser{UID: 0, GID: 0, Home: "/root"}},
		{"daemon", execUser{UID: 1, GID: 1, Home: "/usr/sbin"}},
		// Supplementary groups come from /etc/group membership, in file
		// order, without the primary group.
		{"alice", execUser{UID: 1000, GID: 1000, Home: "/home/alice", Groups: []uint32{10, 999, 50}}},
		{"1000", execUser{UID: 1000, GID: 1000, Home: "/home/alice", Groups: []uint32{10, 999, 50}}},
		{"bob", execUser{UID: 1001, GID: 100, Home: "/home/bob", Groups: []uint32{10}}},
		// A numeric user the image does not know: gid 0, home /.
		{"4242", execUser{UID: 4242, GID: 0, Home: "/"}},
		// An explicit group: no supplementary groups.
		{"1000:1000", execUser{UID: 1000, GID: 1000, Home: "/home/alice"}},
		{"alice:wheel", execUser{UID: 1000, GID: 10, Home: "/home/alice"}},
		{"alice:0", execUser{UID: 1000, GID: 0, Home: "/home/alice"}},
		{"bob:users", execUser{UID: 1001, GID: 100, Home: "/home/bob"}},
		{"4242:4343", execUser{UID: 4242, GID: 4343, Home: "/"}},
		{"4242:staff", execUser{UID: 4242, GID: 50, Home: "/"}},
		{":wheel", execUser{UID: 0, GID: 10, Home: "/root"}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := resolveUserFrom(tt.spec, strings.NewReader(testPasswd), strings.NewReader(testGroup))
			if err != nil {
				t.Fatalf("resolveUserFrom(%q): %v", tt.spec, err)
			}
			if got.UID != tt.want.UID || got.GID != tt.want.GID || got.Home != tt.want.Home || !slices.Equal(got.Groups, tt.want.Groups) {
				t.Errorf("resolveUserFrom(%q) = %+v, want %+v", tt.spec, got, tt.want)
			}
		})
	}
}

func TestResolveUserFromErrors(t *testing.T) {
	tests := []struct {
		spec string
		want []string
	}{
		{"nobody", []string{`unable to find user "nobody"`, "/etc/passwd"}},
		{"Alice", []string{`unable to find user "Alice"`, "/etc/passwd"}},
		{"short", []string{`unable to find user "short"`, "/etc/passwd"}},         // too few fields
		{"weird", []string{`unable to find user "weird"`, "/etc/passwd"}},         // uid not a number
		{"nobody:wheel", []string{`unable to find user "nobody"`, "/etc/passwd"}}, // the user is checked first
		{"alice:nogroup", []string{`unable to find group "nogroup"`, "/etc/group"}},
		{"1000:short", []string{`unable to find group "short"`, "/etc/group"}},
		{"1000:bad", []string{`unable to find group "bad"`, "/etc/group"}},
		{"-1", []string{`unable to find user "-1"`}},
		{"99999999999", []string{`unable to find user "99999999999"`}}, // beyond 32 bits
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := resolveUserFrom(tt.spec, strings.NewReader(testPasswd), strings.NewReader(testGroup))
			if err == nil {
				t.Fatalf("resolveUserFrom(%q) = %+v, want an error", tt.spec, got)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("resolveUserFrom(%q) error %q does not contain %q", tt.spec, err, w)
				}
			}
		})
	}
}

// An image without /etc/passwd or /etc/group: resolveUser passes the nil
// *os.File that a failed os.Open returns.
func TestResolveUserFromMissingFiles(t *testing.T) {
	var none *os.File
	tests := []struct {
		spec    string
		want    execUser
		wantErr string
	}{
		{"", execUser{UID: 0, GID: 0, Home: "/root"}, ""},
		{"1000", execUser{UID: 1000, GID: 0, Home: "/"}, ""},
		{"1000:1000", execUser{UID: 1000, GID: 1000, Home: "/"}, ""},
		{"alice", execUser{}, `unable to find user "alice"`},
		{"1000:wheel", execUser{}, `unable to find group "wheel"`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := resolveUserFrom(tt.spec, none, none)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolveUserFrom(%q) = %+v, %v; want an error containing %q", tt.spec, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolveUserFrom(%q): %v", tt.spec, err)
			}
			if got.UID != tt.want.UID || got.GID != tt.want.GID || got.Home != tt.want.Home || len(got.Groups) != 0 {
				t.Errorf("resolveUserFrom(%q) = %+v, want %+v", tt.spec, got, tt.want)
			}
		})
	}
}

func TestResolveGroups(t *testing.T) {
	got, err := resolveGroups([]string{"wheel", "42", "docker"}, strings.NewReader(testGroup))
	if err != nil || !slices.Equal(got, []uint32{10, 42, 999}) {
		t.Errorf("resolveGroups(wheel, 42, docker) = %v, %v; want [10 42 999]", got, err)
	}
	if _, err := resolveGroups([]string{"nosuch"}, strings.NewReader(testGroup)); err == nil || !strings.Contains(err.Error(), "--group-add nosuch") {
		t.Errorf("an unknown group name: %v", err)
	}
	if _, err := resolveGroups([]string{"bad"}, strings.NewReader(testGroup)); err == nil {
		t.Error("a group whose id is not a number was taken")
	}
}
