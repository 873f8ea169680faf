package userns

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/internal/endthread"
)

// tick outlasts the file system clock's: what a test writes before it
// is older than a cache file written after (writeCache keeps none
// otherwise), and what it changes after is newer.
const tick = 20 * time.Millisecond

// cacheEnv is a detectEnv with setuid helpers, alice's ranges and a
// private directory for the cache file.
func cacheEnv(t *testing.T) (*detectEnv, Options, string) {
	t.Helper()
	e := newDetectEnv(t)
	writeFile(t, e.dir, "subuid", "alice:100000:65536\n", 0o644)
	writeFile(t, e.dir, "subgid", "alice:100000:65536\n", 0o644)
	fakeStat(t, func(path string) (helperInfo, error) {
		if _, err := os.Stat(path); err != nil {
			return helperInfo{}, err
		}
		return helperInfo{mode: 0o755 | fs.ModeSetuid}, nil
	})
	run := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	opts := e.opts()
	opts.NSSwitch = writeFile(t, e.dir, "nsswitch.conf", "passwd: files\n", 0o644)
	time.Sleep(tick)
	return e, opts, filepath.Join(run, cacheName(cacheKey(opts)))
}

// kept is the answers kept in the directory of file, whatever their key.
func kept(t *testing.T, file string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(filepath.Dir(file), "idmap-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// forge rewrites the map a cache file keeps, leaving its key and inputs:
// a DetectCached that answers with the forged map read the file.
func forge(t *testing.T, file string, perm fs.FileMode) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("no cache file written: %v", err)
	}
	s := strings.Replace(string(b), `uids "0 1000 1\n1 100000 65536`, `uids "0 1000 1\n1 100000 4242`, 1)
	if s == string(b) {
		t.Fatalf("cache file holds no map to forge:\n%s", b)
	}
	os.Remove(file)
	if err := os.WriteFile(file, []byte(s), perm); err != nil {
		t.Fatal(err)
	}
}

const forged = "u0:1000:1,u1:100000:4242;g0:1001:1,g1:100000:65536"

