package userns

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// childEnv makes the test binary act as the user-namespace child of
// TestApplyReal instead of running the tests.
const childEnv = "USERNS_TEST_APPLY_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		// Block until the parent has written our maps and closes stdin,
		// then report who we are inside the namespace.
		_, _ = io.Copy(io.Discard, os.Stdin)
		fmt.Printf("uid=%d gid=%d\n", os.Getuid(), os.Getgid())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestParseSubIDFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		user    string
		id      int
		want    []Range
		wantErr string // substring; "" = no error
	}{
		{
			name:    "by name",
			content: "bob:300000:65536\nalice:100000:65536\n",
			user:    "alice", id: 1000,
			want: []Range{{100000, 65536}},
		},
		{
			name:    "by numeric uid",
			content: "1000:100000:65536\n1001:200000:65536\n",
			user:    "alice", id: 1000,
			want: []Range{{100000, 65536}},
		},
		{
			name:    "multiple ranges in file order, name and uid mixed",
			content: "alice:500000:10\nbob:1:2\n1000:100000:65536\nalice:200000:1000\n",
			user:    "alice", id: 1000,
			want: []Range{{500000, 10}, {100000, 65536}, {200000, 1000}},
		},
		{
			name:    "comments and blank lines",
			content: "# alice:1:1\n\n   \n  alice:100000:65536  \n#\n",
			user:    "alice", id: 1000,
			want: []Range{{100000, 65536}},
		},
		{
			name:    "no entry",
			content: "bob:100000:65536\n",
			user:    "alice", id: 1000,
			want: nil,
		},
		{
			name:    "empty name and negative id match nothing",
			content: ":1:2\n-1:3:4\n",
			user:    "", id: -1,
			want: nil,
		},
		{
			name:    "malformed line for others skipped",
			content: "bob:x:1\ncarol\ndave:1:2:3\n:::\nalice:100000:65536\n",
			user:    "alice", id: 1000,
			want: []Range{{100000, 65536}},
		},
		{
			name:    "malformed count for the user",
			content: "bob:1:1\nalice:100000:lots\n",
			user:    "alice", id: 1000,
			wantErr: "line 2: malformed entry",
		},
		{
			name:    "too few fields for the user",
			content: "# header\nalice:100000\n",
			user:    "alice", id: 1000,
			wantErr: "line 2:",
		},
		{
			name:    "too many fields for the uid",
			content: "1000:1:2:3\n",
			user:    "alice", id: 1000,
			wantErr: "line 1:",
		},
		{
			name:    "range past the largest id",
			content: "alice:4294967295:2\n",
			user:    "alice", id: 1000,
			wantErr: "line 1:",
		},
		{
			name:    "negative start",
			content: "alice:-5:2\n",
			user:    "alice", id: 1000,
			wantErr: "bad start",
		},
		{
			name:    "zero count skipped",
			content: "alice:100000:0\nalice:200000:5\n",
			user:    "alice", id: 1000,
			want: []Range{{200000, 5}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSubIDFile(strings.NewReader(tt.content), tt.user, tt.id)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr == "" && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseGetsubids(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []Range
		wantErr string
	}{
		{name: "one", out: "0: alice 100000 65536\n", want: []Range{{100000, 65536}}},
		{name: "two", out: "0: alice 100000 65536\n1: alice 300000 10\n", want: []Range{{100000, 65536}, {300000, 10}}},
		{name: "empty", out: "", want: nil},
		{name: "blank lines", out: "\n0: alice 1 2\n\n", want: []Range{{1, 2}}},
		{name: "zero count skipped", out: "0: alice 1 0\n", want: nil},
		{name: "error text", out: "Error fetching ranges\n", wantErr: "line 1"},
		{name: "missing field", out: "0: alice 100000\n", wantErr: "line 1"},
		{name: "bad number", out: "0: alice 1 2\n1: alice x 2\n", wantErr: "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseGetsubids([]byte(tt.out))
			checkErr(t, err, tt.wantErr)
			if tt.wantErr == "" && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckHelperFakeStat(t *testing.T) {
	tests := []struct {
		name    string
		info    helperInfo
		statErr error
		wantErr string
	}{
		{name: "setuid root", info: helperInfo{mode: 0o755 | fs.ModeSetuid, uid: 0}},
		{name: "file capabilities", info: helperInfo{mode: 0o755, uid: 0, caps: true}},
		{name: "plain", info: helperInfo{mode: 0o755, uid: 0}, wantErr: "newuidmap at /x/newuidmap is not setuid root and has no file capabilities; reinstall the uidmap package"},
		{name: "setuid non-root", info: helperInfo{mode: 0o755 | fs.ModeSetuid, uid: 1000}, wantErr: "owned by uid 1000"},
		{name: "directory", info: helperInfo{mode: fs.ModeDir | 0o755 | fs.ModeSetuid}, wantErr: "not an executable file"},
		{name: "not executable", info: helperInfo{mode: 0o644 | fs.ModeSetuid}, wantErr: "not an executable file"},
		{name: "missing", statErr: fs.ErrNotExist, wantErr: "newuidmap at /x/newuidmap does not exist"},
		{name: "stat error", statErr: fs.ErrPermission, wantErr: "checking newuidmap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakeStat(t, func(string) (helperInfo, error) { return tt.info, tt.statErr })
			checkErr(t, CheckHelper("/x/newuidmap"), tt.wantErr)
		})
	}
}

func TestCheckHelperRealStat(t *testing.T) {
	dir := t.TempDir()
	plain := writeFile(t, dir, "newuidmap", "", 0o755)
	if err := CheckHelper(plain); err == nil || !strings.Contains(err.Error(), "is not setuid root") {
		t.Errorf("plain file: got %v, want not setuid root", err)
	}
	if err := CheckHelper(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: got %v, want does not exist", err)
	}
	// Anyone may set the setuid bit on their own file, but only root's
	// file is setuid root.
	suid := writeFile(t, dir, "newgidmap", "", 0o755)
	if err := os.Chmod(suid, 0o755|fs.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	err := CheckHelper(suid)
	if os.Getuid() == 0 && err != nil {
		t.Errorf("setuid file owned by root: %v", err)
	}
	if os.Getuid() != 0 && (err == nil || !strings.Contains(err.Error(), "instead of root")) {
		t.Errorf("setuid file owned by uid %d: got %v, want not root", os.Getuid(), err)
	}
}

// detectEnv is a fake system for Detect: subid files, helpers and getsubids
// scripts in a temp dir.
type detectEnv struct {
	dir                    string
	subuid, subgid         string
	newuidmap, newgidmap   string
	getsubidsOK            string // prints ranges 400000+2000 (uid) and 300000+1000 (gid)
	getsubidsFail          string // fails like getsubids without ranges
	getsubidsEmpty         string // prints nothing
	getsubidsNobodyButBobs string // prints ranges only for bob
}

func newDetectEnv(t *testing.T) *detectEnv {
	t.Helper()
	dir := t.TempDir()
	e := &detectEnv{
		dir:       dir,
		subuid:    filepath.Join(dir, "subuid"),
		subgid:    filepath.Join(dir, "subgid"),
		newuidmap: writeFile(t, dir, "newuidmap", "#!/bin/sh\nexit 0\n", 0o755),
		newgidmap: writeFile(t, dir, "newgidmap", "#!/bin/sh\nexit 0\n", 0o755),
		getsubidsOK: writeFile(t, dir, "getsubids-ok", `#!/bin/sh
if [ "$1" = "-g" ]; then echo "0: $2 300000 1000"; else echo "0: $1 400000 2000"; fi
`, 0o755),
		getsubidsFail:  writeFile(t, dir, "getsubids-fail", "#!/bin/sh\necho 'Error fetching ranges' >&2\nexit 1\n", 0o755),
		getsubidsEmpty: writeFile(t, dir, "getsubids-empty", "#!/bin/sh\nexit 0\n", 0o755),
		getsubidsNobodyButBobs: writeFile(t, dir, "getsubids-bob", `#!/bin/sh
for a; do name=$a; done
[ "$name" = bob ] && echo "0: bob 1 2"
exit 0
`, 0o755),
	}
	return e
}

func (e *detectEnv) opts() Options {
	return Options{
		UID: 1000, GID: 1001, UserName: "alice",
		SubUIDFile: e.subuid, SubGIDFile: e.subgid,
		Getsubids: "-",
		NewUIDMap: e.newuidmap, NewGIDMap: e.newgidmap,
	}
}

func TestDetect(t *testing.T) {
	const std = "alice:100000:65536\n"
	tests := []struct {
		name           string
		subuid, subgid string // "-" = file absent
		setuid         bool   // fake helpers are setuid root
		tweak          func(*Options, *detectEnv)
		wantErr        string
		wantMode       Mode
		wantMap        string // Mapping.String()
		wantSize       uint32
		wantReason     []string // substrings
	}{
		{
			name:   "subid from files",
			subuid: std, subgid: std, setuid: true,
			wantMode: ModeSubID, wantSize: 65537,
			wantMap:    "u0:1000:1,u1:100000:65536;g0:1001:1,g1:100000:65536",
			wantReason: []string{"using 65536 subordinate ids from ", "subuid and ", "subgid"},
		},
		{
			name:   "by numeric uid, subgid keyed by uid too",
			subuid: "1000:100000:65536\n", subgid: "1000:200000:65536\n", setuid: true,
			wantMode: ModeSubID, wantSize: 65537,
			wantMap: "u0:1000:1,u1:100000:65536;g0:1001:1,g1:200000:65536",
		},
		{
			name:   "several ranges, own id and overlaps ignored",
			subuid: "alice:100000:1000\nalice:500:1000\nalice:200000:10\nalice:200005:10\n",
			subgid: "alice:100000:1000\nalice:300000:24\n", setuid: true,
			wantMode: ModeSubID, wantSize: 1011,
			wantMap:    "u0:1000:1,u1:100000:1000,u1001:200000:10;g0:1001:1,g1:100000:1000,g1001:300000:24",
			wantReason: []string{"using 1010 subordinate uids and 1024 subordinate gids", "ignoring 2 range(s)"},
		},
		{
			name:   "only range contains own uid",
			subuid: "alice:0:65536\n", subgid: std, setuid: true,
			wantMode:   ModeSingle,
			wantReason: []string{`every subordinate uid range for "alice" contains the user's own uid 1000`},
		},
		{
			name:   "no uid range",
			subuid: "bob:100000:65536\n", subgid: std, setuid: true,
			wantMode: ModeSingle, wantSize: 1,
			wantMap: "u0:1000:1;g0:1001:1",
			// The suggestion starts past bob's 100000-165535, not over it.
			wantReason: []string{`no subordinate uid range for "alice" in `, "(add one with: usermod --add-subuids 196608-262143 alice)"},
		},
		{
			name:   "no gid range",
			subuid: std, subgid: "", setuid: true,
			wantMode:   ModeSingle,
			wantReason: []string{`no subordinate gid range for "alice"`, "--add-subgids 196608-262143 alice"},
		},
		{
			name:   "no files",
			subuid: "-", subgid: "-", setuid: true,
			wantMode:   ModeSingle,
			wantReason: []string{`no subordinate uid and gid ranges for "alice"`, "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice"},
		},
		{
			name:   "no user name: matched by uid, named by uid",
			subuid: "", subgid: "", setuid: true,
			tweak:      func(o *Options, _ *detectEnv) { o.UID, o.UserName = 4000000, "" },
			wantMode:   ModeSingle,
			wantReason: []string{"for uid 4000000", "LOGIN"},
		},
		{
			name:   "malformed line for the user",
			subuid: "bob:1:1\nalice:100000\n", subgid: std, setuid: true,
			wantMode:   ModeSingle,
			wantReason: []string{"subuid line 2: malformed entry"},
		},
		{
			name:   "helpers not setuid",
			subuid: std, subgid: std, setuid: false,
			wantMode:   ModeSingle,
			wantReason: []string{"newuidmap is not setuid root and has no file capabilities", "newgidmap is not setuid root"},
		},
		{
			name:   "helper missing",
			subuid: std, subgid: std, setuid: true,
			tweak:      func(o *Options, e *detectEnv) { o.NewGIDMap = filepath.Join(e.dir, "nope", "newgidmap") },
			wantMode:   ModeSingle,
			wantReason: []string{"newgidmap at ", "does not exist (install the uidmap package)"},
		},
		{
			name:   "everything missing is reported",
			subuid: "", subgid: std, setuid: false,
			wantMode:   ModeSingle,
			wantReason: []string{"no subordinate uid range", "; newuidmap at", "; newgidmap at"},
		},
		{
			name:   "force single",
			subuid: std, subgid: std, setuid: true,
			tweak:    func(o *Options, _ *detectEnv) { o.Force = ModeSingle },
			wantMode: ModeSingle, wantSize: 1,
			wantMap:    "u0:1000:1;g0:1001:1",
			wantReason: []string{"single-id mode requested"},
		},
		{
			name:   "force subid possible",
			subuid: std, subgid: std, setuid: true,
			tweak:    func(o *Options, _ *detectEnv) { o.Force = ModeSubID },
			wantMode: ModeSubID,
		},
		{
			name:   "force subid impossible",
			subuid: "", subgid: std, setuid: true,
			tweak:   func(o *Options, _ *detectEnv) { o.Force = ModeSubID },
			wantErr: `cannot use subid mode: no subordinate uid range for "alice"`,
		},
		{
			name:   "unknown mode",
			subuid: std, subgid: std,
			tweak:   func(o *Options, _ *detectEnv) { o.Force = "full" },
			wantErr: `unknown id mapping mode "full"`,
		},
		{
			name:   "negative uid",
			subuid: std, subgid: std,
			tweak:   func(o *Options, _ *detectEnv) { o.UID = -2 },
			wantErr: "invalid uid -2",
		},
		{
			name:   "getsubids when the files do not list the user",
			subuid: "", subgid: "", setuid: true,
			tweak:    func(o *Options, e *detectEnv) { o.Getsubids = e.getsubidsOK },
			wantMode: ModeSubID, wantSize: 1001,
			wantMap:    "u0:1000:1,u1:400000:2000;g0:1001:1,g1:300000:1000",
			wantReason: []string{"using 2000 subordinate uids and 1000 subordinate gids from getsubids"},
		},
		{
			name:   "files first: getsubids not asked when they list the user",
			subuid: std, subgid: std, setuid: true,
			tweak:    func(o *Options, e *detectEnv) { o.Getsubids = e.getsubidsOK },
			wantMode: ModeSubID,
			wantMap:  "u0:1000:1,u1:100000:65536;g0:1001:1,g1:100000:65536",
		},
		{
			name:   "getsubids fails: files",
			subuid: std, subgid: std, setuid: true,
			tweak:    func(o *Options, e *detectEnv) { o.Getsubids = e.getsubidsFail },
			wantMode: ModeSubID,
			wantMap:  "u0:1000:1,u1:100000:65536;g0:1001:1,g1:100000:65536",
		},
		{
			name:   "getsubids prints nothing: files",
			subuid: std, subgid: std, setuid: true,
			tweak:    func(o *Options, e *detectEnv) { o.Getsubids = e.getsubidsEmpty },
			wantMode: ModeSubID,
			wantMap:  "u0:1000:1,u1:100000:65536;g0:1001:1,g1:100000:65536",
		},
		{
			name:   "getsubids and files both empty",
			subuid: "", subgid: "", setuid: true,
			tweak:      func(o *Options, e *detectEnv) { o.Getsubids = e.getsubidsNobodyButBobs },
			wantMode:   ModeSingle,
			wantReason: []string{`no subordinate uid and gid ranges for "alice" from getsubids or in `},
		},
		{
			name:   "getsubids path missing: files",
			subuid: std, subgid: std, setuid: true,
			tweak:    func(o *Options, e *detectEnv) { o.Getsubids = filepath.Join(e.dir, "nope") },
			wantMode: ModeSubID,
			wantMap:  "u0:1000:1,u1:100000:65536;g0:1001:1,g1:100000:65536",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newDetectEnv(t)
			if tt.subuid != "-" {
				writeFile(t, e.dir, "subuid", tt.subuid, 0o644)
			}
			if tt.subgid != "-" {
				writeFile(t, e.dir, "subgid", tt.subgid, 0o644)
			}
			if tt.setuid {
				fakeStat(t, func(path string) (helperInfo, error) {
					if _, err := os.Stat(path); err != nil {
						return helperInfo{}, err
					}
					return helperInfo{mode: 0o755 | fs.ModeSetuid, uid: 0}, nil
				})
			}
			opts := e.opts()
			if tt.tweak != nil {
				tt.tweak(&opts, e)
			}
			m, err := Detect(opts)
			checkErr(t, err, tt.wantErr)
			if tt.wantErr != "" {
				return
			}
			if m.Mode != tt.wantMode {
				t.Errorf("mode %q, want %q (reason: %s)", m.Mode, tt.wantMode, m.Reason())
			}
			if tt.wantMap != "" && m.String() != tt.wantMap {
				t.Errorf("map %s, want %s", m, tt.wantMap)
			}
			if tt.wantSize != 0 && m.Size() != tt.wantSize {
				t.Errorf("size %d, want %d", m.Size(), tt.wantSize)
			}
			if m.Reason() == "" {
				t.Error("empty reason")
			}
			for _, s := range tt.wantReason {
				if !strings.Contains(m.Reason(), s) {
					t.Errorf("reason %q lacks %q", m.Reason(), s)
				}
			}
			if m.Mode == ModeSubID && (m.NewUIDMap != opts.NewUIDMap || m.NewGIDMap != opts.NewGIDMap) {
				t.Errorf("helpers %q %q, want %q %q", m.NewUIDMap, m.NewGIDMap, opts.NewUIDMap, opts.NewGIDMap)
			}
			if m.Mode == ModeSingle && (m.NewUIDMap != "" || m.NewGIDMap != "") {
				t.Errorf("helpers set in single mode: %q %q", m.NewUIDMap, m.NewGIDMap)
			}
		})
	}
}

func TestDetectHelpersNotFound(t *testing.T) {
	e := newDetectEnv(t)
	writeFile(t, e.dir, "subuid", "alice:100000:65536\n", 0o644)
	writeFile(t, e.dir, "subgid", "alice:100000:65536\n", 0o644)
	t.Setenv("PATH", t.TempDir())
	saved := helperDirs
	helperDirs = nil
	t.Cleanup(func() { helperDirs = saved })

	opts := e.opts()
	opts.NewUIDMap, opts.NewGIDMap = "", ""
	m, err := Detect(opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := "newuidmap and newgidmap not found (install the uidmap package)"; m.Mode != ModeSingle || m.Reason() != want {
		t.Errorf("got %s %q, want single %q", m.Mode, m.Reason(), want)
	}

	// Found in the fallback directories although not in PATH.
	helperDirs = []string{e.dir}
	fakeStat(t, func(string) (helperInfo, error) { return helperInfo{mode: 0o755 | fs.ModeSetuid}, nil })
	m, err = Detect(opts)
	if err != nil {
		t.Fatal(err)
	}
	if m.Mode != ModeSubID || m.NewUIDMap != e.newuidmap || m.NewGIDMap != e.newgidmap {
		t.Errorf("got %s %q %q (%s), want subid with helpers from %s", m.Mode, m.NewUIDMap, m.NewGIDMap, m.Reason(), e.dir)
	}
}

func TestBuildMapLineLimit(t *testing.T) {
	var ranges []Range
	for i := range 400 {
		ranges = append(ranges, Range{Start: uint32(100000 + 10*i), Count: 10})
	}
	maps, ignored := buildMap(1000, ranges)
	if len(maps) != maxMapLines || ignored != 400-(maxMapLines-1) {
		t.Fatalf("got %d lines, %d ignored; want %d, %d", len(maps), ignored, maxMapLines, 400-(maxMapLines-1))
	}
	last := maps[len(maps)-1]
	if want := (IDMap{ContainerID: 1 + 10*(maxMapLines-2), HostID: 100000 + 10*(maxMapLines-2), Size: 10}); last != want {
		t.Errorf("last line %v, want %v", last, want)
	}

	// The whole id space: container ids end exactly at the largest id.
	maps, ignored = buildMap(5, []Range{{Start: 0, Count: 5}, {Start: 6, Count: 4294967289}})
	if want := []IDMap{{0, 5, 1}, {1, 0, 5}, {6, 6, 4294967289}}; !reflect.DeepEqual(maps, want) || ignored != 0 {
		t.Errorf("got %v, %d ignored; want %v, 0", maps, ignored, want)
	}
}

func TestStringAndSize(t *testing.T) {
	tests := []struct {
		name string
		m    Mapping
		str  string
		size uint32
	}{
		{name: "zero", m: Mapping{}, str: ";", size: 0},
		{
			name: "single",
			m:    Mapping{Mode: ModeSingle, UIDs: []IDMap{{0, 1000, 1}}, GIDs: []IDMap{{0, 1000, 1}}},
			str:  "u0:1000:1;g0:1000:1", size: 1,
		},
		{
			name: "subid",
			m: Mapping{Mode: ModeSubID,
				UIDs: []IDMap{{0, 1000, 1}, {1, 100000, 65536}},
				GIDs: []IDMap{{0, 1000, 1}, {1, 100000, 65536}}},
			str: "u0:1000:1,u1:100000:65536;g0:1000:1,g1:100000:65536", size: 65537,
		},
		{
			name: "subid, gids fewer",
			m: Mapping{Mode: ModeSubID,
				UIDs: []IDMap{{0, 1000, 1}, {1, 100000, 65536}, {65537, 300000, 10}},
				GIDs: []IDMap{{0, 1001, 1}, {1, 100000, 1000}}},
			str: "u0:1000:1,u1:100000:65536,u65537:300000:10;g0:1001:1,g1:100000:1000", size: 1001,
		},
		{
			name: "huge",
			m: Mapping{Mode: ModeSubID,
				UIDs: []IDMap{{0, 1, 1}, {1, 2, 4294967294}, {4294967295, 0, 4294967295}},
				GIDs: []IDMap{{0, 1, 1}, {1, 2, 4294967294}, {4294967295, 0, 4294967295}}},
			str:  "u0:1:1,u1:2:4294967294,u4294967295:0:4294967295;g0:1:1,g1:2:4294967294,g4294967295:0:4294967295",
			size: 4294967295,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			if got := tt.m.Size(); got != tt.size {
				t.Errorf("Size() = %d, want %d", got, tt.size)
			}
		})
	}
}

func TestSysProcIDMaps(t *testing.T) {
	m := Mapping{Mode: ModeSingle, UIDs: []IDMap{{0, 1000, 1}}, GIDs: []IDMap{{0, 1001, 1}}}
	uids, gids := m.SysProcIDMaps()
	if want := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 1}}; !reflect.DeepEqual(uids, want) {
		t.Errorf("uids %v, want %v", uids, want)
	}
	if want := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1001, Size: 1}}; !reflect.DeepEqual(gids, want) {
		t.Errorf("gids %v, want %v", gids, want)
	}

	m = Mapping{UIDs: []IDMap{{0, 1000, 1}, {1, 100000, 65536}}}
	uids, gids = m.SysProcIDMaps()
	if want := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 1000, Size: 1}, {ContainerID: 1, HostID: 100000, Size: 65536}}; !reflect.DeepEqual(uids, want) || len(gids) != 0 {
		t.Errorf("uids %v gids %v, want %v and none", uids, gids, want)
	}
}

