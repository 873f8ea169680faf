package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func pipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// TestRelayOutputAndLeftover: what the payload wrote before it exited
// arrives whole, and Finish returns even though a process it left behind
// still holds the write end.
func TestRelayOutputAndLeftover(t *testing.T) {
	outR, outW := pipe(t)
	r, err := NewRelay(nil, outW, nil)
	if err != nil {
		t.Fatal(err)
	}
	child := r.Child()
	leftover, err := dupFile(child[1])
	if err != nil {
		t.Fatal(err)
	}
	defer leftover.Close()
	r.CloseChild()
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB: more than a pipe holds
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(outR)
		got <- b
	}()
	if _, err := leftover.Write(want); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- r.Finish() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Finish waits for the process left behind")
	}
	outW.Close()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("relayed %d bytes, want %d", len(b), len(want))
	}
	// The leftover's later writes go nowhere: its pipe has no reader.
	if _, err := leftover.Write([]byte("late")); err == nil {
		t.Fatal("a write after Finish still had a reader")
	}
}

// TestRelayStdin: input reaches the payload, its end is the payload's end
// of file, and nothing is read from the user's stdin after Finish.
func TestRelayStdin(t *testing.T) {
	inR, inW := pipe(t)
	r, err := NewRelay(inR, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	payloadIn := r.Child()[0]
	inW.Write([]byte("typed\n"))
	buf := make([]byte, 64)
	n, err := payloadIn.Read(buf)
	if err != nil || string(buf[:n]) != "typed\n" {
		t.Fatalf("payload read %q, %v", buf[:n], err)
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	inW.Write([]byte("password\n"))
	inR.SetReadDeadline(time.Now().Add(time.Second))
	n, err = inR.Read(buf)
	if err != nil || string(buf[:n]) != "password\n" {
		t.Fatalf("after Finish the user's input was taken: left %q, %v", buf[:n], err)
	}
}

// TestHeldRelayInput: a held relay reads nothing of the user's input
// until StartInput, so a start that gives way to another leaves all of it
// to the next relay; once started, the input reaches the payload.
func TestHeldRelayInput(t *testing.T) {
	inR, inW := pipe(t)
	inW.Write([]byte("for whoever runs it\n"))
	r, err := NewHeldRelay(inR, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // time for a copy that should not run
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	// In a goroutine: a copy that ran has made the user's file blocking
	// (Fd), where a deadline no longer applies.
	left := make(chan string, 1)
	go func() {
		b := make([]byte, 64)
		n, _ := inR.Read(b)
		left <- string(b[:n])
	}()
	select {
	case got := <-left:
		if got != "for whoever runs it\n" {
			t.Fatalf("a held relay that never started took the input: left %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a held relay that never started took the input: none left")
	}
	buf := make([]byte, 64)

	inW.Write([]byte("typed\n"))
	r, err = NewHeldRelay(inR, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Finish()
	r.StartInput()
	payloadIn := r.Child()[0]
	payloadIn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := payloadIn.Read(buf); err != nil || string(buf[:n]) != "typed\n" {
		t.Fatalf("after StartInput the payload read %q, %v", buf[:n], err)
	}
}

// TestRelayStdinEOF: the end of the user's input is the end of the
// payload's.
func TestRelayStdinEOF(t *testing.T) {
	inR, inW := pipe(t)
	r, err := NewRelay(inR, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Finish()
	inW.Write([]byte("last"))
	inW.Close()
	b, err := io.ReadAll(r.Child()[0])
	if err != nil || string(b) != "last" {
		t.Fatalf("payload read %q, %v", b, err)
	}
}

// TestRelayClosedReader: a user who stops reading (| head) does not block
// the payload: its write fails with EPIPE, as it would on the user's pipe
// itself, so that an endless writer ends.
func TestRelayClosedReader(t *testing.T) {
	outR, outW := pipe(t)
	r, err := NewRelay(nil, outW, nil)
	if err != nil {
		t.Fatal(err)
	}
	outR.Close()
	w := r.Child()[1]
	wrote := make(chan error)
	go func() {
		// An endless writer: more than the relay's pipe holds.
		var err error
		for i := 0; i < 64 && err == nil; i++ {
			_, err = w.Write(make([]byte, 1<<20))
		}
		w.Close()
		wrote <- err
	}()
	select {
	case err := <-wrote:
		if !errors.Is(err, unix.EPIPE) {
			t.Fatalf("payload's write to a user who left: %v, want EPIPE", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the payload is blocked writing to a user who left")
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
}

func dupFile(f *os.File) (*os.File, error) {
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd int
	var derr error
	sc.Control(func(fd uintptr) { nfd, derr = dupCloexec(int(fd)) })
	if derr != nil {
		return nil, derr
	}
	return os.NewFile(uintptr(nfd), f.Name()), nil
}

func dupCloexec(fd int) (int, error) { return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0) }

// TestRelayEndlessWriter: a process left behind that never stops writing
// does not keep Finish from returning.
func TestRelayEndlessWriter(t *testing.T) {
	outR, outW := pipe(t)
	// The user reads slower than the leftover writes: the payload's pipe
	// is never empty.
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := outR.Read(buf); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	r, err := NewRelay(nil, outW, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := dupFile(r.Child()[1])
	if err != nil {
		t.Fatal(err)
	}
	r.CloseChild()
	go func() {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				w.Close()
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	done := make(chan error)
	go func() { done <- r.Finish() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Finish waits for a writer that never stops")
	}
}

// relayWithWriter is a relay of stdout to out, and a writer on the
// payload's end that outlives the relay's own copy of it: a payload, or
// a process it left behind.
func relayWithWriter(t *testing.T, out *os.File) (*Relay, *os.File) {
	t.Helper()
	r, err := NewRelay(nil, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := dupFile(r.Child()[1])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	r.CloseChild()
	return r, w
}

// finishWithin fails the test if Finish does not return in 10 seconds: a
// relay that waits for something that never comes hangs the user's
// command.
func finishWithin(t *testing.T, r *Relay, why string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.Finish() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal(why)
	}
}

// TestRelaySmallWritesToIdleReader: a user's pipe whose reader reads only
// once the command ends (a script's "wait, then read") still takes a
// payload's output line by line. Spliced one line at a time, each line
// took one of the pipe's 16 slots, and the 17th line blocked the command
// for good although the pipe held 600 bytes.
func TestRelaySmallWritesToIdleReader(t *testing.T) {
	outR, outW := pipe(t)
	r, w := relayWithWriter(t, outW)
	var want []byte
	for i := range 40 {
		line := []byte(fmt.Sprintf("line %02d of the payload's output\n", i))
		want = append(want, line...)
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // the relay wakes for each line
	}
	finishWithin(t, r, "Finish blocks on a user's pipe that holds a few hundred bytes")
	outW.Close()
	got, _ := io.ReadAll(outR)
	if !bytes.Equal(got, want) {
		t.Fatalf("relayed %q, want %q", got, want)
	}
}

// TestRelayReaderLeavesWhileDraining: a user who stops reading while
// Finish relays what the payload left (| head, or a killed pager) does
// not keep the command waiting for an end of file that a process left
// behind never gives.
func TestRelayReaderLeavesWhileDraining(t *testing.T) {
	outR, outW := pipe(t)
	r, leftover := relayWithWriter(t, outW)
	// More than the user's pipe holds: the relay waits for the user.
	if _, err := leftover.Write(make([]byte, 256<<10)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- r.Finish() }()
	// The user reads a little, so that the relay drains what was left,
	// then goes away.
	time.Sleep(50 * time.Millisecond)
	outR.Read(make([]byte, 4096))
	time.Sleep(50 * time.Millisecond)
	outR.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Finish waits for the end of a pipe that a process left behind holds open")
	}
}

// TestRelayChunksToIdleReader: output in pieces of a page and a bit
// (each spliced, it took two of the user's pipe slots) still fits a
// pipe read only after Finish, as it would written there directly.
func TestRelayChunksToIdleReader(t *testing.T) {
	outR, outW := pipe(t)
	r, w := relayWithWriter(t, outW)
	var want []byte
	for i := range 10 {
		chunk := bytes.Repeat([]byte{byte('a' + i)}, 4097)
		want = append(want, chunk...)
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	finishWithin(t, r, "Finish blocks on a user's pipe that 41 KB of output should fit")
	outW.Close()
	got, _ := io.ReadAll(outR)
	if !bytes.Equal(got, want) {
		t.Fatalf("relayed %d bytes, want %d", len(got), len(want))
	}
}

// TestRelayStdinAfterPayloadClosed: once the payload has closed its
// stdin, what the user types next stays in the user's stdin.
func TestRelayStdinAfterPayloadClosed(t *testing.T) {
	inR, inW := pipe(t)
	r, err := NewRelay(inR, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Child()[0].Close()
	r.CloseChild()
	inW.Write([]byte("typed ahead\n"))
	time.Sleep(50 * time.Millisecond)
	finishWithin(t, r, "Finish blocks")
	buf := make([]byte, 64)
	inR.SetReadDeadline(time.Now().Add(time.Second))
	n, err := inR.Read(buf)
	if err != nil || string(buf[:n]) != "typed ahead\n" {
		t.Fatalf("the user's typed-ahead input was taken: left %q, %v", buf[:n], err)
	}
}

// TestMoverReadsSmallFirst: a mover that reads and writes relays every
// size whole, around its small buffer's size too, and makes its large
// buffer only once a read fills the small one (an end of file alone, or
// a line, costs no relayBuf).
func TestMoverReadsSmallFirst(t *testing.T) {
	for _, size := range []int{0, 1, smallRead - 1, smallRead, smallRead + 1, 300 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			src, srcW := pipe(t)
			dst, err := os.CreateTemp(t.TempDir(), "out")
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			want := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
			go func() {
				srcW.Write(want)
				srcW.Close()
			}()
			m := mover{dfd: int(dst.Fd())} // no splice: reads and writes
			for {
				n, err := m.move(int(src.Fd()), relayBuf)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
			}
			got, err := os.ReadFile(dst.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("relayed %d bytes, want %d", len(got), len(want))
			}
			if large := m.buf != nil; large != (size >= smallRead) {
				t.Errorf("%d bytes: large buffer made %v, want %v", size, large, size >= smallRead)
			}
		})
	}
}
