package runtime

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// programRSS sums the resident KiB of this process's read-only mappings of
// its program file, and of its writable ones.
func programRSS(t *testing.T) (readOnly, writable int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var perms string
	ours := false
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			perms = fields[1]
			ours = len(fields) >= 6 && fields[5] == exe
			continue
		}
		if !ours || fields[0] != "Rss:" {
			continue
		}
		kb, _ := strconv.Atoi(fields[1])
		if strings.Contains(perms, "w") {
			writable += kb
		} else {
			readOnly += kb
		}
	}
	return readOnly, writable
}

var trimCanary = []string{"a", "global", "written", "at", "run", "time"}

// TestDropProgramPages: the read-only pages of the program leave the
// process (and come back as it runs on), its writable data stays whole.
func TestDropProgramPages(t *testing.T) {
	trimCanary = append(trimCanary, "after start")
	before, _ := programRSS(t)
	if before == 0 {
		t.Skip("this program's mappings are not named in /proc/self/smaps")
	}
	DropProgramPages()
	after, writable := programRSS(t)
	if after >= before {
		t.Errorf("read-only program pages resident: %d KiB before, %d KiB after", before, after)
	}
	if writable == 0 {
		t.Errorf("no writable program mapping is resident after the drop")
	}
	if flags := codeFlags(t); !strings.Contains(flags, " nh") {
		t.Errorf("the program's code mapping may come back in 2 MiB pieces after the drop: %q", flags)
	}
	if got := strings.Join(trimCanary, " "); got != "a global written at run time after start" {
		t.Errorf("data changed by the drop: %q", got)
	}
}

// codeFlags is the VmFlags line of this process's mapping of its own code.
func codeFlags(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			in = len(f) >= 6 && f[1] == "r-xp" && f[5] == exe
		case in && len(f) > 0 && f[0] == "VmFlags:":
			return line
		}
	}
	return ""
}
