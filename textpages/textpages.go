package textpages

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Size is the size of a huge page, of the folios this package makes, and
// of the regions it makes them for.
const Size = 2 << 20

// ErrNoHugeFolios is Heal's answer where regions dropped whole from the
// cache came back in small folios all the same, pass after pass, and
// none ever came back whole: this kernel or filesystem makes no 2 MiB
// folios, and trying again would only empty and refill the cache.
var ErrNoHugeFolios = errors.New("the page cache makes no 2 MiB folios here (large folios need ext4 on Linux 6.16 or later, or xfs, and transparent huge pages not set to never)")

// ErrInMemory is Heal's answer for a program on a tmpfs or a ramfs,
// whose pages are the file itself: they cannot be dropped and read again,
// and such a filesystem makes 2 MiB folios only as it is written (tmpfs
// with huge=), not later.
var ErrInMemory = errors.New("the program is on a tmpfs or ramfs, whose pages are its only copy and cannot be read again as 2 MiB folios (a program installed on a disk filesystem can)")

// ErrNotProgram is Regions' answer for a file that is not a 64-bit
// little-endian ELF program.
var ErrNotProgram = errors.New("not a 64-bit little-endian ELF program")

// ELF's names, from its specification. The header is read by hand rather
// than with debug/elf, which would bring DWARF, zlib and zstd into the
// init program for sixty bytes.
const (
	elfHeaderSize = 64
	phdrSize      = 56
	ptLoad        = 1
	pfWrite       = 2
)

// Regions returns the file offsets of the 2 MiB regions of program f
// that a process executing it maps with one entry each: those wholly
// inside a read-only loadable segment whose address and offset agree
// modulo 2 MiB. The writable segment is left out: it is mapped private
// and its pages are soon the process's own copies.
func Regions(f *os.File) ([]int64, error) {
	var h [elfHeaderSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return nil, ErrNotProgram
	}
	le := binary.LittleEndian
	if string(h[:4]) != "\x7fELF" || h[4] != 2 || h[5] != 1 {
		return nil, ErrNotProgram
	}
	phoff := int64(le.Uint64(h[0x20:]))
	entSize, num := int(le.Uint16(h[0x36:])), int(le.Uint16(h[0x38:]))
	if entSize < phdrSize || num > 256 {
		return nil, ErrNotProgram
	}
	ph := make([]byte, entSize*num)
	if _, err := f.ReadAt(ph, phoff); err != nil {
		return nil, ErrNotProgram
	}
	var out []int64
	for i := 0; i < num; i++ {
		p := ph[i*entSize:]
		if le.Uint32(p) != ptLoad || le.Uint32(p[4:])&pfWrite != 0 {
			continue
		}
		off, vaddr, size := le.Uint64(p[8:]), le.Uint64(p[16:]), le.Uint64(p[32:])
		if (vaddr-off)%Size != 0 {
			continue
		}
		for r := (off + Size - 1) &^ (Size - 1); r+Size <= off+size; r += Size {
			out = append(out, int64(r))
		}
	}
	return out, nil
}

// Heal makes f's regions 2 MiB folios in the page cache, trying again
// for those some process holds (first after a quarter of a second, then
// less and less often, up to every 30 s) until all are or until is past.
// It returns how many are. f is open for reading; nothing in its content
// changes. A program on a tmpfs or ramfs is only counted (ErrInMemory
// when some region is small).
func Heal(f *os.File, regions []int64, until time.Time) (int, error) {
	fd := int(f.Fd())
	// Dropping such a program's pages would fail at every try until
	// until: say so at once.
	var fs unix.Statfs_t
	if unix.Fstatfs(fd, &fs) == nil && (fs.Type == unix.TMPFS_MAGIC || fs.Type == unix.RAMFS_MAGIC) {
		n, err := Huge(f, regions)
		if err == nil && n < len(regions) {
			err = ErrInMemory
		}
		return n, err
	}
	// A program written moments ago still has dirty pages, which cannot
	// be dropped until they are written back.
	unix.Fdatasync(fd)
	huge := make([]bool, len(regions))
	wait := 250 * time.Millisecond
	strikes := 0
	for {
		n, small, err := pass(fd, regions, huge, true)
		if err != nil || n == len(regions) {
			return n, err
		}
		// A region that left the cache whole, that nothing faulted back
		// in before our read (pass looks), and that came back small all
		// the same says the filesystem makes no large folios. Or that a
		// process executing the program faulted it in between pass's
		// look and its read, or that no free 2 MiB of memory was there:
		// one region made whole proves those; otherwise a few passes in
		// a row say it.
		if small && n == 0 {
			strikes++
			if strikes == noHugeStrikes {
				return n, ErrNoHugeFolios
			}
		} else {
			strikes = 0
		}
		if time.Now().Add(wait).After(until) {
			return n, nil
		}
		time.Sleep(wait)
		wait = min(2*wait, 30*time.Second)
	}
}

