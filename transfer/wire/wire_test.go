package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func socketPair(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
}

// TestFramesKeepTheirDescriptors: frames sent back to back, some large
// and some with descriptors, arrive whole, in order, each with its own
// descriptors; the reader never takes a descriptor meant for the next.
func TestFramesKeepTheirDescriptors(t *testing.T) {
	a, b := socketPair(t)
	ca, cb := NewConn(a), NewConn(b)
	defer ca.Close()
	defer cb.Close()
	const n = 20
	go func() {
		for i := range n {
			m := &Msg{ID: int64(i), Ref: strings.Repeat("x", i*50000)}
			var files []*os.File
			if i%3 == 0 {
				r, w, _ := os.Pipe()
				fmt.Fprintf(w, "pipe %d", i)
				w.Close()
				files = append(files, r)
			}
			if err := ca.Send(m, files...); err != nil {
				t.Error(err)
			}
			for _, f := range files {
				f.Close()
			}
		}
		ca.Shutdown(unix.SHUT_WR)
	}()
	for i := range n {
		m, files, err := cb.Recv()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if m.ID != int64(i) || len(m.Ref) != i*50000 {
			t.Fatalf("frame %d: got ID %d with %d bytes", i, m.ID, len(m.Ref))
		}
		want := 0
		if i%3 == 0 {
			want = 1
		}
		if len(files) != want {
			t.Fatalf("frame %d: %d descriptors, want %d", i, len(files), want)
		}
		for _, f := range files {
			got, _ := io.ReadAll(f)
			f.Close()
			if string(got) != fmt.Sprintf("pipe %d", i) {
				t.Fatalf("frame %d: its pipe says %q", i, got)
			}
		}
	}
	if _, _, err := cb.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
}

// TestCallsAndStreams: concurrent calls each get their own answer, a
// stream carries its bytes, and a writer's failure ends the stream with
// its error, code included, instead of a clean EOF.
func TestCallsAndStreams(t *testing.T) {
	a, b := socketPair(t)
	server := NewPeer(b, func(m *Msg, files []*os.File) (*Msg, error) {
		defer CloseFiles(files)
		switch m.Op {
		case "echo":
			return &Msg{Ref: m.Ref}, nil
		case OpLayer:
			w := files[0]
			w.Write(bytes.Repeat([]byte{byte(m.Index)}, 3<<20))
			if m.Uncompressed {
				return nil, Coded(CodeNotFound, errors.New("gone midway"))
			}
			return nil, nil
		}
		return nil, errors.New("unknown")
	})
	server.Start()
	client := NewPeer(a, nil)
	client.Start()
	defer client.Close()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := fmt.Sprint("ref", i)
			r, err := client.Call(&Msg{Op: "echo", Ref: want})
			if err != nil || r.Ref != want {
				t.Errorf("call %d: %v %v", i, r, err)
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc, err := client.Stream(&Msg{Op: OpLayer, Index: i})
			if err != nil {
				t.Error(err)
				return
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil || len(got) != 3<<20 || got[0] != byte(i) || got[len(got)-1] != byte(i) {
				t.Errorf("stream %d: %d bytes, %v", i, len(got), err)
			}
		}()
	}
	wg.Wait()
	rc, err := client.Stream(&Msg{Op: OpLayer, Index: 1, Uncompressed: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if !errors.Is(err, ErrNotFound) || len(got) != 3<<20 {
		t.Fatalf("a failed stream read %d bytes and ended with %v, want its coded error", len(got), err)
	}
	if _, err := client.Call(&Msg{Op: "nope"}); err == nil || err.Error() != "unknown" {
		t.Fatalf("a refused call: %v", err)
	}
	// The server going away fails calls instead of hanging them.
	server.Close()
	if _, err := client.Call(&Msg{Op: "echo"}); err == nil {
		t.Fatal("a call to a closed peer succeeded")
	}
}

// TestCloseUnblocksSend: closing a peer whose other side reads nothing
// fails a call stuck sending a large frame, instead of waiting on it for
// ever (review finding: Close waited for the send's lock).
func TestCloseUnblocksSend(t *testing.T) {
	a, b := socketPair(t)
	defer b.Close() // open, never read
	p := NewPeer(a, nil)
	p.Start()
	failed := make(chan error, 1)
	go func() {
		_, err := p.Call(&Msg{Op: "big", Ref: strings.Repeat("x", 8<<20)})
		failed <- err
	}()
	time.Sleep(100 * time.Millisecond) // the send fills the socket and blocks
	closed := make(chan struct{})
	go func() {
		p.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close still waits 5 s on a blocked send")
	}
	select {
	case err := <-failed:
		if err == nil {
			t.Fatal("a call whose frame never went out succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the blocked call has not failed 5 s after Close")
	}
}

// TestHandlerFindsItsPeer: a request already waiting when the peer is made
// runs its handler only after Start, so a handler that calls back through
// the peer as its maker stored it finds it there (the transfer program's
// push once called back on a peer not stored yet, and crashed).
func TestHandlerFindsItsPeer(t *testing.T) {
	a, b := socketPair(t)
	client := NewPeer(a, func(m *Msg, files []*os.File) (*Msg, error) {
		CloseFiles(files)
		return &Msg{Ref: "back:" + m.Ref}, nil
	})
	client.Start()
	defer client.Close()
	answered := make(chan *Msg, 1)
	go func() {
		r, err := client.Call(&Msg{Op: "ask", Ref: "x"})
		if err != nil {
			t.Error(err)
		}
		answered <- r
	}()
	// Let the request reach b before its peer exists.
	time.Sleep(20 * time.Millisecond)
	var server *Peer
	server = NewPeer(b, func(m *Msg, files []*os.File) (*Msg, error) {
		CloseFiles(files)
		r, err := server.Call(&Msg{Op: "back", Ref: m.Ref})
		if err != nil {
			return nil, err
		}
		return &Msg{Ref: r.Ref}, nil
	})
	server.Start()
	defer server.Close()
	select {
	case r := <-answered:
		if r == nil || r.Ref != "back:x" {
			t.Fatalf("answer = %+v, want Ref back:x", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
}
