package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbox-dev/sandbox/program"
	"github.com/sandbox-dev/sandbox/transfer/transferbin"
	"github.com/sandbox-dev/sandbox/transfer/wire"
)

// blob is the transfer program; its installed copy is transfer-<digest>.
var blob = program.Blob{Name: "transfer", Program: "sandbox-transfer", Gzipped: transferbin.Gzipped, Digest: transferbin.Digest}

// StoredLayer opens the uncompressed tar of a stored layer, for a write
// (push, save) that needs it.
type StoredLayer func(diffID string) (io.ReadCloser, error)

// Session is one running transfer program, or, where none is carried,
// its server on a goroutine of this process.
type Session struct {
	cmd    *exec.Cmd     // the program; nil in process
	served chan struct{} // in process: closed when the server has ended
	peer   *wire.Peer
	stored StoredLayer
	stop   func() bool // stops the context watch

	closeOnce sync.Once
	closeErr  error
}

// Start runs the program. runDir (the user's private runtime directory,
// or "") is where it is installed once per version; stored serves the
// stored layers a write asks for (nil when there is none to serve). When
// ctx ends the program is killed, and calls still waiting fail.
func Start(ctx context.Context, runDir string, stored StoredLayer) (*Session, error) {
	if !blob.Available() {
		return startInProcess(ctx, stored)
	}
	// The program reads the user's registry configuration as the CLI
	// would: credentials (REGISTRY_AUTH_FILE, DOCKER_CONFIG, HOME and the
	// credential helpers on PATH), proxies and certificate locations.
	cmd, local, err := blob.StartWithSocket(runDir, nil, os.Environ())
	if err != nil {
		return nil, err
	}
	s := &Session{cmd: cmd, stored: stored}
	s.peer = wire.NewPeer(local, s.handle)
	s.peer.Start()
	s.stop = context.AfterFunc(ctx, func() { cmd.Process.Kill() })
	return s, nil
}

// Close ends the program. Call it once the calls made are answered (or
// their streams given up): what the program is still doing then is for
// no one.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		// The program ends at the end of what we send; it answers
		// nothing after that, and nothing is asked of it any more.
		s.peer.Shutdown()
		if s.cmd == nil {
			select {
			case <-s.served:
			case <-time.After(10 * time.Second):
				// A request still under way; it ends when its I/O fails.
			}
			s.peer.Close()
			return
		}
		done := make(chan error, 1)
		go func() { done <- s.cmd.Wait() }()
		select {
		case s.closeErr = <-done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			s.closeErr = <-done
		}
		s.peer.Close()
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("transfer program: %w", s.closeErr)
		}
	})
	return s.closeErr
}

// handle serves the program's requests: stored layers for a write.
func (s *Session) handle(m *wire.Msg, files []*os.File) (*wire.Msg, error) {
	defer wire.CloseFiles(files)
	if m.Op != wire.OpStoredLayer || len(files) != 1 || s.stored == nil {
		return nil, fmt.Errorf("unexpected request %q", m.Op)
	}
	rc, err := s.stored(m.DiffID)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if _, err := io.Copy(files[0], rc); err != nil {
		return nil, fmt.Errorf("sending layer %s: %w", m.DiffID, err)
	}
	return nil, nil
}

// Resolve finds ref's image for platform ("os/arch[/variant]") in its
// registry. insecure allows plain HTTP and unverified TLS to it. A
// registry without the name or tag gives an error that is
// wire.ErrNotFound; one that asks for credentials, wire.ErrUnauthorized.
func (s *Session) Resolve(ref, platform string, insecure bool) (wire.Image, error) {
	r, err := s.peer.Call(&wire.Msg{Op: wire.OpResolve, Ref: ref, Platform: platform, Insecure: insecure})
	if err != nil {
		return wire.Image{}, err
	}
	if len(r.Images) != 1 {
		return wire.Image{}, fmt.Errorf("transfer: resolving %s gave %d images", ref, len(r.Images))
	}
	return r.Images[0], nil
}

// Archive opens the images of a docker-archive (a tar file at path) or
// an OCI layout (a directory at path).
func (s *Session) Archive(format, path string) ([]wire.Image, error) {
	r, err := s.peer.Call(&wire.Msg{Op: wire.OpArchive, Format: format, Path: path})
	if err != nil {
		return nil, err
	}
	return r.Images, nil
}

// Layer streams layer index of img: as served (compressed) or, with
// uncompressed, as a tar. A failure midway ends the stream with its
// error.
func (s *Session) Layer(img wire.Image, index int, uncompressed bool) (io.ReadCloser, error) {
	st, err := s.peer.Stream(&wire.Msg{Op: wire.OpLayer, Handle: img.Handle, Index: index, Uncompressed: uncompressed})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// Fetch downloads url (http or https, through the user's proxies). Once
// the stream has ended, Modified on it is the server's Last-Modified.
func (s *Session) Fetch(url string) (*Download, error) {
	st, err := s.peer.Stream(&wire.Msg{Op: wire.OpFetch, Ref: url})
	if err != nil {
		return nil, err
	}
	return &Download{st}, nil
}

// Download is a URL's body being read.
type Download struct{ *wire.Stream }

// Modified is the server's Last-Modified, once the body has been read to
// its end; ok is false if it gave none.
func (d *Download) Modified() (t time.Time, ok bool) {
	a := d.Answer()
	if a == nil || a.Modified == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, a.Modified)
	return t, err == nil
}

