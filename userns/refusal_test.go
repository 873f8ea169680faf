package userns

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fakeProc makes a directory standing in for /proc, holding the given
// files (paths relative to it).
func fakeProc(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// The settings of a host that refuses nothing.
var allowing = map[string]string{
	maxUserNamespacesFile: "63389\n",
	unprivilegedCloneFile: "1\n",
	apparmorRestrictFile:  "0\n",
	apparmorLabelFile:     "unconfined\n",
}

// with returns allowing with some files changed; "" removes a file.
func with(changes map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range allowing {
		m[k] = v
	}
	for k, v := range changes {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

const (
	// An unprivileged process's capabilities, and root's in full.
	statusNoCaps  = "Name:\tsandbox\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"
	statusAllCaps = "Name:\tsandbox\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n"
	initialUIDMap = "         0          0 4294967295\n"
	nestedUIDMap  = "         0       1000          1\n"
)

func TestCheckRefusal(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	tests := []struct {
		name        string
		files       map[string]string
		wantSetting string   // "" = no refusal
		wantFix     []string // substrings of Fix
	}{
		{name: "nothing refuses", files: allowing},
		{name: "no files at all", files: map[string]string{}},
		{
			name:        "max_user_namespaces 0",
			files:       with(map[string]string{maxUserNamespacesFile: "0\n"}),
			wantSetting: "user.max_user_namespaces = 0",
			wantFix:     []string{"sudo sysctl -w user.max_user_namespaces=15000", "/etc/sysctl.d/"},
		},
		{
			name:        "max_user_namespaces 0 alone",
			files:       map[string]string{maxUserNamespacesFile: "0"},
			wantSetting: "user.max_user_namespaces = 0",
		},
		{
			name:        "max_user_namespaces first of several",
			files:       with(map[string]string{maxUserNamespacesFile: "0\n", unprivilegedCloneFile: "0\n", apparmorRestrictFile: "1\n"}),
			wantSetting: "user.max_user_namespaces = 0",
		},
		{
			name:        "unprivileged_userns_clone 0",
			files:       with(map[string]string{unprivilegedCloneFile: "0\n"}),
			wantSetting: "kernel.unprivileged_userns_clone = 0",
			wantFix:     []string{"sudo sysctl -w kernel.unprivileged_userns_clone=1", "/etc/sysctl.d/"},
		},
		{
			name:        "unprivileged_userns_clone 0, no capabilities",
			files:       with(map[string]string{unprivilegedCloneFile: "0\n", statusFile: statusNoCaps, uidMapFile: initialUIDMap}),
			wantSetting: "kernel.unprivileged_userns_clone = 0",
		},
		{
			name:  "unprivileged_userns_clone 0 does not refuse root",
			files: with(map[string]string{unprivilegedCloneFile: "0\n", statusFile: statusAllCaps, uidMapFile: initialUIDMap}),
		},
		{
			name:        "unprivileged_userns_clone 0 refuses root of another user namespace",
			files:       with(map[string]string{unprivilegedCloneFile: "0\n", statusFile: statusAllCaps, uidMapFile: nestedUIDMap}),
			wantSetting: "kernel.unprivileged_userns_clone = 0",
		},
		{
			name:        "apparmor restriction, unconfined",
			files:       with(map[string]string{apparmorRestrictFile: "1\n"}),
			wantSetting: "kernel.apparmor_restrict_unprivileged_userns = 1",
			wantFix: []string{
				"contrib/apparmor/sandbox", exe, "sudo tee /etc/apparmor.d/sandbox",
				"sudo apparmor_parser -r /etc/apparmor.d/sandbox",
				"sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0",
			},
		},
		{
			name:        "apparmor restriction, unconfined by the old label file",
			files:       with(map[string]string{apparmorRestrictFile: "1\n", apparmorLabelFile: "", legacyLabelFile: "unconfined\n"}),
			wantSetting: "kernel.apparmor_restrict_unprivileged_userns = 1",
		},
		{
			name:  "apparmor restriction, own profile",
			files: with(map[string]string{apparmorRestrictFile: "1\n", apparmorLabelFile: "sandbox (unconfined)\n"}),
		},
		{
			name:  "apparmor restriction, confined",
			files: with(map[string]string{apparmorRestrictFile: "1\n", apparmorLabelFile: "/usr/bin/foo (enforce)\n"}),
		},
		{
			name:  "apparmor restriction, label unreadable",
			files: with(map[string]string{apparmorRestrictFile: "1\n", apparmorLabelFile: ""}),
		},
		{
			name:  "apparmor label unconfined, no restriction file",
			files: with(map[string]string{apparmorRestrictFile: ""}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := CheckRefusal(fakeProc(t, tt.files))
			if tt.wantSetting == "" {
				if r != nil {
					t.Fatalf("got refusal %q, want none", r)
				}
				return
			}
			if r == nil {
				t.Fatalf("got no refusal, want %q", tt.wantSetting)
			}
			if r.Setting != tt.wantSetting {
				t.Errorf("Setting = %q, want %q", r.Setting, tt.wantSetting)
			}
			if r.Why == "" {
				t.Error("Why is empty")
			}
			for _, want := range tt.wantFix {
				if !strings.Contains(r.Fix, want) {
					t.Errorf("Fix lacks %q: %s", want, r.Fix)
				}
			}
			msg := r.Error()
			for _, want := range []string{r.Setting, r.Why, r.Fix} {
				if !strings.Contains(msg, want) {
					t.Errorf("Error() lacks %q: %s", want, msg)
				}
			}
		})
	}
}

func TestCheckRefusalMissingRoot(t *testing.T) {
	if r := CheckRefusal(filepath.Join(t.TempDir(), "no-such-proc")); r != nil {
		t.Fatalf("got %q for a missing proc root", r)
	}
}

// TestCheckRefusalRealProc only checks that the real /proc is read without
// trouble; what it finds depends on the host.
func TestCheckRefusalRealProc(t *testing.T) {
	if r := CheckRefusal(""); r != nil {
		t.Logf("this host: %v", r)
	}
}

func TestRefusalError(t *testing.T) {
	r := CheckRefusal(fakeProc(t, map[string]string{maxUserNamespacesFile: "0\n"}))
	want := "user namespaces are refused by the host setting user.max_user_namespaces = 0 (no user may create a user namespace). " +
		"To fix it: sudo sysctl -w user.max_user_namespaces=15000 and, to keep it after a reboot, " +
		"echo user.max_user_namespaces=15000 | sudo tee /etc/sysctl.d/90-sandbox-userns.conf"
	if got := r.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
}

// startError is what a failed start looks like: exec's PathError around
// the errno, wrapped by the caller.
func startError(errno syscall.Errno) error {
	return fmt.Errorf("starting the sandbox init: %w", &fs.PathError{Op: "fork/exec", Path: "/proc/self/fd/6", Err: errno})
}

func TestExplainStart(t *testing.T) {
	tests := []struct {
		name        string
		files       map[string]string
		errno       syscall.Errno
		wantSetting string // "" = err comes back unchanged
	}{
		{"ENOSPC, max_user_namespaces 0", with(map[string]string{maxUserNamespacesFile: "0"}), syscall.ENOSPC, "user.max_user_namespaces = 0"},
		{"EUSERS, max_user_namespaces 0", with(map[string]string{maxUserNamespacesFile: "0"}), syscall.EUSERS, "user.max_user_namespaces = 0"},
		{"ENOSPC, nothing refuses", allowing, syscall.ENOSPC, ""},
		{"ENOSPC, no files", map[string]string{}, syscall.ENOSPC, ""},
		{"ENOSPC, only unprivileged_userns_clone 0", with(map[string]string{unprivilegedCloneFile: "0"}), syscall.ENOSPC, ""},
		{"EPERM, unprivileged_userns_clone 0", with(map[string]string{unprivilegedCloneFile: "0"}), syscall.EPERM, "kernel.unprivileged_userns_clone = 0"},
		{"EPERM, only max_user_namespaces 0", with(map[string]string{maxUserNamespacesFile: "0"}), syscall.EPERM, ""},
		{"EACCES, only unprivileged_userns_clone 0", with(map[string]string{unprivilegedCloneFile: "0"}), syscall.EACCES, ""},
		{"EPERM, apparmor", with(map[string]string{apparmorRestrictFile: "1"}), syscall.EPERM, "kernel.apparmor_restrict_unprivileged_userns = 1"},
		{"EACCES, apparmor", with(map[string]string{apparmorRestrictFile: "1"}), syscall.EACCES, "kernel.apparmor_restrict_unprivileged_userns = 1"},
		{"EPERM, apparmor, own profile", with(map[string]string{apparmorRestrictFile: "1", apparmorLabelFile: "sandbox (unconfined)"}), syscall.EPERM, ""},
		{"ENOSPC, apparmor", with(map[string]string{apparmorRestrictFile: "1"}), syscall.ENOSPC, ""},
		{"ENOENT, everything refuses", with(map[string]string{maxUserNamespacesFile: "0", unprivilegedCloneFile: "0", apparmorRestrictFile: "1"}), syscall.ENOENT, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := startError(tt.errno)
			got := ExplainStart(orig, fakeProc(t, tt.files))
			if tt.wantSetting == "" {
				if got != orig {
					t.Fatalf("got %q, want the error unchanged", got)
				}
				return
			}
			var r *Refusal
			if !errors.As(got, &r) {
				t.Fatalf("errors.As finds no *Refusal in %q", got)
			}
			if r.Setting != tt.wantSetting {
				t.Errorf("Setting = %q, want %q", r.Setting, tt.wantSetting)
			}
			if !errors.Is(got, tt.errno) {
				t.Errorf("errors.Is(%q, %v) is false", got, tt.errno)
			}
			if !errors.Is(got, orig) {
				t.Errorf("errors.Is(got, orig) is false")
			}
			var pe *fs.PathError
			if !errors.As(got, &pe) || pe.Path != "/proc/self/fd/6" {
				t.Errorf("errors.As finds no *fs.PathError in %q", got)
			}
			if want := orig.Error() + ": " + r.Error(); got.Error() != want {
				t.Errorf("message is\n%s\nwant\n%s", got, want)
			}
			// Explaining twice adds nothing.
			if again := ExplainStart(got, fakeProc(t, tt.files)); again != got {
				t.Errorf("explained twice: %q", again)
			}
		})
	}
}

func TestExplainStartOther(t *testing.T) {
	proc := fakeProc(t, with(map[string]string{maxUserNamespacesFile: "0", unprivilegedCloneFile: "0", apparmorRestrictFile: "1"}))
	if got := ExplainStart(nil, proc); got != nil {
		t.Errorf("ExplainStart(nil) = %v", got)
	}
	plain := errors.New("no errno in here")
	if got := ExplainStart(plain, proc); got != plain {
		t.Errorf("ExplainStart of an error without errno = %q", got)
	}
	// A bare errno, as a raw syscall returns it.
	if got := ExplainStart(syscall.ENOSPC, proc); !errors.Is(got, syscall.ENOSPC) || !strings.Contains(got.Error(), "user.max_user_namespaces = 0") {
		t.Errorf("ExplainStart(ENOSPC) = %q", got)
	}
}

// TestApparmorFixInstalls runs the install command the AppArmor fix
// gives (writing elsewhere than /etc, without sudo) for awkward binary
// paths, and checks that the profile it writes names the path.
func TestApparmorFixInstalls(t *testing.T) {
	for _, p := range []string{"/bin/sh", "/bin/sed"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s is missing", p)
		}
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	source, err := os.ReadFile(filepath.Join(repo, profileSource))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(source), profileDefaultBinary); n != 1 {
		t.Fatalf("%s names %s %d times, want once (on the profile line)", profileSource, profileDefaultBinary, n)
	}
	for _, tt := range []struct{ exe, wantLine string }{
		{"/usr/local/bin/sandbox", "profile sandbox /usr/local/bin/sandbox flags=(unconfined) {"},
		{"/home/ann/bin/sandbox", "profile sandbox /home/ann/bin/sandbox flags=(unconfined) {"},
		{`/opt/a&b|c\d'e/sandbox`, `profile sandbox /opt/a&b|c\d'e/sandbox flags=(unconfined) {`},
		{"/home/ann/my tools/sandbox", `profile sandbox "/home/ann/my tools/sandbox" flags=(unconfined) {`},
	} {
		t.Run(tt.exe, func(t *testing.T) {
			fix := apparmorFix(tt.exe)
			_, cmd, ok := strings.Cut(fix, tt.exe+": ")
			if !ok {
				t.Fatalf("fix does not name %s: %s", tt.exe, fix)
			}
			cmd, _, ok = strings.Cut(cmd, " && sudo apparmor_parser -r "+profileInstalled+" or")
			if !ok {
				t.Fatalf("fix does not load the profile: %s", fix)
			}
			out := filepath.Join(t.TempDir(), "sandbox")
			cmd = strings.ReplaceAll(cmd, "sudo tee "+profileInstalled, "tee "+shellQuote(out))
			cmd = strings.ReplaceAll(cmd, "sudo cp "+profileSource+" "+profileInstalled, "cp "+profileSource+" "+shellQuote(out))
			c := exec.Command("/bin/sh", "-c", cmd)
			c.Dir = repo
			if b, err := c.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v: %s", cmd, err, b)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Replace(string(source), "profile sandbox "+profileDefaultBinary+" flags=(unconfined) {", tt.wantLine, 1)
			if string(got) != want {
				t.Errorf("%s wrote\n%s\nwant\n%s", cmd, got, want)
			}
		})
	}
}
