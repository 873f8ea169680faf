package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"

	"golang.org/x/sys/unix"
)

// Writing a layer is mostly system calls on small files (a Debian base
// has 8000 of them), one after the other. Small regular files are
// therefore read from the tar here, in order, and written by a few workers
// at once; everything else stays in order. A worker never touches a name
// another entry might: before an entry that could (the same name again, a
// hard link, a whiteout, the removal of a directory, the final directory
// modes), every pending write is finished first (drain).

const (
	// asyncMax is the largest file handed to a worker: its contents wait
	// in memory until written.
	asyncMax = 128 << 10
	// asyncQueue bounds the files waiting, so memory stays under
	// asyncQueue × asyncMax however large the layer.
	asyncQueue = 32
)

// dirRef is an open parent directory shared by the unpacker's cache and the
// workers writing into it: closed when the last of them lets go.
type dirRef struct {
	f    *os.File
	fd   int
	mu   sync.Mutex
	refs int
}

func newDirRef(f *os.File) *dirRef { return &dirRef{f: f, fd: int(f.Fd()), refs: 1} }

func (d *dirRef) acquire() {
	d.mu.Lock()
	d.refs++
	d.mu.Unlock()
}

func (d *dirRef) release() {
	d.mu.Lock()
	d.refs--
	last := d.refs == 0
	d.mu.Unlock()
	if last {
		d.f.Close()
	}
}

// fileJob is one small file to write.
type fileJob struct {
	seq    int
	parent *dirRef
	name   string
	base   string
	hdr    tar.Header
	data   []byte
}

// writers runs the workers.
type writers struct {
	u       *unpacker
	jobs    chan *fileJob
	wg      sync.WaitGroup // jobs submitted and not finished
	mu      sync.Mutex
	err     error      // the first failure
	retries []*fileJob // found something at their name: redone in order by drain
	pending map[string]bool
	seq     int
	quit    sync.WaitGroup
}

func newWriters(u *unpacker, n int) *writers {
	w := &writers{u: u, jobs: make(chan *fileJob, asyncQueue), pending: map[string]bool{}}
	for i := 0; i < n; i++ {
		w.quit.Add(1)
		go func() {
			defer w.quit.Done()
			for j := range w.jobs {
				w.run(j)
			}
		}()
	}
	return w
}

func (w *writers) run(j *fileJob) {
	defer w.wg.Done()
	err := w.u.writeFile(j.parent.fd, j.name, j.base, &j.hdr, j.data, false)
	w.mu.Lock()
	defer w.mu.Unlock()
	if errors.Is(err, unix.EEXIST) {
		w.retries = append(w.retries, j) // keeps its parent reference
		return
	}
	j.parent.release()
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("unpacking %q: %w", j.name, err)
	}
}

// failed returns the first worker failure so far.
func (w *writers) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// submit reads the file's contents from tr and queues it. It returns false
// (having read nothing) when the file must be written in order instead.
func (w *writers) submit(tr *tar.Reader, hdr *tar.Header, name, base string) (bool, error) {
	// A directory this unpack made at the name must be cleared in order:
	// later entries could otherwise still be written into it.
	if hdr.Size > asyncMax || w.pending[name] || w.u.verified[name] || len(xattrs(hdr)) > 0 {
		return false, nil
	}
	data := make([]byte, hdr.Size)
	if w.u.split != nil {
		w.u.split.beginFile()
	}
	n, err := io.ReadFull(tr, data)
	if w.u.split != nil {
		w.u.split.endFile(name, int64(n))
	}
	if err != nil {
		return true, fmt.Errorf("unpacking %q: reading file: %w", name, err)
	}
	w.u.stats.Bytes += int64(n)
	w.u.stats.Files++
	w.u.parent.acquire()
	w.seq++
	w.pending[name] = true
	w.wg.Add(1)
	w.jobs <- &fileJob{seq: w.seq, parent: w.u.parent, name: name, base: base, hdr: *hdr, data: data}
	return true, nil
}

// drain waits for every queued file, then writes in order those that found
// something at their name (clearing it as the serial path does).
func (w *writers) drain() error {
	w.wg.Wait()
	w.mu.Lock()
	retries := w.retries
	w.retries = nil
	err := w.err
	w.mu.Unlock()
	sort.Slice(retries, func(i, j int) bool { return retries[i].seq < retries[j].seq })
	for _, j := range retries {
		if err == nil {
			if err = w.u.clear(j.parent.fd, j.name, j.base); err == nil {
				err = w.u.writeFile(j.parent.fd, j.name, j.base, &j.hdr, j.data, false)
			}
			if err != nil {
				err = fmt.Errorf("unpacking %q: %w", j.name, err)
			}
		}
		j.parent.release()
	}
	clear(w.pending)
	return err
}

// stop ends the workers; call after the last drain.
func (w *writers) stop() {
	close(w.jobs)
	w.quit.Wait()
}