func TestApplyValidate(t *testing.T) {
	good := Mapping{
		Mode: ModeSubID,
		UIDs: []IDMap{{0, 1000, 1}}, GIDs: []IDMap{{0, 1000, 1}},
		NewUIDMap: "/bin/true", NewGIDMap: "/bin/true",
	}
	tests := []struct {
		name    string
		change  func(*Mapping)
		pid     int
		wantErr string
	}{
		{name: "single mode", change: func(m *Mapping) { m.Mode = ModeSingle }, pid: 1, wantErr: `needs subid mode, not "single"`},
		{name: "bad pid", pid: 0, wantErr: "invalid pid 0"},
		{name: "no helper", change: func(m *Mapping) { m.NewGIDMap = "" }, pid: 1, wantErr: "path not set"},
		{name: "no gid map", change: func(m *Mapping) { m.GIDs = nil }, pid: 1, wantErr: "0 map lines"},
		{name: "empty line", change: func(m *Mapping) { m.UIDs = []IDMap{{0, 1000, 0}} }, pid: 1, wantErr: "empty map line"},
		{name: "too many lines", change: func(m *Mapping) { m.UIDs = make([]IDMap, maxMapLines+1) }, pid: 1, wantErr: "341 map lines"},
		{name: "ok", pid: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good
			if tt.change != nil {
				tt.change(&m)
			}
			checkErr(t, m.validateApply(tt.pid), tt.wantErr)
		})
	}
}

