package runtime

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestCopyAcrossStop: a copy stopped by a deadline writes the part of a
// line it has as a part (P), and a later copy of the same stream the
// rest as its end (F), as a resident init going idle and waking does;
// CRLF and LF end lines, and a last line without one ends with the
// stream.
func TestCopyAcrossStop(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "ctr.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := NewLogWriter(f)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("one\r\ntwo\npar"))
	r.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if err := l.Copy(r, "stdout"); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a stopped copy returned %v, want the deadline's error", err)
	}
	r.SetReadDeadline(time.Time{})
	w.Write([]byte("t\nlast"))
	w.Close()
	if err := l.Copy(r, "stdout"); err != io.EOF {
		t.Fatalf("a copy to the stream's end returned %v, want io.EOF", err)
	}
	b, _ := os.ReadFile(f.Name())
	var got []string
	for _, rec := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		_, rest, _ := strings.Cut(rec, " ")
		got = append(got, rest)
	}
	want := []string{"stdout F one", "stdout F two", "stdout P par", "stdout F t", "stdout F last"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("records %q, want %q", got, want)
	}
}
