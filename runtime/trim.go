package runtime

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// dropProgramPages unmaps from this process the pages of its own program
// file (code and read-only data) that it has touched so far. A resident
// init has run its whole start-up (spec decoding, mounts, seccomp) by the
// time it settles, and the kernel maps the program 64 KiB around every
// fault: 2.7 MiB of its 3 MiB stay mapped, although the rest of its life
// runs a few loops. The pages stay in the page cache, shared; what runs
// later faults its own back in. Writable mappings are never touched: their
// changed pages would be lost.
func dropProgramPages() {
	for _, r := range programRanges() {
		unix.Syscall(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_DONTNEED)
	}
}

// programRanges are those mappings, read from /proc/self/smaps once: a
// program's mappings never move, and trimMemory drops their pages after
// every exec. Only the program's own file, and only mappings none of
// whose pages is a private copy: in a PIE or cgo build the dynamic linker
// has written some read-only pages (relocations) before main, and
// dropping those would put the file's bytes back under running code. In
// a static pure Go program (the init blob) none is.
var programRanges = sync.OnceValue(func() [][2]uintptr {
	var exe unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &exe); err != nil {
		return nil
	}
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return nil
	}
	var out [][2]uintptr
	var cur [2]uintptr
	ours := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 0 {
			continue
		}
		if !bytes.HasSuffix(f[0], []byte(":")) {
			// A mapping: address perms offset dev inode path.
			ours = false
			if len(f) < 6 || (string(f[1]) != "r-xp" && string(f[1]) != "r--p") {
				continue
			}
			if ino, err := strconv.ParseUint(string(f[4]), 10, 64); err != nil || ino != exe.Ino {
				continue
			}
			lo, hi, ok := bytes.Cut(f[0], []byte("-"))
			if !ok {
				continue
			}
			start, err1 := strconv.ParseUint(string(lo), 16, 64)
			end, err2 := strconv.ParseUint(string(hi), 16, 64)
			if err1 != nil || err2 != nil || end <= start {
				continue
			}
			cur, ours = [2]uintptr{uintptr(start), uintptr(end)}, true
			continue
		}
		// Anonymous comes once per mapping: its private copies.
		if ours && string(f[0]) == "Anonymous:" {
			if len(f) >= 2 && string(f[1]) == "0" {
				out = append(out, cur)
			}
			ours = false
		}
	}
	return out
})