func detectCached(t *testing.T, opts Options, file string) Mapping {
	t.Helper()
	m, err := DetectCached(opts, filepath.Dir(file), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDetectCached(t *testing.T) {
	const fresh = "u0:1000:1,u1:100000:65536;g0:1001:1,g1:100000:65536"
	t.Run("answers from the file while nothing changed", func(t *testing.T) {
		_, opts, file := cacheEnv(t)
		if m := detectCached(t, opts, file); m.String() != fresh || m.Mode != ModeSubID {
			t.Fatalf("first answer %s %s, want subid %s", m.Mode, m, fresh)
		}
		forge(t, file, 0o600)
		m := detectCached(t, opts, file)
		if m.String() != forged {
			t.Fatalf("second answer %s, want the file's %s", m, forged)
		}
		if m.NewUIDMap != opts.NewUIDMap || m.NewGIDMap != opts.NewGIDMap || !strings.Contains(m.Reason(), "using 65536 subordinate ids") {
			t.Errorf("helpers %q %q, reason %q: not what Detect said", m.NewUIDMap, m.NewGIDMap, m.Reason())
		}
	})
	// Each change to what Detect read makes the file stale.
	changes := map[string]func(t *testing.T, e *detectEnv, opts *Options){
		"a subid file": func(t *testing.T, e *detectEnv, _ *Options) {
			writeFile(t, e.dir, "subuid", "alice:100000:65536\nalice:300000:10\n", 0o644)
		},
		"a helper":      func(t *testing.T, e *detectEnv, _ *Options) { os.Chmod(e.newuidmap, 0o700) },
		"a helper gone": func(t *testing.T, e *detectEnv, _ *Options) { os.Remove(e.newgidmap) },
		"the options":   func(_ *testing.T, _ *detectEnv, o *Options) { o.UserName = "bob" },
		"the nsswitch": func(t *testing.T, e *detectEnv, o *Options) {
			o.NSSwitch = writeFile(t, e.dir, "nss", "passwd: files\n", 0o644)
		},
		"$USER": func(t *testing.T, _ *detectEnv, _ *Options) { t.Setenv("USER", "someone-else") },
		"$PATH": func(t *testing.T, _ *detectEnv, _ *Options) { t.Setenv("PATH", "/nonexistent") },
		"a file written": func(t *testing.T, e *detectEnv, _ *Options) {
			writeFile(t, e.dir, "subgid", "alice:100000:65536\n", 0o644)
		},
	}
	for name, change := range changes {
		t.Run("stale after "+name, func(t *testing.T) {
			e, opts, file := cacheEnv(t)
			detectCached(t, opts, file)
			forge(t, file, 0o600)
			change(t, e, &opts)
			want, err := Detect(opts)
			if err != nil {
				t.Fatal(err)
			}
			if m := detectCached(t, opts, file); m.String() == forged || m.String() != want.String() || m.Reason() != want.Reason() {
				t.Fatalf("answer %s (%s), want Detect's %s (%s)", m, m.Reason(), want, want.Reason())
			}
		})
	}
	// The supplementary groups decide what LookPath finds executable:
	// with other groups, the file kept under the first is not read.
	t.Run("stale after the groups change", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("setting a thread's groups needs root (CAP_SETGID)")
		}
		_, opts, file := cacheEnv(t)
		dir := filepath.Dir(file)
		on := func(gs []uint32, f func()) { t.Helper(); onThreadAs(t, -1, -1, gs, f) }
		var kept string
		var m Mapping
		var err error
		on([]uint32{4241}, func() {
			if _, err = DetectCached(opts, dir, t.Logf); err == nil {
				kept = filepath.Join(dir, cacheName(cacheKey(opts)))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		forge(t, kept, 0o600)
		on([]uint32{4241}, func() { m, err = DetectCached(opts, dir, t.Logf) })
		if err != nil || m.String() != forged {
			t.Fatalf("with the same groups: %s, %v; want the file's %s", m, err, forged)
		}
		on([]uint32{4241, 4242}, func() { m, err = DetectCached(opts, dir, t.Logf) })
		if err != nil || m.String() != fresh {
			t.Fatalf("with another group: %s, %v; want Detect's %s", m, err, fresh)
		}
	})
	// A helper's mount made noexec or nosuid changes no stat it has:
	// the file is not read then. (Bound and remounted in a mount
	// namespace of a thread's own.)
	for opt, flag := range map[string]uintptr{"noexec": unix.MS_NOEXEC, "nosuid": unix.MS_NOSUID} {
		t.Run("stale once a helper's mount is "+opt, func(t *testing.T) {
			if os.Getuid() != 0 {
				t.Skip("mounting needs root")
			}
			e, opts, file := cacheEnv(t)
			detectCached(t, opts, file)
			forge(t, file, 0o600)
			var m Mapping
			var err, merr error
			terr := endthread.Run(func() {
				d := filepath.Dir(e.newuidmap)
				for _, step := range []func() error{
					func() error { return unix.Unshare(unix.CLONE_NEWNS) },
					func() error { return unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "") },
					func() error { return unix.Mount(d, d, "", unix.MS_BIND, "") },
					func() error { return unix.Mount("", d, "", unix.MS_BIND|unix.MS_REMOUNT|flag, "") },
				} {
					if merr = step(); merr != nil {
						return
					}
				}
				m, err = DetectCached(opts, filepath.Dir(file), t.Logf)
			})
			if terr != nil || merr != nil {
				t.Fatalf("mounting the helpers' directory %s: %v %v", opt, merr, terr)
			}
			if err != nil || m.String() != fresh {
				t.Fatalf("with the helpers' mount %s: %s, %v; want Detect's %s", opt, m, err, fresh)
			}
		})
	}
	// A file anyone else could have written is not read.
	refused := map[string]func(t *testing.T, file string){
		"readable by others": func(t *testing.T, file string) { os.Chmod(file, 0o644) },
		"a symbolic link": func(t *testing.T, file string) {
			other := file + ".real"
			if err := os.Rename(file, other); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(other, file); err != nil {
				t.Fatal(err)
			}
		},
		"of another version": func(t *testing.T, file string) {
			b, _ := os.ReadFile(file)
			os.WriteFile(file, []byte(strings.Replace(string(b), cacheVersion, "sandbox id map 0", 1)), 0o600)
		},
		"cut short": func(t *testing.T, file string) {
			b, _ := os.ReadFile(file)
			os.WriteFile(file, b[:len(b)/2], 0o600)
		},
		"with a relative helper": func(t *testing.T, file string) {
			b, _ := os.ReadFile(file)
			os.WriteFile(file, []byte(strings.Replace(string(b), `newuidmap "/`, `newuidmap "`, 1)), 0o600)
		},
	}
	for name, spoil := range refused {
		t.Run("not read when "+name, func(t *testing.T) {
			_, opts, file := cacheEnv(t)
			detectCached(t, opts, file)
			forge(t, file, 0o600)
			spoil(t, file)
			if m := detectCached(t, opts, file); m.String() != fresh {
				t.Fatalf("answer %s, want Detect's %s", m, fresh)
			}
		})
	}
	t.Run("single-id mode explains on demand", func(t *testing.T) {
		e, opts, file := cacheEnv(t)
		writeFile(t, e.dir, "subuid", "", 0o644)
		writeFile(t, e.dir, "subgid", "", 0o644)
		time.Sleep(tick)
		detectCached(t, opts, file)
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), `input "`+e.newuidmap) {
			t.Errorf("the cache lists the helpers, which Detect did not look at:\n%s", b)
		}
		// The second answer is the file's: its map, forged.
		os.WriteFile(file, []byte(strings.Replace(string(b), `gids "0 1001 1`, `gids "0 4242 1`, 1)), 0o600)
		m := detectCached(t, opts, file)
		if m.Mode != ModeSingle || m.String() != "u0:1000:1;g0:4242:1" {
			t.Fatalf("got %s %s, want the file's single map", m.Mode, m)
		}
		if !strings.Contains(m.Reason(), `no subordinate uid and gid ranges for "alice"`) {
			t.Errorf("reason %q", m.Reason())
		}
		// Ranges added since: the reason says there were none when the
		// command started, not that they are used.
		writeFile(t, e.dir, "subuid", "alice:100000:65536\n", 0o644)
		writeFile(t, e.dir, "subgid", "alice:100000:65536\n", 0o644)
		if r := m.Reason(); !strings.Contains(r, "when the command started") {
			t.Errorf("reason %q after ranges were added, want none when the command started", r)
		}
	})
	t.Run("none kept while an input is as new as the answer", func(t *testing.T) {
		e, opts, file := cacheEnv(t)
		// Its times just ahead of the answer's: as a change in the
		// tick the answer is written in leaves them.
		soon := time.Now().Add(300 * time.Millisecond)
		if err := os.Chtimes(filepath.Join(e.dir, "subuid"), soon, soon); err != nil {
			t.Fatal(err)
		}
		detectCached(t, opts, file)
		if k := kept(t, file); len(k) > 0 {
			t.Errorf("an answer was kept with an input changed in its tick: %q", k)
		}
		if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".idmap-*")); len(leftovers) > 0 {
			t.Errorf("the refused answer's file is left: %q", leftovers)
		}
	})
	t.Run("none kept where getsubids answers", func(t *testing.T) {
		e, opts, file := cacheEnv(t)
		opts.Getsubids = e.getsubidsOK
		detectCached(t, opts, file)
		if k := kept(t, file); len(k) > 0 {
			t.Errorf("an answer getsubids may change was kept: %q", k)
		}
	})
	t.Run("kept with an input dated far ahead", func(t *testing.T) {
		e, opts, file := cacheEnv(t)
		later := time.Now().Add(time.Hour)
		if err := os.Chtimes(filepath.Join(e.dir, "subuid"), later, later); err != nil {
			t.Fatal(err)
		}
		time.Sleep(tick) // its ctime, now, behind the answer's
		detectCached(t, opts, file)
		if _, err := os.Stat(file); err != nil {
			t.Errorf("no answer kept for an input dated an hour ahead (no change can give it those times): %v", err)
		}
	})
	t.Run("none kept with an input of whole seconds in the answer's second", func(t *testing.T) {
		// A file system of one-second times stamps every change within
		// a second with it: one in the answer's second may follow it.
		e, opts, file := cacheEnv(t)
		now := time.Now()
		second := now.Truncate(time.Second).Add(time.Second)
		time.Sleep(second.Sub(now) + 50*time.Millisecond)
		if err := os.Chtimes(filepath.Join(e.dir, "subuid"), second, second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(tick) // its ctime, now, behind the answer's
		detectCached(t, opts, file)
		if k := kept(t, file); len(k) > 0 {
			t.Errorf("an answer was kept with an input stamped in its own second: %q", k)
		}
	})
	t.Run("each setting keeps its own", func(t *testing.T) {
		_, opts, file := cacheEnv(t)
		path := os.Getenv("PATH")
		detectCached(t, opts, file)
		t.Setenv("PATH", path+":/nonexistent")
		detectCached(t, opts, file)
		if k := kept(t, file); len(k) != 2 {
			t.Fatalf("answers kept: %q, want two, one for each $PATH", k)
		}
		t.Setenv("PATH", path)
		forge(t, file, 0o600)
		if m := detectCached(t, opts, file); m.String() != forged {
			t.Errorf("answer %s after the other $PATH's, want the kept one", m)
		}
	})
	t.Run("a killed write's file swept once a minute old, an answer once a day", func(t *testing.T) {
		_, opts, file := cacheEnv(t)
		dir := filepath.Dir(file)
		old := writeFile(t, dir, ".idmap-old", "sandbox id map", 0o600)
		young := writeFile(t, dir, ".idmap-young", "sandbox id map", 0o600)
		stale := writeFile(t, dir, "idmap-0000000000000000", "sandbox id map", 0o600)
		recent := writeFile(t, dir, "idmap-1111111111111111", "sandbox id map", 0o600)
		for p, age := range map[string]time.Duration{old: 2 * time.Minute, stale: 25 * time.Hour, recent: 23 * time.Hour} {
			then := time.Now().Add(-age)
			os.Chtimes(p, then, then)
		}
		detectCached(t, opts, file)
		for p, want := range map[string]bool{old: false, young: true, stale: false, recent: true} {
			if _, err := os.Stat(p); (err == nil) != want {
				t.Errorf("%s left: %v, want %v", filepath.Base(p), err == nil, want)
			}
		}
		if _, err := os.Stat(file); err != nil {
			t.Errorf("the answer just made is gone: %v", err)
		}
	})
	t.Run("none kept with a relative directory in PATH", func(t *testing.T) {
		_, opts, file := cacheEnv(t)
		opts.NewUIDMap, opts.NewGIDMap = "", ""
		t.Setenv("PATH", "bin:/usr/bin")
		detectCached(t, opts, file)
		if k := kept(t, file); len(k) > 0 {
			t.Errorf("an answer was kept for a search of the current directory: %q", k)
		}
	})
	t.Run("none written into a directory others can enter", func(t *testing.T) {
		_, opts, file := cacheEnv(t)
		os.Chmod(filepath.Dir(file), 0o755)
		detectCached(t, opts, file)
		if k := kept(t, file); len(k) > 0 {
			t.Errorf("an answer was kept in a directory not the user's alone: %q", k)
		}
	})
}

