package calls

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// A framed stream reads back whole with its end frame, and a sender that
// failed midway is ErrCutShort, not a short stream taken as complete.
func TestFramedStream(t *testing.T) {
	var buf bytes.Buffer
	data := strings.Repeat("layer bytes ", 200000) // several frames
	if err := sendFramed(&buf, strings.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(FramedReader(bytes.NewReader(buf.Bytes())))
	if err != nil || string(got) != data {
		t.Fatalf("read %d bytes, %v; want %d, nil", len(got), err, len(data))
	}
	var cut bytes.Buffer
	sendFramed(&cut, io.MultiReader(strings.NewReader(data[:1000]), failingReader{}))
	if _, err := io.ReadAll(FramedReader(&cut)); !errors.Is(err, ErrCutShort) {
		t.Errorf("a stream whose sender failed: %v, want ErrCutShort", err)
	}
	whole := buf.Bytes()
	if _, err := io.ReadAll(FramedReader(bytes.NewReader(whole[:len(whole)-5]))); !errors.Is(err, ErrCutShort) {
		t.Errorf("a stream without its end frame: %v, want ErrCutShort", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("client gone") }

// A container's stdout and stderr on one framed stream keep their order.
func TestOutputFramesKeepOrder(t *testing.T) {
	var buf bytes.Buffer
	out, errw := OutputFrames(&buf)
	var log strings.Builder
	for i := range 50 {
		if i%2 == 0 {
			out.Write([]byte("o"))
		} else {
			errw.Write([]byte("e"))
		}
	}
	buf.Write([]byte{frameEnd, 0, 0, 0, 0})
	tagged := func(tag string) io.Writer {
		return writerFunc(func(p []byte) (int, error) { log.WriteString(tag + string(p)); return len(p), nil })
	}
	if err := readFrames(&buf, tagged("1"), tagged("2")); err != nil {
		t.Fatal(err)
	}
	if want := strings.Repeat("1o2e", 25); log.String() != want {
		t.Errorf("order %q, want %q", log.String(), want)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
