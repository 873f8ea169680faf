package tests

// Helpers of the container lifecycle tests (lifecycle_test.go): a store of
// their own per test with the busybox image, `ps` (table and JSON) and
// `inspect` parsed, the recorded state of a container read from the store,
// and a cleanup that leaves no container process behind.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// idRe is a full container ID.
var idRe = regexp.MustCompile(`^[0-9a-f]{64}$`)

// lcStore makes a fresh store for the user (so that `ps -a` shows only
// what the test made), imports the busybox image into it as "bb", and
// removes every container of it when the test ends.
func (u *user) lcStore(t testing.TB, name string) *store {
	t.Helper()
	s := u.newStore(t, "lc-"+name)
	s.mustRun(t, "import", busyboxTar(t), "bb")
	t.Cleanup(func() { s.removeAll(t) })
	return s
}

// do runs sandbox ARGS in the store, bounded by defaultTimeout.
func (s *store) do(t *testing.T, args ...string) result {
	t.Helper()
	return s.u.runWith(t, s.opts, args...)
}

// must runs sandbox ARGS in the store and fails the test unless it exits 0.
func (s *store) must(t *testing.T, args ...string) result {
	t.Helper()
	r := s.do(t, args...)
	wantCode(t, r, 0)
	return r
}

// withStdin runs sandbox ARGS in the store with stdin.
func (s *store) withStdin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	o := s.opts
	o.stdin = strings.NewReader(stdin)
	return s.u.runWith(t, o, args...)
}

// mustID runs a command that prints a container ID (run -d, create) and
// returns the ID.
func (s *store) mustID(t *testing.T, args ...string) string {
	t.Helper()
	r := s.must(t, args...)
	id := strings.TrimSuffix(r.stdout, "\n")
	if !idRe.MatchString(id) {
		t.Fatalf("stdout is not one 64-hex container ID:\n%s", r)
	}
	return id
}

// wantWait runs `wait REF` and checks the exit code it prints. A wrong
// code is reported but the test goes on: what follows does not depend on it.
func (s *store) wantWait(t *testing.T, ref string, code int) result {
	t.Helper()
	r := s.must(t, "wait", ref)
	if want := fmt.Sprintf("%d\n", code); r.stdout != want {
		t.Errorf("wait printed %q, want %q:\n%s", r.stdout, want, r)
	}
	return r
}

// containersDir is the store's containers/ directory.
func (s *store) containersDir() string { return filepath.Join(s.root, "containers") }

// ctrDir is a container's directory in the store.
func (s *store) ctrDir(id string) string { return filepath.Join(s.containersDir(), id) }

// runDir is a container's directory under the user's runtime directory
// (its exec socket).
func (s *store) runDir(id string) string {
	return filepath.Join(s.u.runtimeDir(), "sandbox", id[:16])
}

// recordedState reads containers/<id>/state.json as the store has it.
type recordedState struct {
	Status   string `json:"status"`
	Pid      int    `json:"pid"`
	ExitCode int    `json:"exit_code"`
}

func (s *store) recordedState(t *testing.T, id string) recordedState {
	t.Helper()
	var st recordedState
	b, err := os.ReadFile(filepath.Join(s.ctrDir(id), "state.json"))
	if err != nil {
		t.Fatalf("reading the state of container %s: %v", id[:12], err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("containers/%s/state.json: %v: %s", id, err, b)
	}
	return st
}

// initOf returns the container's init as the host sees it (state.json's
// pid), checking that it is sandbox-init.
func (s *store) initOf(t *testing.T, id string) procInfo {
	t.Helper()
	st := s.recordedState(t, id)
	if st.Pid <= 0 {
		t.Fatalf("state.json of running container %s has no pid: %+v", id[:12], st)
	}
	p, ok := readProc(st.Pid)
	if !ok || p.comm != "sandbox-init" {
		t.Fatalf("state.json's pid %d of container %s is %q (%q), not sandbox-init", st.Pid, id[:12], p.comm, p.cmdline)
	}
	return p
}

// childOf finds a running child of parent whose command line is cmdline.
func childOf(parent procInfo, cmdline string) (procInfo, bool) {
	for _, p := range listProcs() {
		if p.ppid == parent.pid && p.cmdline == cmdline && p.state != 'Z' {
			return p, true
		}
	}
	return procInfo{}, false
}

// ---- ps and inspect ----

// psLine is one row of the `ps` table.
type psLine struct {
	id, image, command, created, status, ports, names string
}

// psTable runs `ps ARGS` and parses its table by the header's columns.
func (s *store) psTable(t *testing.T, args ...string) []psLine {
	t.Helper()
	r := s.must(t, append([]string{"ps"}, args...)...)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	header := lines[0]
	cols := []string{"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"}
	at := make([]int, len(cols))
	for i, c := range cols {
		if at[i] = strings.Index(header, c); at[i] < 0 || (i > 0 && at[i] <= at[i-1]) {
			t.Fatalf("the ps header lacks %q in order:\n%s", c, r)
		}
	}
	cell := func(l string, i int) string {
		a, b := at[i], len(l)
		if i+1 < len(at) {
			b = min(at[i+1], len(l))
		}
		if a >= len(l) {
			return ""
		}
		return strings.TrimSpace(l[a:b])
	}
	var out []psLine
	for _, l := range lines[1:] {
		if l == "" {
			continue
		}
		out = append(out, psLine{cell(l, 0), cell(l, 1), cell(l, 2), cell(l, 3), cell(l, 4), cell(l, 5), cell(l, 6)})
	}
	return out
}

// psRow finds the row of the container named name in `ps ARGS`.
func (s *store) psRow(t *testing.T, name string, args ...string) (psLine, bool) {
	t.Helper()
	for _, l := range s.psTable(t, args...) {
		if l.names == name {
			return l, true
		}
	}
	return psLine{}, false
}

// psEntry is one element of `ps --format json`.
type psEntry struct {
	ID    string
	Name  string
	Image string
	State recordedState
}

// psJSON runs `ps -a --format json`.
func (s *store) psJSON(t *testing.T) []psEntry {
	t.Helper()
	r := s.must(t, "ps", "-a", "--format", "json")
	var out []psEntry
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("ps --format json is not a JSON array of containers: %v\n%s", err, r)
	}
	return out
}

