package tests

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestFormatTemplates: --format takes Go templates with Docker's field
// names in ps, images and inspect, "table" adds the header, {{json .}}
// gives one object per line, "json" stays a JSON array, and a field that
// does not exist is a 125 that lists the fields.
func TestFormatTemplates(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "format")
		id := s.mustID(t, "run", "-d", "--name", "fmt1", "bb", "sleep", "1000")

		r := s.must(t, "ps", "--format", "{{.Names}} {{.Status}}")
		if !strings.HasPrefix(r.stdout, "fmt1 Up ") || strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("ps --format '{{.Names}} {{.Status}}':\n%s", r)
		}
		r = s.must(t, "ps", "-a", "--format", `table {{.ID}}\t{{.Names}}`)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "CONTAINER ID NAMES" || strings.Join(strings.Fields(lines[1]), " ") != id[:12]+" fmt1" {
			t.Errorf("ps --format 'table {{.ID}}\\t{{.Names}}':\n%s", r)
		}
		r = s.must(t, "images", "--format", `table {{.Repository}}\t{{.ID}}`)
		lines = strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "REPOSITORY IMAGE ID" || strings.Fields(lines[1])[0] != "bb" {
			t.Errorf("images --format 'table {{.Repository}}\\t{{.ID}}':\n%s", r)
		}
		r = s.must(t, "images", "--format", "{{json .}}")
		var img struct{ Repository, Tag, ID, Size string }
		if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &img); err != nil || img.Repository != "bb" || img.Tag != "latest" || len(img.ID) != 12 {
			t.Errorf("images --format '{{json .}}' (%v):\n%s", err, r)
		}
		r = s.must(t, "inspect", "-f", "{{.State.Status}} {{.Name}}", "fmt1")
		wantStdout(t, r, "running fmt1\n")
		r = s.must(t, "info", "--format", "{{.UserNS.Mode}} {{len .Cgroups.Limits}}")
		wantStdout(t, r, u.mode+" 4\n")
		r = s.do(t, "info", "--format", "{{.Driver}}")
		wantCode(t, r, 125)
		wantStderrContains(t, r, "Store, UserNS")
		r = s.must(t, "info", "--format", "json")
		var info struct{ Store struct{ Root string } }
		if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || info.Store.Root != s.root {
			t.Errorf("info --format json: Store.Root = %q (%v), want %q", info.Store.Root, err, s.root)
		}
		r = s.must(t, "history", "--format", "{{.ID}} {{.CreatedBy}}", "bb")
		if f := strings.Fields(r.stdout); len(f) < 2 || len(f[0]) != 12 || f[1] != "sandbox" {
			t.Errorf("history --format '{{.ID}} {{.CreatedBy}}':\n%s", r)
		}
		r = s.must(t, "system", "df", "--format", "{{.Type}} {{.TotalCount}}")
		wantStdoutContains(t, r, "Images 1\n")
		wantStdoutContains(t, r, "Containers 1\n")
		r = s.must(t, "ps", "--format", "json")
		var rows []map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 {
			t.Errorf("ps --format json is not a JSON array of one (%v):\n%s", err, r)
		}

		for _, args := range [][]string{
			{"ps", "--format", "{{.Names}} {{.Nope}}"},
			{"images", "--format", "table {{.Nope}}"},
			{"inspect", "-f", "{{.Nope}}", "fmt1"},
		} {
			r := s.do(t, args...)
			wantCode(t, r, 125)
			wantStderrContains(t, r, `"Nope" is not a field`)
		}
		wantStderrContains(t, s.do(t, "ps", "--format", "{{.Nope}}"), "Names, PodName, Ports, RunningFor, State, Status")
	})
}

// TestNounForms: Podman's and Docker's noun forms run the same commands
// with their own flags (container ls -a, image rm, container inspect -f, …),
// and a noun alone or with an unknown subcommand is a 125.
func TestNounForms(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		s := u.lcStore(t, "nouns")
		s.mustID(t, "container", "create", "--name", "noun1", "bb", "true")
		wantStdout(t, s.must(t, "container", "ls", "-a", "--format", "{{.Names}}"), "noun1\n")
		wantStdout(t, s.must(t, "container", "ls", "--format", "{{.Names}}"), "")
		wantStdout(t, s.must(t, "container", "inspect", "-f", "{{.State.Status}}", "noun1"), "created\n")
		r := s.must(t, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}")
		wantStdout(t, r, "bb:latest\n")
		s.must(t, "image", "tag", "bb", "bb:noun")
		s.must(t, "image", "rm", "bb:noun")
		s.must(t, "container", "rm", "noun1")
		wantStdout(t, s.must(t, "container", "ls", "-a", "-q"), "")
		for _, args := range [][]string{{"container"}, {"container", "bogus"}, {"image", "ls", "--bogus"}} {
			wantCode(t, s.do(t, args...), 125)
		}
	})
}

