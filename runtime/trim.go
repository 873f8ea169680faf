package runtime

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DropProgramPages unmaps from this process the pages of its own program
// file (code and read-only data) that it has touched so far. A resident
// init has run its whole start-up (spec decoding, mounts, seccomp) by the
// time it settles, and the kernel maps the program 64 KiB around every
// fault: 2.7 MiB of its 3 MiB stay mapped, although the rest of its life
// runs a few loops. A command that moves or builds images runs for
// seconds after a start that mapped the CLI's code in 2 MiB regions
// (package textpages), and a layer task for as long as its data takes.
// The pages stay in the page cache, shared; what runs later faults its
// own back in (MADV_NOHUGEPAGE; but on Linux 6.18 a large folio of the
// page cache is mapped whole at a fault even so). Writable mappings are
// never touched: their changed pages would be lost.
func DropProgramPages() {
	for _, r := range programRanges() {
		unix.Syscall(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_NOHUGEPAGE)
		unix.Syscall(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_DONTNEED)
	}
}

// programRanges are those mappings, read from /proc/self/smaps once: a
// program's mappings never move, and an init drops them again once its
// execs have stopped for a while. Only the program's own file, and only mappings none of
// whose pages is a private copy: in a PIE or cgo build the dynamic linker
// has written some read-only pages (relocations) before main, and
// dropping those would put the file's bytes back under running code. In
// a static pure Go program (the init blob) none is.
var programRanges = sync.OnceValue(func() [][2]uintptr {
	var exe unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &exe); err != nil {
		return nil
	}
	// Read as a stream: a resident init calls this once it has detached,
	// and what it allocates then stays for the container's life (smaps is
	// tens of KiB, most of it lines that do not matter here).
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out [][2]uintptr
	var cur [2]uintptr
	ours := false
	anon := []byte("Anonymous:")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.HasPrefix(line, anon) {
			// Once per mapping: its private copies.
			if ours && bytes.Equal(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(line[len(anon):]), []byte("kB"))), []byte("0")) {
				out = append(out, cur)
			}
			ours = false
			continue
		}
		if len(line) == 0 || bytes.IndexByte(line, ':') < bytes.IndexByte(line, ' ') || bytes.IndexByte(line, '-') < 0 {
			continue // another field of a mapping
		}
		start, end, perms, mine := programMapping(line, &exe)
		ours = mine && (perms == "r-xp" || perms == "r--p")
		cur = [2]uintptr{start, end}
	}
	return out
})

// innerPages is the range of the pages that lie wholly inside b (empty:
// hi <= lo): no page that b shares with anything else.
func innerPages(b []byte) (lo, hi uintptr) {
	page := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return (start + page - 1) &^ (page - 1), (start + uintptr(len(b))) &^ (page - 1)
}

// inProgramFile says whether [lo, hi) lies in one private mapping of this
// program's file (/proc/self/maps).
func inProgramFile(lo, hi uintptr) bool {
	var exe unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &exe); err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return false
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		start, end, perms, ok := programMapping(line, &exe)
		if ok && strings.HasSuffix(perms, "p") && start <= lo && hi <= end {
			return true
		}
	}
	return false
}

// programMapping parses a mapping's line of /proc/self/maps or smaps
// (address perms offset dev inode path) and says whether it maps this
// program's file, whose stat exe is.
func programMapping(line []byte, exe *unix.Stat_t) (start, end uintptr, perms string, ok bool) {
	fs := bytes.Fields(line)
	if len(fs) < 6 {
		return 0, 0, "", false
	}
	// The inode alone: on an overlay, the maps name the file's device
	// below it, and its stat the overlay's.
	if ino, err := strconv.ParseUint(string(fs[4]), 10, 64); err != nil || ino == 0 || ino != exe.Ino {
		return 0, 0, "", false
	}
	a, z, found := bytes.Cut(fs[0], []byte("-"))
	lo, err1 := strconv.ParseUint(string(a), 16, 64)
	hi, err2 := strconv.ParseUint(string(z), 16, 64)
	if !found || err1 != nil || err2 != nil || hi <= lo {
		return 0, 0, "", false
	}
	return uintptr(lo), uintptr(hi), string(fs[1]), true
}

// ProgramBytesReader reads b, bytes of this program's own file that
// nothing writes (a carried program, an embedded blob, read once to
// install it), letting go of its pages as it goes, a MiB at a time.
// Read, they would count in this process's resident size from then on
// (the init program: 4.3 MiB, which a pull that installed it peaked
// with); let go, they fault back in unchanged from the file if read
// again. b's pages are let go only if they are in a private mapping of
// this program's file: never the heap.
func ProgramBytesReader(b []byte) io.Reader {
	r := &programBytes{b: b}
	lo, hi := innerPages(b)
	r.ours = hi > lo && inProgramFile(lo, hi) // once: the mapping stays
	return r
}

type programBytes struct {
	b             []byte
	off, released int
	ours          bool // b's pages are the program file's (inProgramFile)
}

func (r *programBytes) Read(p []byte) (int, error) {
	if r.off == len(r.b) {
		r.release()
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	if r.off-r.released >= 1<<20 {
		r.release()
	}
	return n, nil
}

// WriteTo writes the rest of b a MiB at a time, with no copy.
func (r *programBytes) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for r.off < len(r.b) {
		n, err := w.Write(r.b[r.off:min(len(r.b), r.off+1<<20)])
		r.off += n
		total += int64(n)
		r.release()
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// release lets go of every page wholly read so far: again those already
// let go (a no-op), so that a page across the last boundary goes too.
func (r *programBytes) release() {
	if lo, hi := innerPages(r.b[:r.off]); r.ours && hi > lo {
		unix.Syscall(unix.SYS_MADVISE, lo, hi-lo, unix.MADV_DONTNEED)
	}
	r.released = r.off
}