// inspectEntry is what the tests read of `inspect CONTAINER`.
type inspectEntry struct {
	Id    string
	Name  string
	Image string
	State struct {
		Status   string
		Running  bool
		Pid      int
		ExitCode int
	}
}

// inspect runs `inspect REF` and returns its one element.
func (s *store) inspect(t *testing.T, ref string) inspectEntry {
	t.Helper()
	r := s.must(t, "inspect", ref)
	var out []inspectEntry
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 {
		t.Fatalf("inspect %s is not a JSON array of one object (%v):\n%s", ref, err, r)
	}
	return out[0]
}

// waitPS polls `ps -a` until the container named name has a status
// starting with prefix, up to timeout; it returns the last row seen.
func (s *store) waitPS(t *testing.T, name, prefix string, timeout time.Duration) (psLine, bool) {
	t.Helper()
	var row psLine
	ok := waitFor(timeout, func() bool {
		var found bool
		row, found = s.psRow(t, name, "-a")
		return found && strings.HasPrefix(row.status, prefix)
	})
	return row, ok
}

// ---- cleanup ----

// removeAll removes every container of the store (rm -f), and kills by
// PID any init still recorded as running should sandbox fail to: no test
// may leave a container's processes behind. It reports a failing rm -f.
func (s *store) removeAll(t testing.TB) {
	var ids []string
	entries, err := os.ReadDir(s.containersDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cleanup: %v", err)
	}
	var inits []procInfo
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(s.ctrDir(e.Name()), "container.json")); err != nil {
			continue
		}
		ids = append(ids, e.Name())
		if b, err := os.ReadFile(filepath.Join(s.ctrDir(e.Name()), "state.json")); err == nil {
			var st recordedState
			if json.Unmarshal(b, &st) == nil && st.Pid > 0 {
				if p, ok := readProc(st.Pid); ok && p.comm == "sandbox-init" {
					inits = append(inits, p)
				}
			}
		}
	}
	if len(ids) > 0 {
		c := s.u.command(s.opts, append([]string{"rm", "-f"}, ids...)...)
		var out strings.Builder
		c.Stdout, c.Stderr = &out, &out
		err := c.Start()
		if err == nil {
			timer := time.AfterFunc(defaultTimeout, func() { syscall.Kill(-c.Process.Pid, syscall.SIGKILL) })
			err = c.Wait()
			timer.Stop()
		}
		if err != nil {
			t.Errorf("cleanup: sandbox rm -f of the test's containers failed: %v\n%s", err, out.String())
		}
	}
	for _, p := range inits {
		if alive(p) {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
}

// userProcs lists the user's live processes for which match holds.
func userProcs(u *user, match func(p procInfo) bool) []procInfo {
	var out []procInfo
	for _, p := range listProcs() {
		if p.uid == u.uid && p.state != 'Z' && match(p) {
			out = append(out, p)
		}
	}
	return out
}

// healthCheckers are u's health checkers, found by their argv[0]: their
// name (comm) is "exe" for a moment after each check, when a checker
// executes itself again (/proc/self/exe) and has not yet renamed itself.
func healthCheckers(u *user) []procInfo {
	return userProcs(u, func(p procInfo) bool { return strings.HasPrefix(p.cmdline, "sandbox-health ") })
}