// noHugeStrikes is how many passes in a row must see dropped regions
// come back small before Heal says the page cache makes no 2 MiB folios.
const noHugeStrikes = 3

// afterDrop, when set (by a test), runs between a region's drop from the
// cache and Heal's read of it: where a process executing the program
// faults it in.
var afterDrop func(off int64)

// mappedWhole is pmdMapped; a test makes it find no region whole, as on
// a filesystem without large folios.
var mappedWhole = pmdMapped

// Huge returns how many of f's regions the page cache holds as 2 MiB
// folios: each is mapped (without any advice, as an execve maps it) and
// touched, and the kernel's count of its PMD-mapped bytes read.
func Huge(f *os.File, regions []int64) (int, error) {
	n, _, err := pass(int(f.Fd()), regions, make([]bool, len(regions)), false)
	return n, err
}

// sink keeps the compiler from dropping the reads that fault a region in.
var sink byte

// pass maps each region not yet huge at a 2 MiB-aligned address, touches
// it and marks those the kernel mapped whole. With heal, each region's
// small folios are dropped first and the mapping is advised
// MADV_HUGEPAGE, so that the read that follows fills a 2 MiB folio; it
// also reports whether a region that left the cache whole came back in
// small folios all the same.
func pass(fd int, regions []int64, huge []bool, heal bool) (n int, small bool, err error) {
	var todo []int
	for i := range regions {
		if !huge[i] {
			todo = append(todo, i)
		}
	}
	if len(todo) > 0 {
		// One reservation, with a region's room between two regions
		// (mappings of a file's adjacent ranges side by side would merge
		// into one, which smaps then counts as one) and one more to be
		// aligned inside.
		span := uintptr(2*len(todo)+1) * Size
		res, err := unix.MmapPtr(-1, 0, nil, span, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err != nil {
			return 0, false, err
		}
		defer unix.MunmapPtr(res, span)
		skip := (Size - uintptr(res)%Size) % Size
		addrs := make([]unsafe.Pointer, len(todo))
		dropped, raced := make([]bool, len(todo)), make([]bool, len(todo))
		slots := map[uintptr]int{}
		vec := make([]byte, Size/4096)
		for k, i := range todo {
			addr := unsafe.Add(res, skip+uintptr(2*k)*Size)
			if _, err := unix.MmapPtr(fd, regions[i], addr, Size, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_FIXED); err != nil {
				return 0, false, err
			}
			if heal {
				unix.Fadvise(fd, regions[i], Size, unix.FADV_DONTNEED)
				// Did the whole region leave the cache?
				seen, some := resident(addr, vec)
				dropped[k] = seen && !some
				unix.Syscall(unix.SYS_MADVISE, uintptr(addr), Size, unix.MADV_HUGEPAGE)
				if afterDrop != nil {
					afterDrop(regions[i])
				}
				// Back in the cache already: a process executing the
				// program faulted it in meanwhile, small. Not the
				// filesystem's doing.
				if dropped[k] {
					seen, some := resident(addr, vec)
					raced[k] = seen && some
				}
			}
			sink += *(*byte)(addr)
			addrs[k] = addr
			slots[uintptr(addr)] = i
		}
		mapped, err := mappedWhole(slots)
		if err != nil {
			return 0, false, err
		}
		for _, i := range mapped {
			huge[i] = true
		}
		for k, i := range todo {
			if heal && !huge[i] && dropped[k] && !raced[k] {
				small = true
			}
			if heal && !huge[i] {
				// Some process holds a page of this region, so it could
				// not become one folio, and the drop took its other pages
				// from the cache: read them back, or the next start of the
				// program would wait on the disk for them.
				for off := uintptr(0); off < Size; off += 4096 {
					sink += *(*byte)(unsafe.Add(addrs[k], off))
				}
			}
		}
	}
	return count(huge), small, nil
}

// resident reports whether mincore could look at the region mapped at
// addr (seen), and whether any of its pages is in the page cache. mincore
// looks; it faults nothing in. vec has a byte per page.
func resident(addr unsafe.Pointer, vec []byte) (seen, some bool) {
	_, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(addr), Size, uintptr(unsafe.Pointer(&vec[0])))
	return e == 0, e == 0 && bytes.IndexByte(vec, 1) >= 0 // bit 0: resident, the only one Linux sets
}

