package calls

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"
)

// A stream that crosses a pipe between the two processes is framed, so
// that its end is said, not taken from the pipe's: each frame is a kind
// (1 the data, or a container's stdout; 2 its stderr), a big-endian
// 32-bit length and the bytes, and a frame of kind 0 ends the stream. A
// sender that failed midway (a client that hung up during an upload)
// closes the pipe without it, and the reader fails instead of taking the
// part for the whole. Two kinds on one pipe also keep a container's
// stdout and stderr in the order they were written.

const (
	frameEnd    = 0
	frameData   = 1 // also stdout
	frameStderr = 2
)

// maxFrame bounds a frame's length: a larger write goes as several.
const maxFrame = 1 << 20

// ErrCutShort is a stream whose sender ended it without its end frame.
var ErrCutShort = errors.New("the stream was cut short")

// framer writes frames of one kind to w, under mu when several share w.
type framer struct {
	mu   *sync.Mutex
	w    io.Writer
	kind byte
}

func (f framer) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), maxFrame)]
		var h [5]byte
		h[0] = f.kind
		binary.BigEndian.PutUint32(h[1:], uint32(len(chunk)))
		if _, err := f.w.Write(h[:]); err != nil {
			return n, err
		}
		m, err := f.w.Write(chunk)
		n += m
		if err != nil {
			return n, err
		}
		p = p[len(chunk):]
	}
	return n, nil
}

// OutputFrames are the writers of a container's stdout and stderr onto
// one framed stream w.
func OutputFrames(w io.Writer) (stdout, stderr io.Writer) {
	mu := &sync.Mutex{}
	return framer{mu, w, frameData}, framer{mu, w, frameStderr}
}

// sendFramed copies src to w as a framed stream, with its end frame only
// when src ended well.
func sendFramed(w io.Writer, src io.Reader) error {
	if _, err := io.Copy(framer{&sync.Mutex{}, w, frameData}, src); err != nil {
		return err
	}
	_, err := w.Write([]byte{frameEnd, 0, 0, 0, 0})
	return err
}

// readFrames copies a framed stream's frames to outs (kind 1 to outs[0],
// 2 to outs[1]) until its end frame; the pipe's end before that is
// ErrCutShort (a stream of outputs may end so: the call's answer says
// how it went).
func readFrames(r io.Reader, outs ...io.Writer) error {
	var h [5]byte
	for {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return cutShort(err)
		}
		n := int64(binary.BigEndian.Uint32(h[1:]))
		if h[0] == frameEnd {
			return nil
		}
		if int(h[0]) > len(outs) || n > maxFrame {
			return errors.New("a stream frame out of place")
		}
		if _, err := io.CopyN(outs[h[0]-1], r, n); err != nil {
			return cutShort(err)
		}
	}
}

// FramedReader reads the data of a framed stream from r: io.EOF at its
// end frame, ErrCutShort where the pipe ends before it.
func FramedReader(r io.Reader) io.Reader { return &framedReader{r: r} }

type framedReader struct {
	r    io.Reader
	left int64 // of the current frame
	err  error // once the stream has ended
}

func (f *framedReader) Read(p []byte) (int, error) {
	for f.left == 0 {
		if f.err != nil {
			return 0, f.err
		}
		var h [5]byte
		if _, err := io.ReadFull(f.r, h[:]); err != nil {
			f.err = cutShort(err)
			return 0, f.err
		}
		n := int64(binary.BigEndian.Uint32(h[1:]))
		switch {
		case h[0] == frameEnd:
			f.err = io.EOF
		case h[0] != frameData || n > maxFrame:
			f.err = errors.New("a stream frame out of place")
		}
		f.left = n
		if f.err != nil {
			return 0, f.err
		}
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= int64(n)
	if err != nil && f.left > 0 {
		f.err = cutShort(err)
		return n, f.err
	}
	return n, nil
}

func cutShort(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrCutShort
	}
	return err
}
