package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// procExeAttack runs in the container. A process there gets the sandbox
// binary running as a process of its own by executing a script whose
// interpreter is "/proc/1/exe" (from a shell, "#!/proc/self/exe" would
// name the shell's own binary, busybox). That process's stderr is a fifo
// kept full, so its first write blocks and it stays alive. Then the shell
// tries to open its /proc/PID/exe for writing: the CVE-2019-5736 move.
const procExeAttack = `
printf '#!/proc/1/exe\n' > /evil && chmod 755 /evil || exit 20
mkfifo /tmp/full && exec 3<>/tmp/full || exit 21
yes >&3 &
filler=$!
usleep 300000
/evil 2>&3 &
pid=$!
i=0
while [ "$(cat /proc/$pid/comm 2>/dev/null)" != evil ] && [ $i -lt 20 ]; do usleep 100000; i=$((i+1)); done
if [ "$(cat /proc/$pid/comm 2>/dev/null)" = evil ]; then
	if msg=$( (echo x > /proc/$pid/exe) 2>&1 ); then echo "WRITE SUCCEEDED"; else echo "write refused: $msg"; fi
else
	echo "exec refused"
fi
kill -9 $pid $filler
exit 0
`

// notJustBusy fails the test when a write to the sandbox binary failed
// only with ETXTBSY. That error comes from the binary being executed at
// that instant (the CLI itself runs it), not from any protection: the
// moment nothing executes it, the same write succeeds.
func notJustBusy(t *testing.T, output string, r result) {
	t.Helper()
	if strings.Contains(output, "Text file busy") {
		t.Errorf("the write to the sandbox binary failed only with ETXTBSY (the binary was running), so it is not protected:\n%s", r)
	}
}

// TestExeProtection: a container can never write the sandbox binary it was
// started from (CVE-2019-5736 class), neither the suite's root-owned one
// nor a copy the user owns, which the container's root could otherwise
// write.
func TestExeProtection(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)
		suiteHash := fileSHA256(t, sandboxBin)

		bin, err := os.ReadFile(sandboxBin)
		if err != nil {
			t.Fatal(err)
		}
		userCopy := u.mustWrite(t, filepath.Join(u.home, "bin", "sandbox"), string(bin), 0o755)
		copyHash := fileSHA256(t, userCopy)

		// A script whose interpreter is /proc/self/exe, run by the init as
		// the payload: the init's own exe, the sandbox binary, then runs
		// inside the container.
		vol := u.mustMkdir(t, filepath.Join(u.home, "exe-vol"))
		u.mustWrite(t, filepath.Join(vol, "evil"), "#!/proc/self/exe\n", 0o755)

		for _, b := range []struct{ name, path string }{{"suite-binary", sandboxBin}, {"user-owned-copy", userCopy}} {
			t.Run(b.name, func(t *testing.T) {
				o := runOpts{bin: b.path}

				r := u.runWith(t, o, "run", "--rm", bb, "sh", "-c", "echo x > /proc/1/exe")
				wantFailure(t, r)
				notJustBusy(t, r.stderr, r)

				r = u.runWith(t, o, "run", "--rm", bb, "sh", "-c", procExeAttack)
				wantCode(t, r, 0)
				switch {
				case strings.Contains(r.stdout, "WRITE SUCCEEDED"):
					t.Errorf("a container process opened the sandbox binary for writing:\n%s", r)
				case strings.Contains(r.stdout, "write refused: "):
					notJustBusy(t, r.stdout, r)
				case strings.Contains(r.stdout, "exec refused"):
					t.Logf("#!/proc/1/exe cannot run: PID 1's exe is out of the container's reach")
				default:
					t.Fatalf("the attack script did not get to the point:\n%s", r)
				}

				r = u.runWith(t, o, "run", "--rm", "-v", vol+":/v", bb, "/v/evil")
				switch {
				case r.code == 125 && strings.Contains(r.stderr, `unknown command "/v/evil"`):
					t.Logf("the sandbox binary ran as the payload and exited")
				case r.code == 125 && strings.Contains(r.stderr, "sandbox-init: only sandbox starts this program"):
					t.Logf("the sandbox init ran as the payload and exited")
				case r.code == 126:
					t.Logf("executing #!/proc/self/exe was refused")
				default:
					t.Errorf("#!/proc/self/exe as the payload: want the sandbox binary's own 'unknown command' error (125) or a refusal (126):\n%s", r)
				}
			})
		}

		// The init each sandbox starts from (runtime/initexe.go) is named
		// by its digest: it must still have it.
		inits, _ := filepath.Glob(filepath.Join(u.runtimeDir(), "sandbox", "init-*", "sandbox-init"))
		if len(inits) == 0 {
			t.Errorf("no installed init in %s", filepath.Join(u.runtimeDir(), "sandbox"))
		}
		for _, p := range inits {
			if h := fileSHA256(t, p); !strings.HasPrefix(h, strings.TrimPrefix(filepath.Base(filepath.Dir(p)), "init-")) {
				t.Errorf("the installed init %s was modified from inside a container (sha256 %s)", p, h)
			}
		}
		if h := fileSHA256(t, sandboxBin); h != suiteHash {
			t.Errorf("the suite's sandbox binary %s was modified from inside a container", sandboxBin)
		}
		if h := fileSHA256(t, userCopy); h != copyHash {
			t.Errorf("the user-owned sandbox binary %s was modified from inside a container", userCopy)
		}
	})
}
