package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// A layer's tar reaches the unpack task through a pipe. Producing it is
// two jobs of about equal weight for a pulled layer: decompressing, and
// hashing (the diff ID) plus writing to the pipe. feed runs them in two
// goroutines, handing chunks from one to the other, so that on a machine
// with two cores the decompressor — the slowest stage of a pull — never
// waits for the hash or the pipe, and the unpack task gets its input as
// soon as it is made.
const (
	// feedChunk is the size of the chunks handed between the stages;
	// feedChunks of them circulate, so the CLI holds at most
	// feedChunk × feedChunks of the stream.
	feedChunk  = 128 << 10
	feedChunks = 4
	// pipeSize is what we ask the kernel to buffer in the pipe to the
	// unpack task (an unprivileged process may ask up to
	// /proc/sys/fs/pipe-max-size, 1 MiB by default): the task writes
	// files in bursts, and a deep pipe lets the producer run on meanwhile.
	// The memory is the kernel's, not the CLI's.
	pipeSize = 1 << 20
)

// feed copies a stream into the pipe to the unpack task, hashing it.
type feed struct {
	h    hash.Hash
	n    int64
	w    *os.File
	stop atomic.Bool // set when the pipe broke: the reader stops reading
	// readErr is the stream's error (not io.EOF); writeErr the pipe's.
	readErr, writeErr error
	done              chan struct{}
}

// newLayerPipe makes the pipe to the unpack task, made deep when the
// kernel allows.
func newLayerPipe() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	// Best effort: a smaller pipe only costs more switches.
	unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, pipeSize)
	return r, w, nil
}

// startFeed copies r into w (closing w at the end) in the background,
// hashing every byte of r it reads.
func startFeed(r io.Reader, w *os.File) *feed {
	f := &feed{h: sha256.New(), w: w, done: make(chan struct{})}
	full := make(chan []byte, feedChunks)
	free := make(chan []byte, feedChunks)
	for range feedChunks {
		free <- make([]byte, feedChunk)
	}
	go func() {
		defer close(full)
		for !f.stop.Load() {
			b := <-free
			n, err := io.ReadFull(r, b)
			if n > 0 {
				full <- b[:n]
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return
			}
			if err != nil {
				f.readErr = err
				return
			}
		}
	}()
	go func() {
		defer close(f.done)
		for b := range full {
			f.h.Write(b)
			f.n += int64(len(b))
			if f.writeErr == nil {
				if _, err := w.Write(b); err != nil {
					f.writeErr = err
					f.stop.Store(true)
				}
			}
			free <- b[:cap(b)]
		}
		if err := w.Close(); err != nil && f.writeErr == nil {
			f.writeErr = err
		}
	}()
	return f
}

// wait waits for the feed to end: the stream read to its end or to an
// error, or the pipe broken (close the task's end of it first).
func (f *feed) wait() { <-f.done }

// finish reads and hashes what the feed left of r (nothing, unless the
// task stopped reading early) and returns the stream's digest and size.
func (f *feed) finish(r io.Reader) (string, int64, error) {
	f.wait()
	if f.readErr != nil {
		return "", 0, f.readErr
	}
	if f.stop.Load() {
		n, err := io.Copy(f.h, r)
		f.n += n
		if err != nil {
			return "", 0, err
		}
	}
	return "sha256:" + hex.EncodeToString(f.h.Sum(nil)), f.n, nil
}
