package runtime

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// DropProgramPages unmaps from this process the pages of its own program
// file (code and read-only data) that it has touched so far. A resident
// init has run its whole start-up (spec decoding, mounts, seccomp) by the
// time it settles, and the kernel maps the program 64 KiB around every
// fault: 2.7 MiB of its 3 MiB stay mapped, although the rest of its life
// runs a few loops. A command that moves or builds images, and a layer
// task, run for seconds after a start that mapped the CLI's code in 2 MiB
// regions (package textpages). The pages stay in the page cache, shared;
// what runs later faults its own back in, 4 KiB at a time
// (MADV_NOHUGEPAGE: not whole regions again). Writable mappings are never
// touched: their changed pages would be lost.
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
		// A mapping: address perms offset dev inode path.
		ours = false
		fs := bytes.Fields(line)
		if len(fs) < 6 || (string(fs[1]) != "r-xp" && string(fs[1]) != "r--p") {
			continue
		}
		if ino, err := strconv.ParseUint(string(fs[4]), 10, 64); err != nil || ino != exe.Ino {
			continue
		}
		lo, hi, ok := bytes.Cut(fs[0], []byte("-"))
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		cur, ours = [2]uintptr{uintptr(start), uintptr(end)}, true
	}
	return out
})
