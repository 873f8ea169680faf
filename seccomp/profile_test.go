package seccomp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func writeProfile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadFile(t *testing.T) {
	path := writeProfile(t, `{
	"defaultAction": "SCMP_ACT_ALLOW",
	"architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_PPC64LE"],
	"syscalls": [
		{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
		{"name": "rmdir", "action": "SCMP_ACT_ERRNO"},
		{"names": ["reboot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_BOOT"]}},
		{"names": ["reboot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
	]
}`)
	for _, c := range []struct {
		caps   []string
		reboot uint32
	}{{dockerCaps, unix.SECCOMP_RET_ERRNO | 1}, {[]string{"CAP_SYS_BOOT"}, allow}} {
		p, err := LoadFile(path, c.caps)
		if err != nil {
			t.Fatal(err)
		}
		prog, err := Compile(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		eacces := unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)
		for _, arch := range x86Family {
			expect(t, prog, arch, []tc{
				{name: "mkdir", want: eacces},
				{name: "mkdirat", want: eacces},
				{name: "rmdir", want: eperm},
				{name: "reboot", want: c.reboot},
				{name: "read", want: allow},
				{name: "keyctl", want: allow},
				{nr: 1000, want: allow},
			})
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"bad json", "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [\n    {\"names\": [\"read\"] \"action\": \"SCMP_ACT_ALLOW\"}\n  ]\n}",
			[]string{"line 4, column"}},
		{"wrong type", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": "read", "action": "SCMP_ACT_ALLOW"}]}`,
			[]string{"line 1, column"}},
		{"empty", `{}`, []string{"no defaultAction"}},
		{"unknown action", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALOW"}]}`,
			[]string{"syscalls[0] (read, write)", `unknown action "SCMP_ACT_ALOW"`}},
		{"unknown default", `{"defaultAction": "SCMP_ACT_DENY"}`, []string{"defaultAction", "SCMP_ACT_DENY"}},
		{"bad op", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQUAL"}]}]}`,
			[]string{"syscalls[1] (personality)", `unknown op "SCMP_CMP_EQUAL"`}},
		{"index", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 8, "op": "SCMP_CMP_EQ"}]}]}`,
			[]string{"argument 6"}},
		{"name and names", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}`,
			[]string{`both "name" and "names"`}},
		{"notify", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}]}`,
			[]string{"listener"}},
		{"notify excluded by caps", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}`,
			[]string{"listener"}},
		{"tsync", `{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_TSYNC"]}`, []string{"TSYNC"}},
		{"errno with allow", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]}`,
			[]string{"errnoRet"}},
		{"archMap and architectures", `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}], "syscalls": []}`,
			[]string{"archMap"}},
	} {
		path := writeProfile(t, c.body)
		_, err := LoadFile(path, dockerCaps)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		t.Logf("%s: %v", c.name, err)
		for _, w := range append([]string{path}, c.want...) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", c.name, err, w)
			}
		}
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.json"), nil); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("a missing file: error %v", err)
	}
}

// TestDefaultExpansion checks what moby's expansion gives for the
// default bounding set: the x86 family, EPERM by default.
func TestDefaultExpansion(t *testing.T) {
	p, err := Default(dockerCaps)
	if err != nil {
		t.Fatal(err)
	}
	if p.DefaultAction != specs.ActErrno || p.DefaultErrnoRet == nil || *p.DefaultErrnoRet != uint(unix.EPERM) {
		t.Errorf("default action %s %v", p.DefaultAction, p.DefaultErrnoRet)
	}
	if nativeArch().name == specs.ArchX86_64 {
		want := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
		if len(p.Architectures) != 3 || p.Architectures[0] != want[0] || p.Architectures[1] != want[1] || p.Architectures[2] != want[2] {
			t.Errorf("architectures %v, want %v", p.Architectures, want)
		}
	}
}