// TestFormatMatchesPodman runs the templates through podman and
// through sandbox, on the same image and containers of the same names
// and states, and compares what they print. Two differences are Podman's
// own and taken out first: it names a local image "localhost/NAME" (Docker
// and sandbox say "NAME"), and IDs and ages differ between two stores
// (digits become N). Where Podman and Docker differ, sandbox is Docker:
// containers newest first (Podman: oldest first; rows are compared as a
// set), IMAGE as the user gave it and COMMAND quoted (not compared).
// Podman runs rootless as the subid user only: the
// single-id user has no subordinate ids, which rootless podman needs.
func TestFormatMatchesPodman(t *testing.T) {
	_, s, pod := podmanUser(t, "podman-format")
	pod("import", busyboxTar(t), "bb")
	// The same containers, made in the same order in both: one only
	// created, one that exited 0, one that exited 3.
	steps := [][]string{
		{"create", "--name", "made", "bb", "true"},
		{"run", "--name", "ok", "bb", "true"},
		{"run", "--name", "failed", "bb", "sh", "-c", "exit 3"},
	}
	for _, st := range steps {
		pod(st...)
		if r := s.do(t, st...); r.code != 0 && r.code != 3 {
			t.Fatalf("sandbox %v:\n%s", st, r)
		}
	}
	// Ages in words ("Less than a second", "1 second", "N seconds")
	// are compared once both are past two seconds.
	time.Sleep(2 * time.Second)
	digits := regexp.MustCompile(`[0-9a-f]{12}|[0-9]+`)
	norm := func(out string) string {
		out = strings.ReplaceAll(out, "localhost/", "")
		// "localhost/bb" is 3 columns wider than "bb": the table's
		// padding differs by as much.
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		for i, l := range lines {
			lines[i] = strings.Join(strings.Fields(l), " ")
		}
		// Podman lists containers oldest first, Docker (and sandbox)
		// newest first: the rows are compared as a set, after the
		// header.
		if len(lines) > 1 && (strings.HasPrefix(lines[0], "NAMES") || strings.HasPrefix(lines[0], "REPOSITORY")) {
			sort.Strings(lines[1:])
		} else {
			sort.Strings(lines)
		}
		return digits.ReplaceAllString(strings.Join(lines, "\n"), "N")
	}
	for _, args := range [][]string{
		{"ps", "-a", "--format", "{{.Names}} {{.Status}}"},
		{"ps", "-a", "--format", "table {{.Names}}\t{{.Status}}"},
		{"images", "--format", "table {{.Repository}}\t{{.ID}}"},
		{"images", "--format", "{{.Repository}}:{{.Tag}}"},
		{"inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "made"},
		{"inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "ok"},
		{"inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "failed"},
		{"inspect", "-f", "{{.Name}} {{.Config.Cmd}}", "failed"},
	} {
		want := pod(args...).stdout
		got := s.must(t, args...).stdout
		if norm(got) != norm(want) {
			t.Errorf("%v:\nsandbox printed:\n%s\npodman printed:\n%s", args, got, want)
		}
	}
}

// TestInspectType: plain inspect looks for a container first (by name, ID
// or ID prefix), then an image, as Docker's; `image inspect`,
// `container inspect` and --type look for one kind only, so an image
// named like the start of a container's ID ("bb3") is still found.
func TestInspectType(t *testing.T) {
	forEachUser(t, func(t *testing.T, u *user) {
		bb := u.bb(t)
		id := strings.TrimSpace(u.mustRun(t, "create", bb, "true").stdout)
		defer u.run(t, "rm", id)
		prefix := id[:6]
		u.mustRun(t, "tag", bb, prefix)
		defer u.run(t, "rmi", prefix)
		kind := func(r result) string {
			var d []map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || len(d) != 1 {
				t.Fatalf("want one object:\n%s", r)
			}
			if _, ok := d[0]["State"]; ok {
				return "container"
			}
			return "image"
		}
		if k := kind(u.mustRun(t, "inspect", prefix)); k != "container" {
			t.Errorf("inspect %s (a container's ID prefix and an image's name) found the %s, want the container, as Docker", prefix, k)
		}
		for _, args := range [][]string{{"image", "inspect", prefix}, {"inspect", "--type", "image", prefix}} {
			if k := kind(u.mustRun(t, args...)); k != "image" {
				t.Errorf("%v found the %s, want the image", args, k)
			}
		}
		for _, args := range [][]string{{"container", "inspect", bb}, {"inspect", "--type", "container", bb}} {
			r := u.run(t, args...)
			wantCode(t, r, 125)
			wantStderrContains(t, r, "no such container")
		}
		wantCode(t, u.run(t, "image", "inspect", id), 125)
	})
}
