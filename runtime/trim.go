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

// programRanges are those mappings, read from /proc/self/maps once: a
// static program's mappings never move, and trimMemory drops its pages
// after every exec.
var programRanges = sync.OnceValue(func() [][2]uintptr {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil
	}
	var out [][2]uintptr
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// address perms offset dev inode path
		f := bytes.Fields(sc.Bytes())
		if len(f) < 6 || f[5][0] != '/' || (string(f[1]) != "r-xp" && string(f[1]) != "r--p") {
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
		out = append(out, [2]uintptr{uintptr(start), uintptr(end)})
	}
	return out
})