func count(huge []bool) int {
	n := 0
	for _, h := range huge {
		if h {
			n++
		}
	}
	return n
}

// pmdMapped returns the regions (slots' values) whose mapping at the
// slot's address /proc/self/smaps shows mapped whole.
func pmdMapped(slots map[uintptr]int) ([]int, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []int
	cur, ours := 0, false
	key := []byte("FilePmdMapped:")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if dash := bytes.IndexByte(line, '-'); dash > 0 && !bytes.ContainsRune(line[:dash], ':') {
			// A mapping's first line: "start-end perms ...".
			a, err := strconv.ParseUint(string(line[:dash]), 16, 64)
			i, ok := slots[uintptr(a)]
			cur, ours = i, err == nil && ok
			continue
		}
		if ours && bytes.HasPrefix(line, key) {
			kb, _ := strconv.Atoi(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(line[len(key):]), []byte("kB")))))
			if kb*1024 >= Size {
				out = append(out, cur)
			}
			ours = false
		}
	}
	return out, sc.Err()
}

// Recheck is how long a mark stands before a command checks again that
// the program's regions are still 2 MiB folios. The kernel may take a
// program's pages from the cache when it goes unused (the test machine's
// runs DAMON, which reclaims what stays cold: a binary healed and then
// left alone was back in small folios within twenty minutes), and
// executing it then reads them back in small ones.
const Recheck = 5 * time.Minute

// Claim reports whether the caller should start Heal for the program
// this process runs: the first command of each boot to ask, for each
// build of the program, and later one command every Recheck at most if
// the regions an earlier Heal made whole have gone back to small folios.
// It marks that in dir (a directory only the user can enter), with a file
// named after the program's device, inode and modification time, and
// returns that file open for writing (Heal's starter writes the outcome
// there), or nil. A mark older than the boot is stale (dir need not be
// cleared at boot: /tmp is not always).
func Claim(dir string) *os.File { return claim(dir, "/proc/self/exe") }

func claim(dir, exe string) *os.File {
	var st unix.Stat_t
	if unix.Stat(exe, &st) != nil {
		return nil
	}
	path := MarkPath(dir, &st)
	var m unix.Stat_t
	existed := unix.Lstat(path, &m) == nil
	if existed && !beforeBoot(time.Unix(m.Mtim.Unix())) && time.Since(time.Unix(m.Mtim.Unix())) < Recheck {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		// dir does not exist yet (the next command, once a start made
		// it, claims it then).
		return nil
	}
	// One claimer at a time, and none while a stage works: the stage
	// holds this lock (it shares this open file) until it exits.
	var now unix.Stat_t
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil || unix.Fstat(int(f.Fd()), &now) != nil ||
		(existed && (now.Ino != m.Ino || now.Mtim != m.Mtim)) || (!existed && now.Size != 0) {
		// Another command dealt with it between our look and our lock.
		f.Close()
		return nil
	}
	if existed && !beforeBoot(time.Unix(m.Mtim.Unix())) && !lost(f, exe) {
		f.Close()
		return nil
	}
	if f.Truncate(0) != nil {
		f.Close()
		return nil
	}
	t := time.Now()
	os.Chtimes(path, t, t)
	return f
}

