package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogWriterAllocs: writing a record allocates nothing once the first
// is written. A resident init writes every line of its container through
// here for as long as it runs; what it allocated stayed until Go's first
// collection, at a 4 MiB heap.
func TestLogWriterAllocs(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "ctr.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := NewLogWriter(f)
	line := []byte("a line of output, as a container prints it")
	if n := testing.AllocsPerRun(200, func() { l.writeTagged("stdout", "F", line) }); n != 0 {
		t.Errorf("a log record costs %v allocations, want 0", n)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	recs := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(recs) != 201 {
		t.Fatalf("%d records written, want 201", len(recs))
	}
	for _, r := range recs {
		ts, rest, _ := strings.Cut(r, " ")
		if rest != "stdout F "+string(line) || !strings.HasSuffix(ts, "Z") {
			t.Fatalf("record %q is not \"TIME stdout F %s\"", r, line)
		}
	}
}