// TestApplyHelperArgs runs Apply with fake helpers that record their
// arguments, and one that fails like newuidmap does.
func TestApplyHelperArgs(t *testing.T) {
	dir := t.TempDir()
	record := func(name string) string {
		return writeFile(t, dir, name, "#!/bin/sh\necho \"$@\" > \"$0.args\"\n", 0o755)
	}
	m := Mapping{
		Mode:      ModeSubID,
		UIDs:      []IDMap{{0, 1000, 1}, {1, 100000, 65536}, {65537, 300000, 10}},
		GIDs:      []IDMap{{0, 1001, 1}, {1, 200000, 65536}},
		NewUIDMap: record("newuidmap"), NewGIDMap: record("newgidmap"),
	}
	if err := m.Apply(4242); err != nil {
		t.Fatal(err)
	}
	for helper, want := range map[string]string{
		"newuidmap": "4242 0 1000 1 1 100000 65536 65537 300000 10\n",
		"newgidmap": "4242 0 1001 1 1 200000 65536\n",
	} {
		got, err := os.ReadFile(filepath.Join(dir, helper+".args"))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s args %q, want %q", helper, got, want)
		}
	}

	m.NewUIDMap = writeFile(t, dir, "failing", "#!/bin/sh\necho 'newuidmap: uid range [1-65537) -> [100000-165536) not allowed' >&2\nexit 1\n", 0o755)
	err := m.Apply(4242)
	for _, want := range []string{"running newuidmap for pid 4242: exit status 1: newuidmap: uid range [1-65537) -> [100000-165536) not allowed", "/etc/subuid", "setuid root"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// TestApplyReal maps a real child in a new user namespace with the real
// helpers, using the running user's real mapping.
func TestApplyReal(t *testing.T) {
	m, err := Detect(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Mode != ModeSubID {
		t.Skipf("uid %d cannot use subid mode here: %s", os.Getuid(), m.Reason())
	}
	t.Logf("mapping %s (%s)", m, m.Reason())

	cmd, stdin, out := startNSChild(t)
	pid := cmd.Process.Pid
	if err := m.Apply(pid); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string][]IDMap{"uid_map": m.UIDs, "gid_map": m.GIDs} {
		got := readProcMap(t, fmt.Sprintf("/proc/%d/%s", pid, file))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", file, got, want)
		}
	}
	// Let the child go; inside the namespace it must be root.
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	if got := strings.TrimSpace(out.String()); got != "uid=0 gid=0" {
		t.Errorf("child says %q, want uid=0 gid=0", got)
	}

	// A range the user does not own must be refused, with newuidmap's
	// own words in the error.
	if os.Getuid() == 0 || overlapsAny(m.UIDs, Range{Start: 1, Count: 1}) {
		return // root may map anything; or host uid 1 is ours after all
	}
	bad := m
	bad.UIDs = []IDMap{m.UIDs[0], {ContainerID: 1, HostID: 1, Size: 1}}
	cmd, _, _ = startNSChild(t)
	err = bad.Apply(cmd.Process.Pid)
	want := fmt.Sprintf("running newuidmap for pid %d: exit status 1: newuidmap: ", cmd.Process.Pid)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("applying a foreign range: got %v, want an error containing %q", err, want)
	}
	t.Logf("foreign range refused as expected: %v", err)
}

// startNSChild starts the test binary as a child (see TestMain) in a new
// user namespace, blocked until stdin is closed. The child is killed at the
// end of the test if still running.
func startNSChild(t *testing.T) (*exec.Cmd, io.WriteCloser, *strings.Builder) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := new(strings.Builder)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSPC) {
			t.Skipf("cannot create a user namespace here (disabled by sysctl or policy?): %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, stdin, out
}

func readProcMap(t *testing.T, path string) []IDMap {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var maps []IDMap
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("%s: bad line %q", path, line)
		}
		var n [3]uint32
		for i := range f {
			v, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				t.Fatalf("%s: bad line %q", path, line)
			}
			n[i] = uint32(v)
		}
		maps = append(maps, IDMap{ContainerID: n[0], HostID: n[1], Size: n[2]})
	}
	return maps
}

// fakeStat replaces statHelper for the rest of the test.
func fakeStat(t *testing.T, f func(string) (helperInfo, error)) {
	t.Helper()
	saved := statHelper
	statHelper = f
	t.Cleanup(func() { statHelper = saved })
}

func writeFile(t *testing.T, dir, name, content string, perm fs.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	return p
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q, want one containing %q", err, want)
	}
}
