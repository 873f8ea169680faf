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
	// asyncQueue bounds the files waiting.
	asyncQueue = 32
	// asyncBytes bounds the buffers of the files waiting or being
	// written. Bounded by count alone (32 × 128 KiB), a layer of 100 KB
	// files kept 4 MB waiting, and the heap grew to twice that between
	// collections: the unpack's peak RSS was 15 MiB. Two workers still
	// find work waiting at 512 KiB (no slower there, measured).
	asyncBytes = 512 << 10
)

// The contents' buffers are kept for the next files, in size classes
// of powers of two from bufMin to asyncMax. Made afresh for each file
// they were nine tenths of what an unpack allocated (60 MB for a Debian
// base, 150 MB for the layer above), all garbage the collector chased.
const (
	bufMin     = 4 << 10
	bufClasses = 6 // 4 KiB … 128 KiB
)

// bufClass is the size class of a buffer for n bytes (0 < n ≤ asyncMax).
func bufClass(n int) int {
	c := 0
	for bufMin<<c < n {
		c++
	}
	return c
}

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

	// held is the size of the buffers of the jobs submitted and not yet
	// written or handed to drain; room is signalled as it goes down.
	held int
	room *sync.Cond
	// Buffers to reuse, by class, and their total size: up to asyncBytes
	// more, so a file's contents take at most twice asyncBytes in all.
	free      [bufClasses][][]byte
	freeBytes int
}

func newWriters(u *unpacker, n int) *writers {
	w := &writers{u: u, jobs: make(chan *fileJob, asyncQueue), pending: map[string]bool{}}
	w.room = sync.NewCond(&w.mu)
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
	// A retry's contents leave the budget too: drain, which writes them,
	// runs on the goroutine that would wait for room.
	w.held -= cap(j.data)
	w.room.Signal()
	if errors.Is(err, unix.EEXIST) {
		w.retries = append(w.retries, j) // keeps its parent reference and buffer
		return
	}
	w.putLocked(j.data)
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
	data := w.get(int(hdr.Size))
	if w.u.split != nil {
		w.u.split.beginFile()
	}
	n, err := io.ReadFull(tr, data)
	if w.u.split != nil {
		w.u.split.endFile(name, int64(n))
	}
	if err != nil {
		w.mu.Lock()
		w.held -= cap(data)
		w.putLocked(data)
		w.mu.Unlock()
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

// get returns a buffer of n bytes for a file's contents, once there is
// room for them within asyncBytes; put gives it back.
func (w *writers) get(n int) []byte {
	if n == 0 {
		return nil
	}
	c := bufClass(n)
	size := bufMin << c
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.held > 0 && w.held+size > asyncBytes {
		w.room.Wait()
	}
	w.held += size
	if k := len(w.free[c]); k > 0 {
		b := w.free[c][k-1]
		w.free[c] = w.free[c][:k-1]
		w.freeBytes -= size
		return b[:n]
	}
	return make([]byte, n, size)
}

// put takes back a buffer get returned whose contents w.held no longer
// counts.
func (w *writers) put(b []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.putLocked(b)
}

func (w *writers) putLocked(b []byte) {
	if cap(b) == 0 || w.freeBytes+cap(b) > asyncBytes {
		return
	}
	c := bufClass(cap(b))
	w.free[c] = append(w.free[c], b[:0])
	w.freeBytes += cap(b)
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
		w.put(j.data)
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
