package runtime

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/sandbox-dev/sandbox/runtime/initbin"
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

// TestReleaseProgramBytes: reading a carried program through
// ProgramBytesReader leaves its pages out of the process's resident
// size, and they read back unchanged; a slice on the heap is left alone.
func TestReleaseProgramBytes(t *testing.T) {
	if len(initbin.Binary) < 1<<20 {
		t.Skip("no init blob is carried on this architecture")
	}
	// Other tests read the blob whole: its pages go first (a whole
	// read lets go of them all at its end), so that what the read below
	// leaves is measured.
	io.Copy(io.Discard, ProgramBytesReader(initbin.Binary))
	_, before := programRSS(t)
	if before == 0 {
		t.Skip("this program's mappings are not named in /proc/self/smaps")
	}
	h := sha256.New()
	// Through Read, as gzip reads a compressed blob (io.Copy would take
	// WriteTo, which installing the init uses).
	if _, err := io.Copy(h, struct{ io.Reader }{ProgramBytesReader(initbin.Binary)}); err != nil {
		t.Fatal(err)
	}
	_, after := programRSS(t)
	// Read whole, the blob would add its 4 MiB; at most the last MiB
	// may stay.
	if grown := after - before; grown > 1200 {
		t.Errorf("the writable program mappings grew by %d KiB reading the %d KiB blob", grown, len(initbin.Binary)>>10)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.TrimSpace(initbin.Digest) {
		t.Errorf("the blob read through ProgramBytesReader hashes to %s, not its digest", got)
	}
	again := sha256.Sum256(initbin.Binary) // its pages fault back in from the file
	if hex.EncodeToString(again[:]) != strings.TrimSpace(initbin.Digest) {
		t.Errorf("the blob changed after its pages were let go")
	}
	heap := bytes.Repeat([]byte{7}, 4<<20)
	io.Copy(io.Discard, ProgramBytesReader(heap))
	if bytes.Count(heap, []byte{7}) != len(heap) {
		t.Errorf("a slice on the heap was emptied")
	}
}