// TestHelperTrail: the search's directories, and the name in each, are
// part of the answer: a helper put earlier in $PATH, or one there made
// executable, makes the answer stale; and where only the fallback
// (helperDirs) found one, in a directory that $PATH has too, so does an
// executable one put later in $PATH, which the next Detect finds first.
func TestHelperTrail(t *testing.T) {
	const script = "#!/bin/sh\n"
	for _, c := range []struct {
		name     string
		setup    func(t *testing.T, first, second string)
		change   func(t *testing.T, first, second string)
		fallback bool   // helperDirs is first alone
		was, now string // where the helper is found: "first" or "second"
	}{
		{"added", func(t *testing.T, first, second string) {
			writeFile(t, second, "newuidmap", script, 0o755)
			writeFile(t, second, "newgidmap", script, 0o755)
		}, func(t *testing.T, first, second string) {
			writeFile(t, first, "newuidmap", script, 0o755)
		}, false, "second", "first"},
		{"made executable", func(t *testing.T, first, second string) {
			writeFile(t, second, "newuidmap", script, 0o755)
			writeFile(t, second, "newgidmap", script, 0o755)
			writeFile(t, first, "newuidmap", script, 0o644) // LookPath passes over it
		}, func(t *testing.T, first, second string) {
			if err := os.Chmod(filepath.Join(first, "newuidmap"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, false, "second", "first"},
		{"after the fallback", func(t *testing.T, first, second string) {
			writeFile(t, first, "newuidmap", script, 0o644) // LookPath passes over them
			writeFile(t, first, "newgidmap", script, 0o644)
		}, func(t *testing.T, first, second string) {
			writeFile(t, second, "newuidmap", script, 0o755)
			writeFile(t, second, "newgidmap", script, 0o755)
		}, true, "first", "second"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, opts, file := cacheEnv(t)
			dirs := map[string]string{"first": t.TempDir(), "second": t.TempDir()}
			first, second := dirs["first"], dirs["second"]
			c.setup(t, first, second)
			if c.fallback {
				saved := helperDirs
				helperDirs = []string{first}
				t.Cleanup(func() { helperDirs = saved })
			}
			t.Setenv("PATH", first+":"+second)
			opts.NewUIDMap, opts.NewGIDMap = "", ""
			time.Sleep(tick)
			if m, want := detectCached(t, opts, file), filepath.Join(dirs[c.was], "newuidmap"); m.NewUIDMap != want {
				t.Fatalf("helper %q, want %s", m.NewUIDMap, want)
			}
			if k := kept(t, file); len(k) != 1 {
				t.Fatalf("answers kept: %q, want one", k)
			}
			time.Sleep(tick)
			c.change(t, first, second)
			if m, want := detectCached(t, opts, file), filepath.Join(dirs[c.now], "newuidmap"); m.NewUIDMap != want {
				t.Fatalf("helper %q after the change, want %s", m.NewUIDMap, want)
			}
		})
	}
}
