package container

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/image"
)

// sweepFixture is a store holding one container of each kind a sweep
// must tell apart.
func sweepFixture(t *testing.T) (*image.Store, map[string]string) {
	t.Helper()
	s := &image.Store{Root: t.TempDir()}
	for _, d := range []string{"containers", "tmp"} {
		if err := os.Mkdir(filepath.Join(s.Root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]string{}
	add := func(key string, c *Container, state string, record string) {
		id := strings.Repeat(key, 64)[:64]
		ids[key] = id
		dir := Dir(s, id)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if key != "f" && key != "g" { // no lock file: f as a create killed before it made one
			if err := os.WriteFile(filepath.Join(dir, "lock"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if c != nil {
			c.ID = id
			record = string(recordJSON(c))
		}
		if record != "" {
			if err := os.WriteFile(filepath.Join(dir, "container.json"), []byte(record), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if state != "" {
			if err := os.MkdirAll(filepath.Join(dir, "userdata"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := writeState(s, id, State{Status: state}); err != nil {
				t.Fatal(err)
			}
		}
	}
	add("a", &Container{Name: "kept", Config: Config{Image: "img"}}, Exited, "")
	add("b", &Container{Name: "created_rm", Config: Config{Rm: true}}, "", "")               // create --rm: waits for its start
	add("c", &Container{Name: "ran_rm", Config: Config{Rm: true}}, Exited, "")               // ran, nobody holds it: swept
	add("d", &Container{Name: "running_rm", Config: Config{Rm: true}}, Exited, "")           // held below: in use
	add("e", nil, "", "")                                                                    // a killed create's leftover: swept
	add("f", nil, "", "{not json")                                                           // no lock file: left alone
	add("g", &Container{Name: "nolock_rm", Config: Config{Rm: true}}, Exited, "")            // no lock file: left alone, its name taken
	add("h", nil, "", "{not json")                                                           // damaged, lock free: left for system check
	add("i", nil, "", "{}")                                                                  // damaged (no ID), lock free: left for system check
	add("j", &Container{Name: "killed_run_rm", Run: true, Config: Config{Rm: true}}, "", "") // a run killed before its start: swept
	add("k", &Container{Name: "starting_rm", Run: true, Config: Config{Rm: true}}, "", "")   // a run before its start, held below: in use
	return s, ids
}

// TestSweepAndNames: one pass over the store sweeps exactly the --rm
// containers that ran and nobody holds (and leftovers of a killed
// create), and gives the names still taken.
func TestSweepAndNames(t *testing.T) {
	s, ids := sweepFixture(t)
	held, err := os.OpenFile(filepath.Join(Dir(s, ids["d"]), "lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := unix.Flock(int(held.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	starting, err := os.OpenFile(filepath.Join(Dir(s, ids["k"]), "lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer starting.Close()
	if err := unix.Flock(int(starting.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	names, trash, err := sweepLocked(s)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for name := range names {
		got = append(got, name)
	}
	slices.Sort(got)
	if want := []string{"created_rm", "kept", "nolock_rm", "running_rm", "starting_rm"}; !slices.Equal(got, want) {
		t.Errorf("names taken = %v, want %v", got, want)
	}
	if names["kept"] != ids["a"][:12] {
		t.Errorf("kept maps to %q, want its short ID %q", names["kept"], ids["a"][:12])
	}
	var swept []string
	for _, p := range trash {
		swept = append(swept, strings.TrimPrefix(filepath.Base(p), image.TrashContainerPrefix))
	}
	slices.Sort(swept)
	want := []string{ids["c"], ids["e"], ids["j"]}
	slices.Sort(want)
	if !slices.Equal(swept, want) {
		t.Errorf("swept %v, want %v", swept, want)
	}
	for _, key := range []string{"a", "b", "d", "f", "g", "h", "i", "k"} {
		if _, err := os.Stat(Dir(s, ids[key])); err != nil {
			t.Errorf("container %s should stay: %v", key, err)
		}
	}
	for _, key := range []string{"c", "e", "j"} {
		if _, err := os.Stat(Dir(s, ids[key])); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("container %s should have left the containers directory: %v", key, err)
		}
	}
}

// TestCreateNameAfterSweep: create refuses a name a container still
// holds, frees the name of one it sweeps, and picks a free name itself.
func TestCreateNameAfterSweep(t *testing.T) {
	s, _ := sweepFixture(t)
	img := image.HostImage() // in no image list: still there whatever is removed
	if _, _, err := create(s, img, Config{Name: "kept"}, "", false); !errors.Is(err, ErrNameInUse) {
		t.Fatalf("create --name kept = %v, want ErrNameInUse", err)
	}
	c, lock, err := create(s, img, Config{Name: "ran_rm"}, "", false)
	if err != nil {
		t.Fatalf("create --name ran_rm (its holder was swept): %v", err)
	}
	lock.Close()
	if _, err := os.Stat(filepath.Join(Dir(s, c.ID), "container.json")); err != nil {
		t.Fatal(err)
	}
	c, lock, err = create(s, img, Config{}, "", false)
	if err != nil {
		t.Fatal(err)
	}
	lock.Close()
	if c.Name == "" || slices.Contains([]string{"kept", "created_rm", "running_rm", "ran_rm"}, c.Name) {
		t.Errorf("generated name %q is empty or taken", c.Name)
	}
	// The trash went as create returned.
	if left, _ := os.ReadDir(filepath.Join(s.Root, "tmp")); len(left) > 0 {
		t.Errorf("tmp/ still holds %d entries after create", len(left))
	}
}

// TestCheckKilledRun: `system check` reports a --rm container whose run
// died before its start as a sweep sees it (one a run made, lock free),
// and not one made by create --rm, nor one whose run still holds it.
func TestCheckKilledRun(t *testing.T) {
	s, ids := sweepFixture(t)
	held, err := os.OpenFile(filepath.Join(Dir(s, ids["k"]), "lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := unix.Flock(int(held.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	ic := &image.Check{Images: map[string]bool{}, BadIndex: true}
	for key, want := range map[string]bool{"j": true, "k": false, "b": false} {
		_, why := checkContainer(s, ids[key], ic)
		if got := strings.Contains(why, "its run was killed"); got != want {
			t.Errorf("container %s: %q; reported as a killed run: %v, want %v", key, why, got, want)
		}
	}
}
