package fuseoverlay

import (
	"errors"
	"strings"
	"testing"
)

func TestParseDriver(t *testing.T) {
	tests := []struct {
		in   string
		want Driver
	}{
		{"", Auto},
		{"auto", Auto},
		{"overlay", Overlay},
		{"fuse-overlayfs", FuseOverlayfs},
		{"vfs", VFS},
	}
	for _, tt := range tests {
		got, err := ParseDriver(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDriver(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"VFS", "Overlay", "btrfs", "overlayfs", "fuse", " vfs", "auto "} {
		got, err := ParseDriver(bad)
		if err == nil {
			t.Errorf("ParseDriver(%q) = %q, want an error", bad, got)
			continue
		}
		if got != "" {
			t.Errorf("ParseDriver(%q) returned driver %q with its error", bad, got)
		}
		if !strings.Contains(err.Error(), `"`+bad+`"`) || !strings.Contains(err.Error(), "valid: overlay, fuse-overlayfs, vfs, auto") {
			t.Errorf("ParseDriver(%q) error %q does not quote the value and list the valid ones", bad, err)
		}
	}
}

func TestEscape(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"/var/lib/sandbox/upper", "/var/lib/sandbox/upper"},
		{"", ""},
		{"/a:b", `/a\:b`},
		{"/a,b", `/a\,b`},
		{`/a\b`, `/a\\b`},
		{`/x:y,z\w`, `/x\:y\,z\\w`},
		{`\:`, `\\\:`},
		{"/a::b,,", `/a\:\:b\,\,`},
		{"/with space/é", "/with space/é"},
	}
	for _, tt := range tests {
		if got := escape(tt.in); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestKernelOverlayExpected(t *testing.T) {
	ok, reason := KernelOverlayExpected()
	if reason == "" {
		t.Fatalf("KernelOverlayExpected() = %v with no reason", ok)
	}
	if !strings.Contains(reason, "kernel") {
		t.Errorf("reason %q does not name the kernel", reason)
	}
	t.Logf("KernelOverlayExpected() = %v, %q", ok, reason)
}

func TestMountWithForcedVFS(t *testing.T) {
	layers := []string{"/l/1", "/l/2"}
	var got []string
	vfs := func(l []string, upper, work, target string) error {
		got = append(append(got, l...), upper, work, target)
		return nil
	}
	res, err := mountWith(VFS, layers, "/u", "/w", "/t", false, vfs)
	if err != nil {
		t.Fatalf("mountWith(vfs): %v", err)
	}
	if res != (Result{Driver: VFS}) {
		t.Errorf("mountWith(vfs) = %+v, want driver vfs and no reason", res)
	}
	if want := []string{"/l/1", "/l/2", "/u", "/w", "/t"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("the vfs function got %q, want %q", got, want)
	}

	boom := errors.New("boom")
	_, err = mountWith(VFS, layers, "/u", "/w", "/t", false, func([]string, string, string, string) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("mountWith(vfs) with a failing copy = %v, want that error", err)
	}
}