// Push sends img (its Config and DiffIDs) to the registry as ref and
// returns the manifest's digest.
func (s *Session) Push(ref string, insecure bool, img wire.Image) (string, error) {
	r, err := s.peer.Call(&wire.Msg{Op: wire.OpWrite, Format: wire.Registry, Ref: ref, Insecure: insecure, Images: []wire.Image{img}})
	if err != nil {
		return "", err
	}
	return r.Digest, nil
}

// WriteDockerArchive writes imgs to w as a docker-archive.
func (s *Session) WriteDockerArchive(w io.Writer, imgs []wire.Image) error {
	m := &wire.Msg{Op: wire.OpWrite, Format: wire.DockerArchive, Images: imgs}
	if f, ok := w.(*os.File); ok && f.Fd() > 2 {
		// A descriptor the program can write to itself: dup it, as Call
		// closes what it sends. Not standard output: a reader that
		// stops early (save | head) must end the CLI with SIGPIPE, as
		// a write of its own to descriptor 1 does, not with an error.
		fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("writing the docker archive: %w", err)
		}
		_, err = s.peer.Call(m, os.NewFile(uintptr(fd), f.Name()))
		return err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("writing the docker archive: %w", err)
	}
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(w, pr)
		pr.Close()
		copied <- err
	}()
	_, err = s.peer.Call(m, pw)
	if cerr := <-copied; err == nil && cerr != nil {
		err = fmt.Errorf("writing the docker archive: %w", cerr)
	}
	return err
}

// WriteOCILayout writes imgs as a new OCI layout in dir.
func (s *Session) WriteOCILayout(dir string, imgs []wire.Image) error {
	_, err := s.peer.Call(&wire.Msg{Op: wire.OpWrite, Format: wire.OCILayout, Path: dir, Images: imgs})
	return err
}

// Login checks user and password against registry (HOST[:PORT]); a
// refusal is wire.ErrUnauthorized.
func (s *Session) Login(registry, user, password string, insecure bool) error {
	_, err := s.peer.Call(&wire.Msg{Op: wire.OpLogin, Ref: registry, User: user, Password: password, Insecure: insecure})
	return err
}

// Unzstd decompresses r with a program of its own, which ends with the
// stream: Close the result. A command that has a session already (a pull)
// uses its Unzstd instead.
func Unzstd(runDir string, r io.Reader) (io.ReadCloser, error) {
	s, err := Start(context.Background(), runDir, nil)
	if err != nil {
		return nil, err
	}
	u, err := s.unzstd(r)
	if err != nil {
		s.Close()
		return nil, err
	}
	u.own = s
	return u, nil
}

// Unzstd decompresses r through the session's program. The stream's end
// (EOF or an error) comes only once nothing reads r any more, so its
// caller may then read what is left of r itself (to check its digest); a
// read error of r is the stream's error, never a clean end.
func (s *Session) Unzstd(r io.Reader) (io.ReadCloser, error) {
	u, err := s.unzstd(r)
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Session) unzstd(r io.Reader) (*unzstdReader, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	u := &unzstdReader{f: outR, done: make(chan error, 1), fed: make(chan struct{})}
	go func() {
		_, err := io.Copy(inW, r)
		inW.Close()
		if !errors.Is(err, unix.EPIPE) {
			// EPIPE: the program stopped reading, and says why.
			u.feedErr = err
		}
		close(u.fed)
	}()
	go func() {
		_, err := s.peer.Call(&wire.Msg{Op: wire.OpUnzstd}, inR, outW)
		u.done <- err
	}()
	return u, nil
}

type unzstdReader struct {
	own     *Session // the session made for this stream alone, if any
	f       *os.File
	done    chan error
	fed     chan struct{} // closed when the feeder has stopped reading r
	feedErr error         // the feeder's read error, set before fed closes
	err     error         // the stream's end, once ended
	ended   bool
}

func (u *unzstdReader) Read(b []byte) (int, error) {
	if u.ended {
		return 0, u.err
	}
	n, err := u.f.Read(b)
	if err == nil {
		return n, nil
	}
	// The end, or the program's failure: first let the feeder stop.
	if !errors.Is(err, io.EOF) {
		u.f.Close() // a program still writing gets EPIPE and ends
	}
	<-u.fed
	perr := <-u.done
	switch {
	case u.feedErr != nil:
		err = fmt.Errorf("reading the zstd stream: %w", u.feedErr)
	case perr != nil:
		err = perr
	}
	u.err, u.ended = err, true
	return n, err
}

// Close drops the stream (a program still writing it gets EPIPE), and
// ends the session made for it alone. A feeder still reading r (the
// stream was given up before its end) stops at its next read or write;
// Close does not wait for it, as r may be stalled until its own closing.
func (u *unzstdReader) Close() error {
	u.f.Close()
	if u.own != nil {
		return u.own.Close()
	}
	return nil
}
