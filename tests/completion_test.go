package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletionBash: the script from `sandbox completion bash`, loaded
// in a real bash, completes a running container's name for exec, an image
// name for run, a --net value, and launch files for up; completing takes
// no lock and makes nothing.
func TestCompletionBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	// cobra's script builds on bash-completion, as every distribution's
	// bash has it.
	const bashCompletion = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(bashCompletion); err != nil {
		t.Skip("bash-completion not installed (apt-get install bash-completion; .ci/run does)")
	}
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "completion")
		s.mustID(t, "run", "-d", "--name", "compl-web", "bb", "sleep", "1000")
		s.mustID(t, "create", "--name", "compl-stopped", "bb", "true")
		script := filepath.Join(u.home, "sandbox-completion-"+u.mode+".bash")
		r := s.must(t, "completion", "bash")
		u.mustWrite(t, script, r.stdout, 0o644)
		dir := u.mustMkdir(t, filepath.Join(u.home, "compl-files-"+u.mode))
		u.mustWrite(t, filepath.Join(dir, "app.toml"), "image = \"bb\"\n", 0o644)
		u.mustWrite(t, filepath.Join(dir, "notes.txt"), "", 0o644)

		complete := func(line string) []string {
			t.Helper()
			// COMP_WORDS as bash splits the line; the program is the test's
			// binary, which the script runs as "${words[0]} __complete …".
			prog := `source ` + bashCompletion + `; source "$1"; shift; COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; ` +
				`read -ra COMP_WORDS <<< "$COMP_LINE"; [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=(""); ` +
				`COMP_WORDS[0]=` + sandboxBin + `; COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); ` +
				`cd ` + dir + `; __start_sandbox; printf '%s\n' "${COMPREPLY[@]}"`
			cmd := exec.Command(bash, "-c", prog, "bash", script, line)
			cmd.Env = append(append([]string{}, u.env...), s.opts.env...)
			cmd.SysProcAttr = u.command(runOpts{}).SysProcAttr
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("completing %q: %v\n%s", line, err, out)
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if l = strings.TrimSpace(l); l != "" {
					got = append(got, l)
				}
			}
			return got
		}
		has := func(got []string, want string) bool {
			for _, g := range got {
				if g == want {
					return true
				}
			}
			return false
		}
		if got := complete("sandbox exec compl-"); !has(got, "compl-web") || has(got, "compl-stopped") {
			t.Errorf("exec: %q, want the running compl-web and not the stopped one", got)
		}
		if got := complete("sandbox rm compl-"); !has(got, "compl-web") || !has(got, "compl-stopped") {
			t.Errorf("rm: %q, want every container", got)
		}
		if got := complete("sandbox run b"); !has(got, "bb:latest") {
			t.Errorf("run: %q, want bb:latest", got)
		}
		if got := complete("sandbox run --net sl"); !has(got, "slirp") || !has(got, "slirp4netns") || has(got, "host") {
			t.Errorf("run --net sl: %q, want slirp and slirp4netns", got)
		}
		if got := complete("sandbox up "); !has(got, "app.toml") || has(got, "notes.txt") {
			t.Errorf("up: %q, want app.toml and not notes.txt", got)
		}
		if left, err := os.ReadDir(filepath.Join(s.root, "tmp")); err != nil || len(left) != 0 {
			t.Errorf("completion left %v in tmp/ (%v)", left, err)
		}
	})
}