// lost reports whether fewer of program exe's regions are 2 MiB folios
// now than the Heal its mark (f) tells of made so (by count: a region
// some process held as it worked may be small still, and is no reason
// to start a stage again every Recheck). The
// check is the mark's new time, so that commands after this one wait
// Recheck again. A mark where Heal made no region whole (a filesystem
// without large folios, or every region held for as long as it tried) or
// has not said yet (a stage that ended before it could) is never lost:
// the next boot tries again.
func lost(f *os.File, exe string) bool {
	now := time.Now()
	if os.Chtimes(f.Name(), now, now) != nil {
		return false
	}
	said := make([]byte, 32)
	k, _ := f.ReadAt(said, 0)
	var made int
	if _, err := fmt.Sscanf(string(said[:k]), outcomeMade, &made); err != nil || made == 0 {
		return false
	}
	n, _, err := count2M(exe)
	return err == nil && n < made
}

// Outcome is what a stage writes in its mark once Heal has made made of
// total regions whole, in took: lost reads the count back (outcomeMade).
func Outcome(made, total int, took time.Duration) string {
	return fmt.Sprintf("%d of %d regions in 2 MiB folios after %v", made, total, took)
}

// outcomeMade is Outcome's start, as fmt.Sscanf reads it.
const outcomeMade = "%d of"

// count2M returns how many of program exe's regions are 2 MiB folios
// now, and how many it has.
func count2M(exe string) (int, int, error) {
	f, err := os.Open(exe)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	regions, err := Regions(f)
	if err != nil {
		return 0, 0, err
	}
	n, err := Huge(f, regions)
	return n, len(regions), err
}

// Status is how the program this process runs is mapped, for `sandbox
// info`: how many of its regions are 2 MiB folios now, what Heal's
// starter wrote in this boot's mark in dir ("" when none), and whether a
// stage holds the mark (it works, or waits for its command to exit).
type Status struct {
	Regions, Huge int
	Said          string
	Working       bool
}

// SelfStatus reads Status for the program this process runs.
func SelfStatus(dir string) (Status, error) {
	var st Status
	var err error
	if st.Huge, st.Regions, err = count2M("/proc/self/exe"); err != nil {
		return st, err
	}
	var fst, mst unix.Stat_t
	if unix.Stat("/proc/self/exe", &fst) == nil {
		path := MarkPath(dir, &fst)
		if unix.Lstat(path, &mst) == nil && !beforeBoot(time.Unix(mst.Mtim.Unix())) {
			b, _ := os.ReadFile(path)
			st.Said = string(bytes.TrimSpace(b))
			st.Working = flocked(&mst)
		}
	}
	return st, nil
}

// flocked reports whether some process holds a flock on the file whose
// status st is, as /proc/locks lists it. Taking the lock to see would
// make a Claim at that moment fail to take it. /proc/locks names the
// superblock's device, which st's is not on a btrfs subvolume: there a
// stage at work reads as not, which only `sandbox info` shows.
func flocked(st *unix.Stat_t) bool {
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		return false
	}
	// "1: FLOCK  ADVISORY  WRITE 1234 fe:00:802844 0 EOF"
	id := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[1] == "FLOCK" && f[5] == id {
			return true
		}
	}
	return false
}

// MarkPath is the mark in dir of the program whose status st is: Heal's
// starter writes the outcome there.
func MarkPath(dir string, st *unix.Stat_t) string {
	return filepath.Join(dir, "text-"+strconv.FormatUint(st.Dev, 16)+"-"+strconv.FormatUint(st.Ino, 16)+"-"+strconv.FormatInt(st.Mtim.Nano(), 16))
}

// beforeBoot reports whether t is before this boot, with a minute to
// spare for the clock's steps.
func beforeBoot(t time.Time) bool {
	up, err := uptime()
	if err != nil {
		return false
	}
	return t.Before(time.Now().Add(-up - time.Minute))
}

// uptime is how long this boot has lasted. A variable so that a test on a
// machine booted minutes ago (CI's) can still place a mark after the boot
// and older than Recheck.
var uptime = func() (time.Duration, error) {
	var up unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &up); err != nil {
		return 0, err
	}
	return time.Duration(up.Nano()), nil
}
